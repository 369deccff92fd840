"""The executor seam without a cluster: selection from flags and environment, the local path, the one-line errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiments.cli import main
from populace_lm.cache import CachedModel
from populace_lm.config import close_model
from populace_lm.errors import ConfigError, ExecutorError
from populace_lm.executor import (
    ExecutorConfig,
    LocalExecutor,
    RayExecutor,
    attach_executor,
    executor_of,
    run_requests,
)
from populace_lm.fakes import KnownDistributionModel
from populace_lm.types import IntegerAnswers, Message
from scenarios.question import Question
from tests.ray_cluster import free_port


def _requests(n: int):
    q = Question(id="q", prompt="How much?", answers=IntegerAnswers(low=1, high=5))
    return [q.distribution_request(f"persona {i}") for i in range(n)]


def _fake():
    def dist(messages: tuple[Message, ...], answers):
        k = int(messages[0].content.split()[-1])
        return np.arange(1, answers.size + 1, dtype=float) ** (k % 3)

    return KnownDistributionModel(dist, model_id="fake-executor")


def test_the_environment_and_the_flags_choose_the_executor():
    assert ExecutorConfig.from_env({}) == ExecutorConfig(kind="local")
    assert ExecutorConfig.from_env({"RAY_ADDRESS": "10.0.0.1:6379"}).kind == "local"  # read only for ray
    env = {"POPULACE_EXECUTOR": "ray", "RAY_ADDRESS": "h:1", "POPULACE_RAY_WORKERS": "3"}
    assert ExecutorConfig.from_env(env) == ExecutorConfig(kind="ray", address="h:1", workers=3)
    assert ExecutorConfig.from_env(env, kind="local").address is None  # the flag wins over the environment
    assert ExecutorConfig.from_env({}, address="127.0.0.1:1").kind == "ray"  # --ray-address selects ray
    assert ExecutorConfig.from_env(env, address="x:2", workers=1) == ExecutorConfig(
        kind="ray", address="x:2", workers=1
    )
    with pytest.raises(ConfigError, match="unknown executor 'dask'.*POPULACE_EXECUTOR"):
        ExecutorConfig.from_env({"POPULACE_EXECUTOR": "dask"})
    with pytest.raises(ConfigError, match="POPULACE_RAY_WORKERS='two' is not an integer"):
        ExecutorConfig.from_env({"POPULACE_EXECUTOR": "ray", "POPULACE_RAY_WORKERS": "two"})
    with pytest.raises(ConfigError, match="--ray-workers must be >= 1"):
        ExecutorConfig(kind="ray", workers=0)
    with pytest.raises(ConfigError, match="not HOST:PORT"):
        ExecutorConfig(kind="ray", address="localhost")


@pytest.mark.parametrize("workers", [1, 3])
def test_the_local_executor_answers_in_input_order_through_the_cache(tmp_path, workers):
    model = CachedModel(_fake(), tmp_path / "c.sqlite")
    try:
        assert isinstance(executor_of(model), LocalExecutor)
        requests = _requests(12)
        got = run_requests(model, requests, progress=False, max_workers=workers)
        assert [d.probs for d in got] == [_fake().answer_distribution(r).probs for r in requests]
        again = run_requests(model, requests, progress=False, max_workers=workers)
        assert all(d.cached for d in again) and model.stats()["hits"] == 12
    finally:
        model.close()


def test_an_attached_executor_is_found_on_the_chain_and_closed_with_the_model(tmp_path):
    class Recording(LocalExecutor):
        closed = 0
        seen: list[int] = []

        def map(self, model, requests, **kw):
            self.seen.append(len(requests))
            return super().map(model, requests, **kw)

        def close(self):
            self.closed += 1

    model = CachedModel(_fake(), tmp_path / "c.sqlite")
    ex = attach_executor(model, Recording()).executor
    assert executor_of(model) is ex and executor_of(model.inner) is not ex  # found from the outermost layer down
    run_requests(model, _requests(4), progress=False)
    assert ex.seen == [4]
    close_model(model)
    assert ex.closed == 1


def test_an_unreachable_ray_address_is_one_line_at_once(tmp_path):
    from populace_lm.config import LLMConfig

    port = free_port()
    started = time.monotonic()
    with pytest.raises(ExecutorError, match=rf"cannot reach the Ray cluster at 127.0.0.1:{port} .*--ray-address"):
        RayExecutor(LLMConfig(cache_path=str(tmp_path / "c.sqlite")), address=f"127.0.0.1:{port}")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "c.sqlite").exists()


def test_the_cli_names_the_fix_for_an_unreachable_cluster_and_writes_nothing(tmp_path, capsys, monkeypatch):
    cache, out = tmp_path / "cache.sqlite", tmp_path / "out"
    argv = ["probe", "--question", "How?", "--scale", "likert5", "--out", str(out), "--cache", str(cache)]
    assert main([*argv, "--ray-address", f"127.0.0.1:{free_port()}"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "cannot reach the Ray cluster" in err[0] and "--executor local" in err[0], err
    assert not cache.exists() and not (out / "probe.json").exists() and not (out / "run.json").exists()
    monkeypatch.setenv("POPULACE_EXECUTOR", "spark")
    assert main(argv) == 2
    assert "unknown executor 'spark'" in capsys.readouterr().err


@given(
    runs=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=12),
    size=st.integers(min_value=1, max_value=6),
)
def test_slices_keep_order_and_split_a_persona_only_when_its_run_is_long(runs, size):
    from populace_lm.ray_executor import _slices

    items = [
        (
            f"{p}/{i}",
            Question(id="q", prompt=f"item {i}", answers=IntegerAnswers(low=1, high=5)).distribution_request(
                f"persona {p}"
            ),
        )
        for p, n in enumerate(runs)
        for i in range(n)
    ]
    slices = _slices(items, size)
    assert [x for s in slices for x in s] == items  # contiguous, in order, nothing lost or repeated
    assert all(1 <= len(s) <= 2 * size for s in slices)
    for a, b in zip(slices, slices[1:], strict=False):
        persona = a[-1][0].split("/")[0]
        if b[0][0].split("/")[0] == persona:  # a persona cut in two: only when the slice reached 2 * size
            assert len(a) >= 2 * size
