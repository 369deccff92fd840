"""Drills against a loopback server that injects the faults of a bad day: every run finishes in one invocation.

The server (``FaultyHandler``) answers 20% of requests with HTTP 429, 10% with HTTP 500, 5% with a garbage 200 body,
and delays a few replies (shorter than the timeout). A 100-prompt survey (exact distributions) and a sampled game
(0-100 answers, 20 samples each) go through the full model chain of ``build_model``; every answer must come back
equal to what the server meant, and our counts must equal the server's own counters.
"""

import contextlib
import hashlib
import json
import time

import pytest

from populace_lm.budget import AccountingModel, find_layer, map_concurrent
from populace_lm.config import LLMConfig, build_model, close_model
from populace_lm.errors import BackendUnavailableError
from populace_lm.parsing import distribution_from_replies
from populace_lm.types import DistributionRequest, IntegerAnswers, Message, stable_seed
from tests.populace_lm.loopback_server import (
    FaultMix,
    FaultyHandler,
    LoopbackServer,
    Reply,
    chat_completion,
    top_logprobs_content,
)

LIKERT5 = IntegerAnswers(low=1, high=5)
STAKES = IntegerAnswers(low=0, high=100)


def served_probs(content: str) -> dict[str, float]:
    """The server's true next-token distribution for a prompt: every digit present, 5% on "Sure"."""
    h = hashlib.sha256(content.encode()).digest()
    weights = [1 + h[i] for i in range(5)]
    total = sum(weights)
    return {**{str(i + 1): 0.95 * w / total for i, w in enumerate(weights)}, "Sure": 0.05}


def game_reply(seed: int) -> str:
    return "I would rather not say." if seed % 7 == 0 else f"I give ${seed % 101}."


def truth(body, n):
    content = body["messages"][-1]["content"]
    if body.get("logprobs"):
        return Reply(200, chat_completion("3", logprobs=top_logprobs_content(served_probs(content))))
    return Reply(200, chat_completion(game_reply(body["seed"]), completion_tokens=4))


def survey_requests(n=100):
    return [
        DistributionRequest(
            messages=(
                Message(role="system", content=f"You are respondent {i % 10}."),
                Message(role="user", content=f"Statement {i}: rate it from 1 to 5."),
            ),
            answers=LIKERT5,
            seed=i,
        )
        for i in range(n)
    ]


def game_requests(n=3, samples=20):
    return [
        DistributionRequest(
            messages=(Message(role="user", content=f"Player {i}: how many dollars of 100 do you give?"),),
            answers=STAKES,
            seed=100 + i,
            n_samples=samples,
        )
        for i in range(n)
    ]


def expected(request):
    if request.answers.single_digit:
        p = served_probs(request.messages[-1].content)
        return tuple(p[str(v)] / 0.95 for v in LIKERT5.values), 0.95
    replies = [game_reply(stable_seed(request.seed, i)) for i in range(request.n_samples)]
    d = distribution_from_replies(replies, request.answers)
    return d.probs, d.valid_mass


def config(server, tmp_path, **kw):
    kw = {
        "backend": "openai",
        "model": "loopback",
        "base_url": server.base_url,
        "api_key_env": "LOOPBACK_KEY",
        "cache_path": str(tmp_path / "cache.sqlite"),
        "server_kind": "openai",
        "max_retries": 10,
        "timeout": 5.0,
        "concurrency": 8,
        **kw,
    }
    return LLMConfig(**kw)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", "none")


def run_once(server, handler, tmp_path, requests, **kw):
    cfg = config(server, tmp_path, **kw)
    model = build_model(cfg)
    try:
        results = map_concurrent(model, requests, max_workers=cfg.concurrency)
        summary = find_layer(model, AccountingModel).summary()
    finally:
        close_model(model)
    return results, summary


def assert_counts_match(summary, handler):
    server = handler.expected_client_counts()
    run = summary["run"]
    assert run["requests_sent"] == server["requests_sent"]
    assert run["successes"] == server["successes"]
    for cause in ("429", "5xx", "bad_body", "connection", "timeout"):
        assert run["retries"][cause] == server[cause], cause
    assert run["failures"] == 0
    assert run["requests_sent"] == run["successes"] + sum(run["retries"].values())


