"""The OpenAI-compatible adapter against a loopback HTTP server started by the test (127.0.0.1 only)."""

import math
import random
import socket
import threading
import time

import pytest

from populace_lm.base import LanguageModel
from populace_lm.budget import BudgetedModel, map_concurrent
from populace_lm.cache import CachedModel
from populace_lm.errors import (
    AuthenticationError,
    BackendUnavailableError,
    BadResponseError,
    BudgetExceededError,
    CoverageError,
    RequestRejectedError,
)
from populace_lm.openai_compat import OpenAICompatible, exact_from_top_logprobs
from populace_lm.parsing import distribution_from_replies, parse_integer_reply
from populace_lm.retry import RetryPolicy, retry_after_seconds
from populace_lm.servers import FOLD_TEMPLATE
from populace_lm.types import DistributionRequest, GenerationRequest, IntegerAnswers, Message, stable_seed
from tests.populace_lm.loopback_server import (
    LoopbackServer,
    Reply,
    chat_completion,
    text_completion,
    top_logprobs_content,
)

USER = (
    Message(role="system", content="You are Ann."),
    Message(role="user", content="I am the life of the party."),
)
LIKERT5 = IntegerAnswers(low=1, high=5)
SERVED = {"4": 0.5, "3": 0.2, " 5": 0.1, "2": 0.05, "1": 0.05, "Sure": 0.1}  # valid mass 0.9
FAST = {"initial_backoff": 0.001, "max_backoff": 0.005}


def client(server, **kw):
    kw = {"max_retries": 0, "timeout": 5.0, "server_kind": "openai", **FAST, **kw}
    return OpenAICompatible(model="loopback-model", base_url=server.base_url, api_key="none", **kw)


@pytest.fixture
def serve():
    servers = []

    def start(handler, **kw):
        server = LoopbackServer(handler, **kw).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def logprob_handler(body, n):
    if body.get("logprobs"):
        return Reply(200, chat_completion("4", logprobs=top_logprobs_content(SERVED)))
    return Reply(200, chat_completion(str(1 + body["seed"] % 5)))


# -- exact distributions -------------------------------------------------------------------------------


def test_likert_from_top_logprobs(serve):
    server = serve(logprob_handler)
    model = client(server)
    assert isinstance(model, LanguageModel)
    d = model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, seed=7))
    assert d.method == "exact" and d.n_samples == 0 and d.missing_mass_bound == 0.0
    assert sum(d.probs) == pytest.approx(1.0, abs=1e-12)
    assert d.valid_mass == pytest.approx(0.9, abs=1e-12)
    expected = [SERVED[k] / 0.9 for k in ("1", "2", "3", "4", " 5")]
    assert d.probs == pytest.approx(expected, abs=1e-12)
    assert d.usage.backend_calls == 1 and d.usage.prompt_tokens == 10
    (sent,) = server.requests
    assert sent["max_tokens"] == 1 and sent["logprobs"] is True and sent["top_logprobs"] == 20
    assert sent["model"] == "loopback-model" and sent["seed"] == 7
    assert sent["messages"] == [{"role": m.role, "content": m.content} for m in USER]


def test_stem_is_folded_for_openai_and_continued_for_vllm(serve):
    server = serve(logprob_handler)
    request = DistributionRequest(messages=USER, answers=LIKERT5, answer_prefix="Rating: ")
    folded = client(server, server_kind="openai")
    folded.answer_distribution(request)
    sent = server.requests[-1]
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][-1]["content"] == USER[-1].content + FOLD_TEMPLATE.format(stem="Rating:")
    assert "continue_final_message" not in sent
    assert folded.describe()["answer_stem"] == "folded" and folded.describe()["stem_uses"]["folded"] == 1

    continued = client(server, server_kind="vllm")
    continued.answer_distribution(request)
    sent = server.requests[-1]
    assert sent["messages"][-1] == {"role": "assistant", "content": "Rating: "}
    assert sent["continue_final_message"] is True and sent["add_generation_prompt"] is False
    assert continued.describe()["answer_stem"] == "continued"


