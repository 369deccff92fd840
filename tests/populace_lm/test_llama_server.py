"""Through a real OpenAI-compatible server: llama-cpp-python's, on loopback, with the embedded SmolLM2 GGUF.

The server runs the same file as the in-process backend (``LocalLlama(compute_type="native")``), so the two can be
compared on the same items: every distribution through the server sums to 1 and is labelled honestly (``exact``
only when the top-k log-probabilities cover the answers, else ``sampled``), and the manifest record says how the
answer stem was sent (llama-cpp-python's server does not continue an assistant message, so the stem is folded).
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
def through_server(llama_server):
    from populace_lm.openai_compat import OpenAICompatible

    model = OpenAICompatible(model="smollm2", base_url=llama_server, api_key="none", max_retries=2, timeout=120)
    requests = [likert(t) for t in LIKERT_ITEMS] + [dictator()]
    results = [model.answer_distribution(r) for r in requests]
    yield model, requests, results
    model.close()


@pytest.fixture(scope="module")
def in_process(gguf):
    from populace_lm.local import LocalLlama

    local = LocalLlama(gguf, compute_type="native", n_threads=1)
    return [local.answer_distribution(r) for r in [likert(t) for t in LIKERT_ITEMS] + [dictator()]]


def test_distributions_through_the_server_sum_to_one_and_are_labelled(through_server):
    model, requests, results = through_server
    for request, d in zip(requests, results, strict=True):
        assert d.values == request.answers.values
        assert sum(d.probs) == pytest.approx(1.0, abs=1e-9), d
        assert 0 < d.valid_mass <= 1
        if d.method == "exact":
            assert request.answers.single_digit
        else:
            assert d.n_samples == 6 and d.valid_mass == pytest.approx(1 - d.n_unparsed / 6)
    info = model.describe()
    assert info["server_kind"] == "llamacpp" and info["answer_stem"] == "folded"
    assert info["stem_uses"]["folded"] >= len(requests) and info["logprobs_supported"] is True
    snap = model.meter.snapshot()
    assert snap["requests_sent"] == snap["successes"] and snap["failures_total"] == 0


@pytest.mark.xfail(
    strict=True,
    reason="llama-cpp-python's server cannot continue an assistant turn; with the stem folded into the instruction "
    "SmolLM2-135M rarely starts its reply with the number (valid mass about 0.6-0.75 against 0.98 in process). "
    "Closing the gap needs a raw-completion path with the model's chat template.",
)
def test_valid_mass_through_the_server_is_within_0_9_of_in_process(through_server, in_process):
    _, _, results = through_server
    for served, local in zip(results, in_process, strict=True):
        assert served.valid_mass >= 0.9 * local.valid_mass
