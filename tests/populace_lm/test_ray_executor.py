"""``--executor ray`` on a real two-node Ray cluster on loopback (two raylets, no mocks) and the embedded model.

One head and one worker node (``--num-cpus 1`` each) serve the module; the cluster is stopped by the PIDs it started
however the tests end. A 200-prompt response matrix matches ``local`` byte for byte (cache rows included); a worker
node killed mid-job loses no answer and stores none twice; a driver interrupted mid-job resumes from the cache.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import numpy as np
import pytest

from populace_lm.budget import AccountingModel, find_layer
from populace_lm.cache import CachedModel, request_key
from populace_lm.config import LLMConfig, build_model, close_model
from populace_lm.executor import RayExecutor, attach_executor, run_requests
from populace_lm.local import LocalLlama
from populace_lm.types import DistributionRequest
from populations.persona import Persona
from tests.ray_cluster import LoopbackRayCluster, keep_loopback

pytestmark = pytest.mark.model

N_PERSONAS, N_ITEMS = 25, 8  # 200 distinct prompts


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head and a worker node on 127.0.0.1, each its own raylet; stopped by PID even when a test fails."""
    import ray

    mp = pytest.MonkeyPatch()
    keep_loopback(mp)
    c = LoopbackRayCluster(tmp_path_factory.mktemp("ray"), workers=1)
    try:
        c.start()
        ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
        deadline = time.monotonic() + 60
        while sum(n["Alive"] for n in ray.nodes()) < 2:  # the worker's raylet registers with the head's GCS
            assert time.monotonic() < deadline, "the worker node did not join the head"
            time.sleep(0.2)
        ray.shutdown()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.stop()
        mp.undo()


@pytest.fixture(scope="module")
def job(data_dir):
    """The personas, survey and items of the 200-prompt job."""
    from scenarios.registry import get_scenario

    survey = get_scenario("bigfive", source=str(data_dir)).survey
    items = tuple(it.id for it in survey.items[:N_ITEMS])
    personas = tuple(
        Persona(id=f"p{i}", text=f"You are respondent {i}: {['calm', 'lively', 'shy', 'curious', 'tidy'][i % 5]}.")
        for i in range(N_PERSONAS)
    )
    return personas, survey, items


def _requests(job) -> list[DistributionRequest]:
    personas, survey, items = job
    return [survey.question(i).distribution_request(p.text) for p in personas for i in items]


def _rows(path) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return {
            k: (req, resp) for k, req, resp in conn.execute("SELECT key, request_json, response_json FROM responses")
        }


def _answers(path) -> dict[str, tuple[str, str]]:
    """The stored rows without each answer's cost (``usage``: tokens evaluated depend on the KV state before it)."""
    out = {}
    for key, (req, resp) in _rows(path).items():
        answer = json.loads(resp)
        answer.pop("usage")
        out[key] = (req, json.dumps(answer, sort_keys=True))
    return out


