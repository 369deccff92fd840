"""The OpenAI-compatible adapter against a loopback HTTP server started by the test (127.0.0.1 only)."""

import socket
import time

import pytest

from populace_lm.base import LanguageModel
from populace_lm.errors import AuthenticationError, BackendUnavailableError, BadResponseError
from populace_lm.openai_compat import OpenAICompatible
from populace_lm.parsing import distribution_from_replies, parse_integer_reply
from populace_lm.types import DistributionRequest, GenerationRequest, IntegerAnswers, Message, stable_seed
from tests.populace_lm.loopback_server import LoopbackServer, Reply, chat_completion, top_logprobs_content

USER = (
    Message(role="system", content="You are Ann."),
    Message(role="user", content="I am the life of the party."),
)
LIKERT5 = IntegerAnswers(low=1, high=5)
SERVED = {"4": 0.5, "3": 0.2, " 5": 0.1, "2": 0.05, "1": 0.05, "Sure": 0.1}  # valid mass 0.9


def client(server, **kw):
    kw = {"max_retries": 0, "timeout": 5.0, **kw}
    return OpenAICompatible(model="loopback-model", base_url=server.base_url, api_key="none", **kw)


@pytest.fixture
def serve():
    servers = []

    def start(handler):
        server = LoopbackServer(handler).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def logprob_handler(body, n):
    return Reply(200, chat_completion("4", logprobs=top_logprobs_content(SERVED)))


# -- exact distributions -------------------------------------------------------------------------------


def test_likert_from_top_logprobs(serve):
    server = serve(logprob_handler)
    model = client(server)
    assert isinstance(model, LanguageModel)
    d = model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, seed=7))
    assert d.method == "exact" and d.n_samples == 0
    assert sum(d.probs) == pytest.approx(1.0, abs=1e-12)
    assert d.valid_mass == pytest.approx(0.9, abs=1e-12)
    expected = [SERVED[k] / 0.9 for k in ("1", "2", "3", "4", " 5")]
    assert d.probs == pytest.approx(expected, abs=1e-12)
    assert d.usage.backend_calls == 1 and d.usage.prompt_tokens == 10
    (sent,) = server.requests
    assert sent["max_tokens"] == 1 and sent["logprobs"] is True and sent["top_logprobs"] == 20
    assert sent["model"] == "loopback-model" and sent["seed"] == 7
    assert sent["messages"] == [{"role": m.role, "content": m.content} for m in USER]


def test_answer_prefix_is_prefilled_and_temperature_reshapes(serve):
    server = serve(logprob_handler)
    d = client(server, top_logprobs=5).answer_distribution(
        DistributionRequest(messages=USER, answers=LIKERT5, answer_prefix="My answer: ", temperature=0.5)
    )
    assert server.requests[0]["messages"][-1] == {"role": "assistant", "content": "My answer: "}
    assert server.requests[0]["top_logprobs"] == 5
    assert server.requests[0]["temperature"] == 1.0  # tempered here, not by the server
    squares = [SERVED[k] ** 2 for k in ("1", "2", "3", "4", " 5")]
    assert d.probs == pytest.approx([s / sum(squares) for s in squares], abs=1e-12)
    assert d.valid_mass == pytest.approx(0.9, abs=1e-12)


def test_no_valid_token_in_top_logprobs_gives_zero_mass(serve):
    server = serve(lambda b, n: Reply(200, chat_completion("Sure", logprobs=top_logprobs_content({"Sure": 1.0}))))
    d = client(server).answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5))
    assert d.valid_mass == 0.0 and d.probs == (0.0,) * 5 and d.method == "exact"


# -- sampled fallback ----------------------------------------------------------------------------------


def test_sampled_fallback_without_logprobs(serve):
    replies = {1: "4", 2: "I'd say 5.", 3: "no idea", 4: "4", 5: "9"}
    server = serve(lambda b, n: Reply(200, chat_completion(replies.get(n - 1, "4"))))
    d = client(server).answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, seed=3, n_samples=5))
    # Request 1 asked for logprobs and got none; then five samples.
    assert server.count == 6
    assert d.method == "sampled" and d.n_samples == 5 and d.n_unparsed == 2
    assert d.valid_mass == pytest.approx(3 / 5)
    assert d.probs == pytest.approx([0, 0, 0, 2 / 3, 1 / 3])
    samples = server.requests[1:]
    assert [s["seed"] for s in samples] == [stable_seed(3, i) for i in range(5)]
    assert len({s["seed"] for s in samples}) == 5
    assert all("logprobs" not in s and s["temperature"] == 1.0 for s in samples)
    assert d.usage.backend_calls == 6