@pytest.mark.parametrize(
    ("models", "headers", "kind"),
    [
        ({"object": "list", "data": [{"id": "m", "owned_by": "vllm", "max_model_len": 2048}]}, {}, "vllm"),
        ({"object": "list", "data": [{"id": "m", "owned_by": "me", "permissions": []}]}, {}, "llamacpp"),
        ({"object": "list", "data": [{"id": "m", "owned_by": "llamacpp"}]}, {"Server": "llama.cpp"}, "llamacpp"),
        ({"object": "list", "data": [{"id": "m", "owned_by": "library"}]}, {}, "ollama"),
        (None, {}, "openai"),  # GET /v1/models answers 404
    ],
)
def test_server_kind_auto_detection(serve, models, headers, kind):
    server = serve(logprob_handler, models=models, headers=headers)
    model = client(server, server_kind="auto")
    assert model.describe()["server_kind"].startswith("auto")
    model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, answer_prefix="Rating: "))
    assert model.kind == kind and model.describe()["server_kind"] == kind
    assert server.gets == ["/v1/models"]  # detected once
    model.generate(GenerationRequest(messages=USER))
    assert server.gets == ["/v1/models"]
    assert ("continue_final_message" in server.requests[0]) == (kind == "vllm")


def test_temperature_reshapes_exact(serve):
    server = serve(logprob_handler)
    d = client(server, top_logprobs=6).answer_distribution(
        DistributionRequest(messages=USER, answers=LIKERT5, temperature=0.5)
    )
    assert server.requests[0]["top_logprobs"] == 6 and server.requests[0]["temperature"] == 1.0
    squares = [SERVED[k] ** 2 for k in ("1", "2", "3", "4", " 5")]
    assert d.probs == pytest.approx([s / sum(squares) for s in squares], abs=1e-12)
    assert d.valid_mass == pytest.approx(0.9, abs=1e-12)


def test_exact_reads_answer_tokens_with_trailing_text():
    top = [("4.", math.log(0.6)), ("\n3", math.log(0.3)), ("45", math.log(0.05)), ("1", math.log(0.03))]
    top += [("2", math.log(0.01)), (" 5", math.log(0.01))]
    d, valid, bound = exact_from_top_logprobs(top, LIKERT5)
    assert valid == pytest.approx(0.95) and bound == 0.0
    assert d.probs == pytest.approx([0.03 / 0.95, 0.01 / 0.95, 0.3 / 0.95, 0.6 / 0.95, 0.01 / 0.95])


def test_absent_answer_with_a_small_bound_is_exact_and_reported(serve):
    served = {"4": 0.6, "3": 0.3, "2": 0.05, "1": 0.049, "Sure": 0.0005}  # 5 absent: each spelling < 0.0005
    server = serve(lambda b, n: Reply(200, chat_completion("4", logprobs=top_logprobs_content(served))))
    d = client(server).answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5))
    assert d.method == "exact" and d.probs[4] == 0.0
    assert d.missing_mass_bound == pytest.approx(0.0005, abs=1e-9)  # min(unseen 0.0005, 2 spellings x 0.0005)
    assert sum(d.probs) == pytest.approx(1.0, abs=1e-12)


def test_uncovered_answers_fall_back_to_seeded_samples(serve):
    served = {"I": 0.4, "The": 0.2, "4": 0.1, "3": 0.1}  # 1, 2 and 5 may hold the unseen 0.2
    replies = ["Rating: 4", "2", "I'd say 5.", "no idea"]

    def handler(body, n):
        if body.get("logprobs"):
            return Reply(200, chat_completion("I", logprobs=top_logprobs_content(served)))
        return Reply(200, chat_completion(replies[body["seed"] % 4]))

    server = serve(handler)
    model = client(server)
    request = DistributionRequest(messages=USER, answers=LIKERT5, seed=3, n_samples=8, answer_prefix="Rating: ")
    d = model.answer_distribution(request)
    samples = server.requests[1:]
    assert d.method == "sampled" and d.n_samples == 8 and len(samples) == 8
    assert [s["seed"] for s in samples] == [stable_seed(3, i) for i in range(8)]
    expected = distribution_from_replies(
        [replies[s % 4].removeprefix("Rating:") for s in map(stable_seed, [3] * 8, range(8))], LIKERT5
    )
    assert d.probs == expected.probs and d.valid_mass == expected.valid_mass
    assert sum(d.probs) == pytest.approx(1.0)
    assert model.describe()["distributions"]["sampled_after_topk"] == 1

    with pytest.raises(CoverageError, match=r"top-20.*raise --top-logprobs.*--samples N"):
        client(server, samples=0).answer_distribution(request)


