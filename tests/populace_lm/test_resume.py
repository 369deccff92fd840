"""Kill a run with SIGKILL after some answers are cached, rerun it: nothing cached is asked again, same records."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from populace_lm.budget import map_concurrent
from populace_lm.config import LLMConfig, build_model, close_model
from populace_lm.types import DistributionRequest, IntegerAnswers, Message, stable_seed
from tests.populace_lm.loopback_server import LoopbackServer, Reply, chat_completion, top_logprobs_content

ROOT = Path(__file__).resolve().parents[2]

# The run: two sampled 0-100 distributions (12 samples each) first, then 20 exact Likert items.
RUN = """
import sys
from populace_lm.budget import map_concurrent
from populace_lm.config import LLMConfig, build_model
from tests.populace_lm.test_resume import requests
cfg = LLMConfig(backend="openai", model="m", base_url=sys.argv[1], api_key_env="LOOPBACK_KEY",
                cache_path=sys.argv[2], server_kind="openai", concurrency=2)
map_concurrent(build_model(cfg), requests(), max_workers=2)
"""


def requests():
    game = [
        DistributionRequest(
            messages=(Message(role="user", content=f"Player {i}: how much of $100 do you give?"),),
            answers=IntegerAnswers(low=0, high=100),
            seed=50 + i,
            n_samples=12,
        )
        for i in range(2)
    ]
    survey = [
        DistributionRequest(
            messages=(Message(role="user", content=f"Item {i}: rate 1 to 5."),),
            answers=IntegerAnswers(low=1, high=5),
            seed=i,
        )
        for i in range(20)
    ]
    return game + survey


def handler(body, n):
    time.sleep(0.01)
    content = body["messages"][-1]["content"]
    if body.get("logprobs"):
        k = sum(map(ord, content)) % 5
        probs = {str(v): (0.6 if v == k + 1 else 0.1) for v in range(1, 6)}
        return Reply(200, chat_completion("1", logprobs=top_logprobs_content(probs)))
    return Reply(200, chat_completion(f"${body['seed'] % 101}"))


def fingerprint(body):
    return (body["messages"][-1]["content"], body["seed"], bool(body.get("logprobs")))


def cached_fingerprints(path):
    """What the cache already answers, as the server requests those answers would need."""
    con = sqlite3.connect(path)
    rows = con.execute("SELECT kind, request_json FROM responses").fetchall()
    con.close()
    out = set()
    for kind, blob in rows:
        r = json.loads(blob)
        content = r["messages"][-1]["content"]
        if kind == "generate":
            out.add((content, r["seed"], False))
        elif r["answers"]["high"] <= 9:
            out.add((content, r["seed"], True))
        else:
            out.update((content, stable_seed(r["seed"], i), False) for i in range(r["n_samples"]))
    return out


def count_rows(path):
    try:
        con = sqlite3.connect(path, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def run_in_process(server, path):
    cfg = LLMConfig(
        backend="openai",
        model="m",
        base_url=server.base_url,
        api_key_env="LOOPBACK_KEY",
        cache_path=str(path),
        server_kind="openai",
        concurrency=2,
    )
    model = build_model(cfg)
    try:
        return map_concurrent(model, requests(), max_workers=2)
    finally:
        close_model(model)


def records(results):
    return [(r.method, r.probs, r.valid_mass, r.n_samples, r.n_unparsed) for r in results]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_then_rerun_repeats_nothing_cached_and_gives_identical_records(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", "none")
    path = tmp_path / "cache.sqlite"
    needed = 2 * 12 + 20  # HTTP requests of a clean run
    with LoopbackServer(handler) as server:
        env = {**os.environ, "LOOPBACK_KEY": "none", "POPULACE_QUIET": "1"}
        proc = subprocess.Popen([sys.executable, "-c", RUN, server.base_url, str(path)], cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 60
            while count_rows(path) < 8 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            assert proc.poll() is None, "the run finished (or died) before it could be killed"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        cached = cached_fingerprints(path)
        assert 0 < len(cached) < needed
        before = server.count

        resumed = run_in_process(server, path)
        rerun = [fingerprint(b) for b in server.requests[before:]]
        assert not set(rerun) & cached  # 0 repeated requests for cached answers
        assert len(rerun) == len(set(rerun)) == needed - len(cached)

    with LoopbackServer(handler) as clean_server:
        clean = run_in_process(clean_server, tmp_path / "clean.sqlite")
        assert clean_server.count == needed
    assert records(resumed) == records(clean)