def test_multi_digit_answers_are_sampled_directly(serve):
    server = serve(lambda b, n: Reply(200, chat_completion(str(10 * n))))
    d = client(server).answer_distribution(
        DistributionRequest(messages=USER, answers=IntegerAnswers(low=0, high=100), n_samples=4, answer_prefix="$")
    )
    assert server.count == 4 and d.method == "sampled"
    assert d.probs[10] == d.probs[20] == d.probs[30] == d.probs[40] == pytest.approx(0.25)
    assert all(r["messages"][-1] == {"role": "assistant", "content": "$"} for r in server.requests)


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


# -- errors and retries --------------------------------------------------------------------------------


def test_429_then_success_is_retried_by_the_client(serve):
    def handler(body, n):
        if n == 1:
            return Reply(429, {"error": {"message": "slow down"}}, {"retry-after-ms": "1"})
        return logprob_handler(body, n)

    server = serve(handler)
    start = time.perf_counter()
    d = client(server, max_retries=2).answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5))
    assert server.count == 2
    assert d.method == "exact"
    assert time.perf_counter() - start < 2.0


def test_persistent_429_becomes_backend_unavailable(serve):
    server = serve(lambda b, n: Reply(429, {"error": {"message": "slow down"}}, {"retry-after-ms": "1"}))
    with pytest.raises(BackendUnavailableError, match="HTTP 429 after the client's retries"):
        client(server, max_retries=2).generate(GenerationRequest(messages=USER))
    assert server.count == 3


def test_401_is_a_clear_error_and_not_retried(serve):
    server = serve(lambda b, n: Reply(401, {"error": {"message": "invalid key"}}))
    with pytest.raises(AuthenticationError, match=r"rejected the API key \(HTTP 401\).*OPENAI_API_KEY"):
        client(server, max_retries=3).generate(GenerationRequest(messages=USER))
    assert server.count == 1


@pytest.mark.parametrize(
    "body",
    [
        b"this is not json{",
        b"[1, 2]",
        {"id": "x", "object": "chat.completion"},
        {"id": "x", "choices": []},
        {"choices": ["abc"]},
    ],
    ids=["garbage", "list", "no-choices", "empty-choices", "bad-choice"],
)
def test_garbage_body_is_a_bad_response(serve, body):
    server = serve(lambda b, n: Reply(200, body))
    with pytest.raises(BadResponseError, match=server.base_url):
        client(server).generate(GenerationRequest(messages=USER))


def test_404_model_is_a_bad_response(serve):
    server = serve(lambda b, n: Reply(404, {"error": {"message": "model not found"}}))
    with pytest.raises(BadResponseError, match="HTTP 404.*model not found"):
        client(server).generate(GenerationRequest(messages=USER))


def test_unreachable_port_is_backend_unavailable_quickly():
    with socket.socket() as s:  # find a free port, then close it so nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    model = OpenAICompatible(model="m", base_url=base_url, api_key="none", max_retries=0, timeout=1.0)
    start = time.perf_counter()
    with pytest.raises(BackendUnavailableError, match=rf"127\.0\.0\.1:{port}.*unreachable.*base_url"):
        model.generate(GenerationRequest(messages=USER))
    assert time.perf_counter() - start < 2.0


def test_missing_key_names_the_fix(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(AuthenticationError, match="set NO_SUCH_KEY_VAR or pass api_key_env=.*api_key='none'"):
        OpenAICompatible(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR")
    monkeypatch.setenv("NO_SUCH_KEY_VAR", "k")
    model = OpenAICompatible(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR")
    assert model.model_id == "openai-compatible:http://127.0.0.1:9/v1:m"


def test_empty_stop_is_omitted_and_tiny_temperature_is_greedy(serve):
    server = serve(logprob_handler)
    model = client(server)
    model.generate(GenerationRequest(messages=USER))
    assert "stop" not in server.requests[0]
    d = model.answer_distribution(DistributionRequest(messages=USER, answers=LIKERT5, temperature=1e-4))
    assert d.probs == pytest.approx([0, 0, 0, 1, 0])