def test_zero_valid_mass_is_never_returned_as_exact(serve):
    server = serve(
        lambda b, n: Reply(
            200,
            chat_completion("Sure", logprobs=top_logprobs_content({"Sure": 0.9, "OK": 0.1}))
            if b.get("logprobs")
            else chat_completion("4"),
        )
    )
    d = client(server).answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, n_samples=3))
    assert d.method == "sampled" and d.probs == (0.0, 0.0, 0.0, 1.0, 0.0)


def test_server_without_logprobs_is_sampled_per_request_as_a_counted_downgrade(serve, capsys):
    server = serve(lambda b, n: Reply(200, chat_completion(str(1 + b["seed"] % 5))))  # never sends logprobs
    model = client(server, max_retries=2)
    d = model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, seed=3, n_samples=5))
    # one request asking for logprobs, one confirming attempt, then five samples
    assert server.count == 7 and [bool(r.get("logprobs")) for r in server.requests[:3]] == [True, True, False]
    assert d.method == "sampled" and d.n_samples == 5 and d.degraded == "no_logprobs"
    assert d.probs == distribution_from_replies([str(1 + stable_seed(3, i) % 5) for i in range(5)], LIKERT5).probs
    # the next request asks for log-probabilities again: capability is decided per request, never for the run
    model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, seed=4, n_samples=5))
    assert server.count == 14 and [bool(r.get("logprobs")) for r in server.requests[7:10]] == [True, True, False]
    info = model.describe()
    assert info["logprobs_supported"] is None and info["downgrades"] == {"exact_to_sampled": 2}
    assert info["logprobs_missing_requests"] == 2
    err = capsys.readouterr().err
    assert err.count("exact -> sampled") == 1 and "--top-logprobs 0" in err  # loud, once


def test_multi_digit_answers_are_sampled_directly(serve):
    server = serve(lambda b, n: Reply(200, chat_completion(str(10 * n))))
    d = client(server, server_kind="vllm").answer_distribution(
        DistributionRequest(messages=USER, answers=IntegerAnswers(low=0, high=100), n_samples=4, answer_prefix="$")
    )
    assert server.count == 4 and d.method == "sampled"
    assert d.probs[10] == d.probs[20] == d.probs[30] == d.probs[40] == pytest.approx(0.25)
    assert all(r["messages"][-1] == {"role": "assistant", "content": "$"} for r in server.requests)
    assert all(r["continue_final_message"] is True for r in server.requests)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4", 4), (" 4.", 4), ("I choose 3 of 5", 3), ("Seven", None), ("-2", None), ("2.5", None), ("6", None)],
)
def test_parse_integer_answer(text, expected):
    assert parse_integer_reply(text, LIKERT5)[0] == expected


def test_distribution_from_replies_never_defaults():
    d = distribution_from_replies(["maybe", "dunno"], LIKERT5)
    assert d.valid_mass == 0.0 and d.n_unparsed == 2 and d.probs == (0.0,) * 5


# -- generation ----------------------------------------------------------------------------------------


def test_generate_sends_knobs_and_reads_usage(serve):
    server = serve(lambda b, n: Reply(200, chat_completion("Hello there", prompt_tokens=12, completion_tokens=2)))
    g = client(server).generate(GenerationRequest(messages=USER, temperature=0.3, max_tokens=9, seed=11, stop=("\n",)))
    assert g.text == "Hello there" and not g.cached
    assert (g.usage.prompt_tokens, g.usage.completion_tokens, g.usage.backend_calls) == (12, 2, 1)
    sent = server.requests[0]
    assert (sent["temperature"], sent["max_tokens"], sent["seed"], sent["stop"]) == (0.3, 9, 11, ["\n"])


def test_empty_stop_is_omitted_and_tiny_temperature_is_greedy(serve):
    server = serve(logprob_handler)
    model = client(server)
    model.generate(GenerationRequest(messages=USER))
    assert "stop" not in server.requests[0]
    d = model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, temperature=1e-4))
    assert d.probs == pytest.approx([0, 0, 0, 1, 0])


# -- retries: one loop, every transient fault ----------------------------------------------------------