def test_survey_and_sampled_game_finish_in_one_invocation_under_faults(tmp_path):
    mix = FaultMix(p429=0.2, p500=0.1, garbage=0.05, hang=0.03, hang_s=0.2, seed=13)
    handler = FaultyHandler(truth, mix)
    requests = survey_requests(100) + game_requests(3, 20)
    with LoopbackServer(handler) as server:
        results, summary = run_once(server, handler, tmp_path, requests)
        assert handler.counters["429"] > 0 and handler.counters["500"] > 0 and handler.counters["garbage"] > 0
        assert handler.counters["hang"] > 0
        # every answer back, none defaulted: equal to what the server meant
        assert len(results) == len(requests)
        for request, result in zip(requests, results, strict=True):
            probs, valid = expected(request)
            assert result.probs == pytest.approx(probs, abs=1e-12)
            assert result.valid_mass == pytest.approx(valid, abs=1e-12)
            assert result.method == ("exact" if request.answers.single_digit else "sampled")
        assert_counts_match(summary, handler)
        answers_needed = 100 + 3 * 20
        assert summary["run"]["successes"] == answers_needed
        assert summary["backend"]["distributions"] == {
            "exact": 100,
            "exact_partial": 0,
            "sampled": 3,
            "sampled_after_topk": 0,
        }
        json.dumps(summary)

        # a rerun is answered from the cache: no request reaches the server
        received = handler.counters["received"]
        again, summary2 = run_once(server, handler, tmp_path, requests)
        assert handler.counters["received"] == received
        assert [r.probs for r in again] == [r.probs for r in results]
        assert summary2["run"]["requests_sent"] == 0 and summary2["run"]["cache_hits"] == len(requests)


def test_resets_and_timeouts_are_counted_like_the_server_counts_them(tmp_path):
    mix = FaultMix(reset=0.08, stall=0.06, stall_s=1.0, p500=0.05, seed=5)
    handler = FaultyHandler(truth, mix)
    requests = survey_requests(40)
    with LoopbackServer(handler) as server:
        results, summary = run_once(server, handler, tmp_path, requests, timeout=0.4)
        assert handler.counters["reset"] > 0 and handler.counters["stall"] > 0
        for request, result in zip(requests, results, strict=True):
            assert result.probs == pytest.approx(expected(request)[0], abs=1e-12)
        assert_counts_match(summary, handler)
        assert summary["run"]["retries"]["timeout"] == handler.counters["stall"]


# -- drills of issue 21 item 9: capabilities, downgrades, truncated bodies, the retry budget, the cache -------------


def test_two_replies_without_logprobs_downgrade_one_request_loudly_and_a_healthy_rerun_asks_again(tmp_path, capsys):
    healthy = {"on": False}

    def flaky_start(body, n):  # the first two replies asking for logprobs lack them (a transient fault)
        if body.get("logprobs") and n <= 2 and not healthy["on"]:
            return Reply(200, chat_completion("3"))
        return truth(body, n)

    requests = survey_requests(20)
    with LoopbackServer(flaky_start) as server:
        results, summary = run_once(server, None, tmp_path, requests, concurrency=1)
        # one request degraded (asked twice, then sampled with 20 samples); the other 19 stay exact
        methods = [r.method for r in results]
        assert methods.count("exact") == 19 and methods.count("sampled") == 1
        assert results[0].degraded == "no_logprobs" and all(r.degraded is None for r in results[1:])
        assert server.count == 2 + 20 + 19  # not 2 + 20 * 20: the capability is never decided for the whole run
        for request, result in zip(requests[1:], results[1:], strict=True):
            assert result.probs == pytest.approx(expected(request)[0], abs=1e-12)
        backend = summary["backend"]
        assert backend["downgrades"] == {"exact_to_sampled": 1} and backend["logprobs_supported"] is True
        assert summary["cache"]["degraded_stores"] == 1 and summary["cache"]["stores"] == 19
        assert capsys.readouterr().err.count("exact -> sampled") == 1

        # a rerun on a healthy server asks again for the degraded answer only, and gets it exactly
        healthy["on"] = True
        before = server.count
        again, summary2 = run_once(server, None, tmp_path, requests, concurrency=1)
        assert server.count == before + 1
        assert [r.method for r in again] == ["exact"] * 20 and all(r.degraded is None for r in again)
        assert again[0].probs == pytest.approx(expected(requests[0])[0], abs=1e-12)
        assert summary2["backend"]["downgrades"] == {"exact_to_sampled": 0}


def test_a_body_cut_off_mid_transfer_is_a_bad_body_not_a_connection_fault(tmp_path):
    mix = FaultMix(truncate=0.15, reset=0.05, seed=3)
    handler = FaultyHandler(truth, mix)
    requests = survey_requests(40)
    with LoopbackServer(handler) as server:
        results, summary = run_once(server, handler, tmp_path, requests)
        assert handler.counters["truncate"] > 0 and handler.counters["reset"] > 0
        for request, result in zip(requests, results, strict=True):
            assert result.probs == pytest.approx(expected(request)[0], abs=1e-12)
        assert_counts_match(summary, handler)  # bad_body == truncated, connection == resets
        assert summary["run"]["retries"]["bad_body"] == handler.counters["truncate"]


def outage(seconds):
    """A server that answers HTTP 503 for its first ``seconds`` (from its first request), then normally."""
    start = []

    def handler(body, n):
        now = time.monotonic()
        start.append(now)
        if now - start[0] < seconds:
            return Reply(503, {"error": {"message": "restarting"}})
        return truth(body, n)

    return handler


