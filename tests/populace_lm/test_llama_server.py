"""Through a real OpenAI-compatible server: llama-cpp-python's, on loopback, with the embedded SmolLM2 GGUF.

The server runs the same file as the in-process backend (``LocalLlama(compute_type="native")``), so the two can be
compared on the same items: every distribution through the server sums to 1 and is labelled honestly (``exact``
only when the top-k log-probabilities cover the answers, else ``sampled``), and the manifest record says how the
answer stem was sent. llama-cpp-python's server does not continue an assistant message: by default the stem is
folded into the instruction (SmolLM2-135M then rarely starts with the number, so its answers are sampled); with
the model's chat template (``--chat-template``) the stem is continued through ``/completions`` and the valid mass
matches the in-process backend's.
"""

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from populace_lm.types import DistributionRequest, IntegerAnswers, Message

pytestmark = pytest.mark.model

SYSTEM = "You are a 35-year-old primary-school teacher from Leeds."
LIKERT_ITEMS = ("I am the life of the party.", "I get stressed out easily.", "I have a vivid imagination.")
DICTATOR = (
    "You are paired with another participant. You have $100 to split between the two of you, and the other "
    "participant has no say: they receive whatever you decide. How many dollars, from 0 to 100, do you give to the "
    "other participant? Answer with a whole number."
)


def likert(text: str) -> DistributionRequest:
    prompt = (
        "Rate how accurately a statement describes you, on a scale from 1 to 5 (1 = disagree, 3 = neutral, "
        f'5 = agree). Reply with the number only.\nStatement: "{text}"'
    )
    return DistributionRequest(
        messages=(Message(role="system", content=SYSTEM), Message(role="user", content=prompt)),
        answers=IntegerAnswers(low=1, high=5),
        answer_prefix="Rating: ",
        n_samples=6,
    )


def dictator() -> DistributionRequest:
    return DistributionRequest(
        messages=(Message(role="system", content=SYSTEM), Message(role="user", content=DICTATOR)),
        answers=IntegerAnswers(low=0, high=100),
        answer_prefix="I give the other participant $",
        n_samples=6,
    )


@pytest.fixture(scope="module")
def gguf():
    pytest.importorskip("fastapi", reason="llama-cpp-python's [server] extra is not installed")
    from populace_lm.errors import ModelNotFoundError
    from populace_lm.local import default_model_path

    try:
        return default_model_path()
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def llama_server(gguf):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
    args += ["--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--verbose", "False"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}")
            try:
                urllib.request.urlopen(f"{base_url}/models", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("llama_cpp.server did not start within 60 s")
                time.sleep(0.2)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def through_server(llama_server, gguf):
    """Probe-like requests through the server, stems continued with the chat template (``--chat-template``)."""
    from populace_lm.budget import find_layer
    from populace_lm.config import LLMConfig, build_model, close_model
    from populace_lm.openai_compat import OpenAICompatible

    config = LLMConfig(
        backend="openai",
        model="smollm2",
        base_url=llama_server,
        api_key_env="LLAMA_SERVER_KEY",
        cache_mode="off",
        timeout=120,
        max_retries=2,
        chat_template=str(gguf),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLAMA_SERVER_KEY", "none")
        model = build_model(config)
    requests = [likert(t) for t in LIKERT_ITEMS] + [dictator()]
    results = [model.answer_distribution(r) for r in requests]
    yield find_layer(model, OpenAICompatible), requests, results
    close_model(model)


@pytest.fixture(scope="module")
def in_process(gguf):
    from populace_lm.local import LocalLlama

    local = LocalLlama(gguf, compute_type="native", n_threads=1)
    return [local.answer_distribution(r) for r in [likert(t) for t in LIKERT_ITEMS] + [dictator()]]


def check_labels(requests, results):
    for request, d in zip(requests, results, strict=True):
        assert d.values == request.answers.values
        assert sum(d.probs) == pytest.approx(1.0, abs=1e-9), d
        assert 0 < d.valid_mass <= 1
        if d.method == "exact":
            assert request.answers.single_digit
        else:
            assert d.n_samples == request.n_samples
            assert d.valid_mass == pytest.approx(1 - d.n_unparsed / request.n_samples)


def test_stems_continued_with_the_chat_template_match_the_in_process_backend(through_server, in_process):
    model, requests, results = through_server
    check_labels(requests, results)
    info = model.describe()
    assert info["server_kind"] == "llamacpp" and info["answer_stem"] == "continued"
    assert info["stem_via"] == "raw completion with the chat template" and info["logprobs_supported"] is True
    assert [d.method for d in results] == ["exact"] * len(LIKERT_ITEMS) + ["sampled"]
    snap = model.meter.snapshot()
    assert snap["requests_sent"] == snap["successes"] and snap["failures_total"] == 0
    for served, local in zip(results, in_process, strict=True):
        assert served.valid_mass >= 0.9 * local.valid_mass
    for served, local in zip(results[:-1], in_process[:-1], strict=True):  # same model, same prompt: same answers
        assert served.probs == pytest.approx(local.probs, abs=0.02)


def test_folded_stems_are_labelled_honestly(llama_server):
    from populace_lm.openai_compat import OpenAICompatible

    model = OpenAICompatible(model="smollm2", base_url=llama_server, api_key="none", max_retries=2, timeout=120)
    request = likert(LIKERT_ITEMS[0])
    request = DistributionRequest(**{**request.__dict__, "n_samples": 4})
    d = model.answer_distribution(request)
    check_labels([request], [d])
    info = model.describe()
    assert info["answer_stem"] == "folded" and info["stem_via"] == "instruction"
    assert info["stem_uses"]["folded"] >= 1
    model.close()