def test_429_with_retry_after_is_retried_after_the_asked_wait(serve):
    def handler(body, n):
        if n == 1:
            return Reply(429, {"error": {"message": "slow down"}}, {"retry-after-ms": "300"})
        return logprob_handler(body, n)

    server = serve(handler)
    model = client(server, max_retries=2, initial_backoff=5.0)  # without Retry-After it would wait >= 2.5 s
    start = time.perf_counter()
    d = model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5))
    elapsed = time.perf_counter() - start
    assert server.count == 2 and d.method == "exact"
    assert 0.3 <= elapsed < 2.0
    snap = model.meter.snapshot()
    assert snap["requests_sent"] == 2 and snap["successes"] == 1 and snap["retries"]["429"] == 1
    assert snap["backoff_s"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    "body",
    [b"this is not json{", b"[1, 2]", {"id": "x", "object": "chat.completion"}, {"id": "x", "choices": []}],
    ids=["garbage", "list", "no-choices", "empty-choices"],
)
def test_bad_200_body_is_retried_then_succeeds(serve, body):
    server = serve(lambda b, n: Reply(200, body) if n <= 2 else Reply(200, chat_completion("ok")))
    model = client(server, max_retries=3)
    assert model.generate(GenerationRequest(messages=USER)).text == "ok"
    assert server.count == 3 and model.meter.snapshot()["retries"]["bad_body"] == 2


def test_bad_body_after_every_retry_names_the_flag(serve):
    server = serve(lambda b, n: Reply(200, b"<html>proxy error</html>"))
    with pytest.raises(BadResponseError, match=r"not JSON.*3 times.*--max-retries"):
        client(server, max_retries=2).generate(GenerationRequest(messages=USER))
    assert server.count == 3


def test_missing_logprobs_after_they_were_seen_is_a_bad_body(serve):
    def handler(body, n):
        if n == 2:
            return Reply(200, chat_completion("4"))  # logprobs asked for, not sent
        return logprob_handler(body, n)

    server = serve(handler)
    model = client(server, max_retries=2)
    model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, seed=1))
    d = model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, seed=2))
    assert d.method == "exact" and server.count == 3
    assert model.meter.snapshot()["retries"]["bad_body"] == 1


@pytest.mark.parametrize(("status", "cause"), [(500, "5xx"), (503, "5xx"), (408, "408_409"), (409, "408_409")])
def test_transient_statuses_are_retried(serve, status, cause):
    server = serve(lambda b, n: Reply(status, {"error": {"message": "busy"}}) if n == 1 else logprob_handler(b, n))
    model = client(server, max_retries=1)
    model.generate(GenerationRequest(messages=USER))
    assert server.count == 2 and model.meter.snapshot()["retries"][cause] == 1


def test_persistent_429_names_the_flags(serve):
    server = serve(lambda b, n: Reply(429, {"error": {"message": "slow down"}}, {"retry-after-ms": "1"}))
    model = client(server, max_retries=2)
    with pytest.raises(
        BackendUnavailableError, match=r"HTTP 429.*after 2 retries.*--concurrency.*--rpm.*--max-retries"
    ):
        model.generate(GenerationRequest(messages=USER))
    assert server.count == 3
    assert model.meter.snapshot()["failures"] == {"429": 1}


def test_401_fails_fast_naming_the_key_flag(serve):
    server = serve(lambda b, n: Reply(401, {"error": {"message": "invalid key"}}))
    model = client(server, max_retries=3)
    with pytest.raises(AuthenticationError, match=r"rejected the API key \(HTTP 401\).*OPENAI_API_KEY.*--api-key-env"):
        model.generate(GenerationRequest(messages=USER))
    assert server.count == 1 and model.meter.snapshot()["failures"] == {"rejected": 1}


def test_404_fails_fast_naming_base_url_and_model(serve):
    server = serve(lambda b, n: Reply(404, {"error": {"message": "model not found"}}))
    with pytest.raises(RequestRejectedError, match=r"HTTP 404.*model not found.*--base-url.*--model"):
        client(server, max_retries=3).generate(GenerationRequest(messages=USER))
    assert server.count == 1


def test_400_on_logprobs_names_top_logprobs(serve):
    server = serve(lambda b, n: Reply(400, {"error": {"message": "top_logprobs must be <= 20"}}))
    with pytest.raises(RequestRejectedError, match=r"HTTP 400.*must be <= 20.*--model.*--top-logprobs"):
        client(server, max_retries=3).answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5))
    assert server.count == 1