def _check_integrity(path, model_id: str, n: int) -> None:
    """SQLite's own check, one row per distinct request, and every key the hash of its stored request."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = _rows(path)
    assert len(rows) == n
    for key, (req, _) in rows.items():
        assert key == request_key("distribution", model_id, DistributionRequest.from_dict(json.loads(req)))


@pytest.fixture(scope="module")
def local_reference(job, tmp_path_factory):
    """The job under ``--executor local``: the response matrix and the cache file it filled."""
    from populations.response_matrix import compute_response_matrix

    base = tmp_path_factory.mktemp("local")
    model = build_model(LLMConfig(cache_path=str(base / "cache.sqlite"), n_threads=1))  # 2 threads crawl when contended
    try:
        personas, survey, items = job
        matrix = compute_response_matrix(model, personas, survey, cache_dir=base / "m", item_ids=items, progress=False)
    finally:
        close_model(model)
    return matrix, base / "cache.sqlite"


def _ray_model(cluster, cache, **kw):
    config = LLMConfig(cache_path=str(cache))
    return attach_executor(build_model(config), RayExecutor(config, address=cluster.address, **kw))


def test_a_200_prompt_response_matrix_on_two_raylets_equals_local(cluster, job, local_reference, tmp_path):
    from populations.response_matrix import compute_response_matrix

    ref, ref_cache = local_reference
    model = _ray_model(cluster, tmp_path / "cache.sqlite")
    try:
        personas, survey, items = job
        matrix = compute_response_matrix(
            model, personas, survey, cache_dir=tmp_path / "m", item_ids=items, progress=False
        )
        described = model.executor.describe()
        run = find_layer(model, AccountingModel).summary()["run"]
        driver_loaded = find_layer(model, LocalLlama)._loaded
    finally:
        close_model(model)
    assert described["actors"] == 2 and described["requests"] == N_PERSONAS * N_ITEMS
    assert not driver_loaded  # the actors answered: the driver never even loaded the weights
    assert np.array_equal(matrix.probs, ref.probs) and np.array_equal(matrix.valid_mass, ref.valid_mass)
    assert _answers(tmp_path / "cache.sqlite") == _answers(ref_cache)  # the same keys and byte-identical answers
    assert run["requests_sent"] == run["successes"] == N_PERSONAS * N_ITEMS and run["failures"] == 0


def test_an_interrupted_driver_resumes_from_the_cache(cluster, job, local_reference, tmp_path, monkeypatch):
    ref_rows = _answers(local_reference[1])
    cache, requests = tmp_path / "cache.sqlite", _requests(job)[:80]
    model = _ray_model(cluster, cache, batch_size=10)
    store, stored = CachedModel._store, []

    def interrupted(self, *args, **kwargs):  # Ctrl-C in the driver after 30 answers were stored
        if len(stored) == 30:
            raise KeyboardInterrupt
        stored.append(1)
        return store(self, *args, **kwargs)

    monkeypatch.setattr(CachedModel, "_store", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_requests(model, requests, progress=False)
    finally:
        close_model(model)
    monkeypatch.setattr(CachedModel, "_store", store)
    assert len(_rows(cache)) == 30
    model = _ray_model(cluster, cache)
    try:
        results = run_requests(model, requests, progress=False)
        stats = find_layer(model, CachedModel).stats()
    finally:
        close_model(model)
    assert stats["misses"] == 80 - 30 and stats["hits"] == 30  # only the rest was asked
    rows = _answers(cache)
    assert len(rows) == 80 and all(ref_rows[k] == v for k, v in rows.items()) and len(results) == 80


def test_a_worker_node_killed_mid_job_loses_and_duplicates_nothing(cluster, job, local_reference, tmp_path):
    """Runs last: it kills the worker node (its raylet and worker processes) while slices are in flight."""
    ref_rows = _answers(local_reference[1])
    cache = tmp_path / "cache.sqlite"
    model = _ray_model(cluster, cache, batch_size=5)
    out: dict[str, object] = {}

    def go() -> None:
        try:
            out["results"] = run_requests(model, _requests(job), progress=False)
        except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
            out["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    cached = find_layer(model, CachedModel)
    deadline = time.monotonic() + 300
    while len(cached) < 40 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(cached) < N_PERSONAS * N_ITEMS, "the job ended before the node could be killed"
    cluster.kill_node(1)
    thread.join(timeout=600)
    try:
        assert not thread.is_alive() and "error" not in out, out.get("error")
        summary = find_layer(model, AccountingModel).summary()
        described = model.executor.describe()
    finally:
        close_model(model)
    n = N_PERSONAS * N_ITEMS
    _check_integrity(cache, model.model_id, n)
    assert _answers(cache) == ref_rows  # every answer, once, byte-identical to local
    results = out["results"]
    assert [{k: v for k, v in json.loads(json.dumps(r.to_dict())).items() if k != "usage"} for r in results] == [
        json.loads(ref_rows[_key(model, r)][1]) for r in _requests(job)
    ]
    # the accounting adds up: each request answered and stored exactly once, whatever was retried on the cluster
    assert summary["answer_distribution"]["calls"] == n == summary["cache"]["stores"] == summary["cache"]["misses"]
    assert summary["run"]["requests_sent"] == summary["run"]["successes"] == n
    assert described["requests"] == n


def _key(model, request) -> str:
    return request_key("distribution", model.model_id, request)