def test_an_outage_shorter_than_the_retry_budget_does_not_end_the_run(tmp_path):
    # 8 retries of backoff 0.25 s doubling would give up after ~26-52 s; 1.5 s of 503s at backoff <= 0.3 s would
    # end a count-limited run too (max_retries=3); the time budget rides it out
    with LoopbackServer(outage(1.5)) as server:
        results, summary = run_once(server, None, tmp_path, survey_requests(6), retry_budget=20.0, max_retries=None)
        assert [r.method for r in results] == ["exact"] * 6
        assert summary["run"]["retries"]["5xx"] > 0 and summary["run"]["failures"] == 0
        assert summary["backend"]["retry_budget_s"] == 20.0


def test_an_outage_longer_than_the_retry_budget_ends_with_one_line_naming_the_flag(tmp_path):
    with LoopbackServer(outage(60.0)) as server:
        start = time.monotonic()
        with pytest.raises(BackendUnavailableError, match=r"HTTP 503 after \d+ retries over \d+ s.*--retry-budget"):
            run_once(server, None, tmp_path, survey_requests(1), retry_budget=1.0, max_retries=None, concurrency=1)
        assert time.monotonic() - start < 5.0


def test_server_kind_probe_is_not_fooled_by_transient_faults(tmp_path):
    vllm_models = {"object": "list", "data": [{"id": "loopback", "owned_by": "vllm", "max_model_len": 2048}]}
    gets = []

    with LoopbackServer(truth, models=vllm_models) as server:
        original = server._server.RequestHandlerClass.do_GET

        def do_get(self):
            gets.append(self.path)
            if len(gets) <= 2:  # /models fails twice (a 502 from a proxy, then a garbage 200)
                reply = Reply(502, {"error": {"message": "bad gateway"}}) if len(gets) == 1 else Reply(200, b"<html>")
                self._send(reply)
                return
            original(self)

        server._server.RequestHandlerClass.do_GET = do_get
        model = build_model(config(server, tmp_path, server_kind="auto"))
        try:
            d = model.answer_distribution(
                DistributionRequest(
                    messages=(Message(role="user", content="Rate it from 1 to 5."),),
                    answers=LIKERT5,
                    answer_prefix="Rating: ",
                )
            )
            backend = find_layer(model, AccountingModel).summary()["backend"]
        finally:
            close_model(model)
    assert len(gets) == 3 and backend["server_kind"] == "vllm" and backend["answer_stem"] == "continued"
    assert d.method == "exact" and server.requests[-1].get("continue_final_message") is True


def test_garbage_in_the_cache_data_pages_is_the_one_line_cache_error(tmp_path):
    from populace_lm.cache import CachedModel
    from populace_lm.errors import CacheError
    from populace_lm.fakes import KnownDistributionModel

    path = tmp_path / "cache.sqlite"
    inner = KnownDistributionModel(lambda messages, answers: [1.0] * answers.size)
    with CachedModel(inner, path) as cache:
        for request in survey_requests(300):
            cache.answer_distribution(request)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    for offset in range(2 * page, len(data)):  # keep the header and the schema page, garble the rest
        data[offset] = (offset * 131 + 7) % 256
    path.write_bytes(bytes(data))
    cache = CachedModel(inner, path)
    try:
        with pytest.raises(CacheError, match=r"response cache .*cache\.sqlite.*--cache"):
            for request in survey_requests(300):
                cache.answer_distribution(request)
    finally:
        with contextlib.suppress(Exception):
            cache.close()


def test_a_server_kind_probe_that_never_gets_an_answer_fails_in_one_line_and_decides_nothing(tmp_path):
    with LoopbackServer(truth) as server:
        original = server._server.RequestHandlerClass.do_GET
        failing = {"on": True}

        def do_get(self):
            if failing["on"]:
                self._send(Reply(503, {"error": {"message": "loading"}}))
                return
            original(self)

        server._server.RequestHandlerClass.do_GET = do_get
        server.models = {"data": [{"id": "loopback", "owned_by": "vllm"}]}
        model = build_model(config(server, tmp_path, server_kind="auto", retry_budget=0.5, max_retries=None))
        request = DistributionRequest(
            messages=(Message(role="user", content="Rate it from 1 to 5."),), answers=LIKERT5, answer_prefix="Rating: "
        )
        try:
            with pytest.raises(BackendUnavailableError, match=r"GET /models \(HTTP 503.*--server-kind"):
                model.answer_distribution(request)
            assert find_layer(model, AccountingModel).summary()["backend"]["server_kind"] == "auto (not detected yet)"
            failing["on"] = False  # the server is up: the next request probes again and continues the stem
            assert model.answer_distribution(request).method == "exact"
            assert server.requests[-1].get("continue_final_message") is True
        finally:
            close_model(model)