def test_unreachable_port_is_retried_then_names_base_url():
    with socket.socket() as s:  # find a free port, then close it so nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = OpenAICompatible(
        model="m", base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=2, timeout=1.0, **FAST
    )
    start = time.perf_counter()
    with pytest.raises(BackendUnavailableError, match=rf"127\.0\.0\.1:{port}.*unreachable.*3 times.*--base-url"):
        model.generate(GenerationRequest(messages=USER))
    assert time.perf_counter() - start < 3.0
    assert model.meter.snapshot()["retries"]["connection"] == 2


def test_timeout_is_retried_then_names_the_timeout_flag(serve):
    server = serve(
        lambda b, n: Reply(200, chat_completion("late"), delay=1.0) if n <= 2 else Reply(200, chat_completion("ok"))
    )
    model = client(server, timeout=0.3, max_retries=2)
    start = time.perf_counter()
    assert model.generate(GenerationRequest(messages=USER)).text == "ok"
    assert time.perf_counter() - start < 1.5
    assert model.meter.snapshot()["retries"]["timeout"] == 2
    with pytest.raises(BackendUnavailableError, match=r"within 0.3 s.*--timeout"):
        client(serve(lambda b, n: Reply(200, chat_completion("late"), delay=1.0)), timeout=0.3).generate(
            GenerationRequest(messages=USER)
        )


def test_missing_key_names_the_flag(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(AuthenticationError, match="set the environment variable NO_SUCH_KEY_VAR.*--api-key-env"):
        OpenAICompatible(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR")
    monkeypatch.setenv("NO_SUCH_KEY_VAR", "sk-secret-123")
    model = OpenAICompatible(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR")
    assert model.model_id == "openai-compatible/v2:http://127.0.0.1:9/v1:m"
    assert "sk-secret" not in str(model.describe())


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"top_logprobs": -1}, "--top-logprobs"),
        ({"samples": -2}, "--samples"),
        ({"timeout": 0}, "--timeout"),
        ({"concurrency": 0}, "--concurrency"),
        ({"server_kind": "tgi"}, "--server-kind"),
        ({"max_retries": -1}, "--max-retries"),
        ({"rpm": 0}, "--rpm"),
    ],
)
def test_bad_settings_name_their_flag(kw, match):
    with pytest.raises(ValueError, match=match):
        OpenAICompatible(model="m", base_url="http://127.0.0.1:9/v1", api_key="none", **kw)


def test_retry_policy_backoff_and_retry_after():
    policy = RetryPolicy(max_retries=5, initial_backoff=0.5, max_backoff=4.0)
    rng = random.Random(0)
    for retry, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        waits = [policy.delay(retry, None, rng) for _ in range(50)]
        assert cap / 2 <= min(waits) and max(waits) <= cap and max(waits) - min(waits) > 0  # jittered
    assert policy.delay(0, 7.0, rng) == 7.0 and policy.delay(0, 500.0, rng) == 120.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a past date
    assert retry_after_seconds({"retry-after": "soon"}) is None and retry_after_seconds({}) is None


# -- limits --------------------------------------------------------------------------------------------


def test_concurrency_bounds_requests_in_flight(serve):
    active, peak, lock = [0], [0], threading.Lock()

    def handler(body, n):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return Reply(200, chat_completion("x"))

    model = client(serve(handler), concurrency=3)
    map_concurrent(model, [GenerationRequest(messages=USER, seed=i) for i in range(24)], max_workers=8)
    assert peak[0] == 3


def test_rpm_paces_requests(serve):
    server = serve(lambda b, n: Reply(200, chat_completion("x")))
    model = client(server, rpm=1200)  # 20 per second, a burst of at most 20
    start = time.perf_counter()
    map_concurrent(model, [GenerationRequest(messages=USER, seed=i) for i in range(40)], max_workers=4)
    elapsed = time.perf_counter() - start
    assert 0.9 <= elapsed < 3.0
    assert model.meter.snapshot()["rate_wait_s"] > 0.5


