"""Drills against a loopback server that injects the faults of a bad day: every run finishes in one invocation.

The server (``FaultyHandler``) answers 20% of requests with HTTP 429, 10% with HTTP 500, 5% with a garbage 200 body,
and delays a few replies (shorter than the timeout). A 100-prompt survey (exact distributions) and a sampled game
(0-100 answers, 20 samples each) go through the full model chain of ``build_model``; every answer must come back
equal to what the server meant, and our counts must equal the server's own counters.
"""

import hashlib
import json

import pytest

from populace_lm.budget import AccountingModel, find_layer, map_concurrent
from populace_lm.config import LLMConfig, build_model, close_model
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