def test_call_budget_counts_attempts_retries_included(serve):
    server = serve(lambda b, n: Reply(500, {"error": {"message": "x"}}) if n % 3 else Reply(200, chat_completion("ok")))
    budgeted = BudgetedModel(client(server, max_retries=5), max_calls=4)
    assert budgeted.generate(GenerationRequest(messages=USER)).text == "ok"  # attempts 1, 2 fail; 3 succeeds
    with pytest.raises(BudgetExceededError, match=r"call budget of 4 \(HTTP requests, retries included\).*--max-calls"):
        budgeted.generate(GenerationRequest(messages=USER, seed=1))
    assert server.count == 4


# -- partial work: each sample cached on its own -------------------------------------------------------


@pytest.mark.parametrize("concurrency", [None, 4], ids=["sequential", "parallel"])
def test_sampled_distribution_keeps_its_samples_across_a_failure(serve, tmp_path, concurrency):
    request = DistributionRequest(messages=USER, answers=IntegerAnswers(low=0, high=100), seed=9, n_samples=10)
    broken_seed = stable_seed(9, 6)
    healthy = [True]

    def handler(body, n):
        if body["seed"] == broken_seed and not healthy[0]:
            return Reply(503, {"error": {"message": "down"}})
        return Reply(200, chat_completion(str(body["seed"] % 101)))

    server = serve(handler)
    healthy[0] = False
    first = CachedModel(client(server, max_retries=1, concurrency=concurrency), tmp_path / "c.sqlite")
    with pytest.raises(BackendUnavailableError, match="HTTP 503"):
        first.answer_distribution(request)
    stored = 6 if concurrency is None else 9  # sequential stops at sample 6; parallel finishes the others
    assert server.count == stored + 2  # the stored samples, then sample 6 twice
    assert first.stats()["sample_stores"] == stored
    first.close()

    healthy[0] = True
    before = server.count
    second = CachedModel(client(server, concurrency=concurrency), tmp_path / "c.sqlite")
    d = second.answer_distribution(request)
    asked = sorted(r["seed"] for r in server.requests[before:])
    missing = range(6, 10) if concurrency is None else [6]
    assert asked == sorted(stable_seed(9, i) for i in missing)  # only the samples not stored
    assert second.stats()["sample_hits"] == stored
    replies = [str(stable_seed(9, i) % 101) for i in range(10)]
    assert d.probs == distribution_from_replies(replies, request.answers).probs
    assert second.answer_distribution(request).cached


# -- stems continued through /completions with the model's chat template ------------------------------


def test_chat_template_continues_the_stem_through_raw_completions(serve):
    from populace_lm.local import ChatTemplate

    template = ChatTemplate(
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>"
        "{% endif %}"
    )

    def handler(body, n):
        if "prompt" not in body:
            return Reply(200, chat_completion("a chat reply"))
        if body.get("logprobs"):
            return Reply(200, text_completion("4", top_logprobs={"4": 0.6, "3": 0.2, "1": 0.1, "2": 0.05, "5": 0.05}))
        return Reply(200, text_completion(str(body["seed"] % 101)))

    server = serve(handler)
    model = client(server, server_kind="openai", chat_template=template)
    assert model.model_id.endswith(":template-custom")
    d = model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, answer_prefix="Rating: "))
    assert server.paths == ["/v1/completions"]
    sent = server.requests[0]
    assert sent["prompt"] == "<system>You are Ann.\n<user>I am the life of the party.\n<assistant>Rating: "
    assert sent["logprobs"] == 20 and "top_logprobs" not in sent and sent["max_tokens"] == 1
    assert d.method == "exact" and d.valid_mass == pytest.approx(1.0)
    assert d.probs == pytest.approx([0.1, 0.05, 0.2, 0.6, 0.05])
    info = model.describe()
    assert info["answer_stem"] == "continued" and info["stem_via"] == "raw completion with the chat template"

    game = DistributionRequest(messages=USER, answers=IntegerAnswers(low=0, high=100), n_samples=3, answer_prefix="$")
    g = model.answer_distribution(game)
    assert g.method == "sampled" and g.valid_mass == 1.0
    assert all(r["prompt"].endswith("<assistant>$") for r in server.requests[1:])
    assert [r["seed"] for r in server.requests[1:]] == [stable_seed(0, i) for i in range(3)]
    assert model.generate(GenerationRequest(messages=USER)).text == "a chat reply"  # no stem: a plain chat
    assert server.paths[-1] == "/v1/chat/completions"
