"""Where batches of distinct prompts run: in this process (``local``) or on Ray actors (``ray``).

Every batch of distinct requests the packages ask — the answer distributions behind fits, response matrices,
``compare`` constructions, twin predictions and what-if replicates — goes through :func:`run_requests`
(:func:`populations.responses.answer_distributions` and :meth:`simulator.decisions.DecisionService.prefetch` call
it), which hands the batch to the executor attached to the model (:func:`attach_executor`; the CLI attaches the one
of ``--executor local|ray``, ``--ray-address`` and ``--ray-workers``, environment twins ``POPULACE_EXECUTOR``,
``RAY_ADDRESS`` and ``POPULACE_RAY_WORKERS``).

``local`` runs the batch through the model chain in this process: serially for the embedded model, on
``--concurrency`` threads for a remote endpoint.

``ray`` runs the cache misses of the batch on Ray actors (:class:`populace_lm.ray_executor.ModelWorker`), each owning one model built from
the serialisable backend config (:meth:`populace_lm.config.LLMConfig.to_dict`): an embedded llama.cpp model with
its own thread count (``--threads``, default 1 per actor, one actor per CPU of the cluster) or an OpenAI-compatible
client. Contiguous slices of the batch go to the actors (so a persona's prefix is reused inside an actor), and
``ray.wait`` hands each finished slice back to the driver. The driver alone writes the cache: each answer passes
through the driver's own chain (``CachedModel(AccountingModel(BudgetedModel(...)))``) as it arrives, so the budget,
the accounting and the cache see exactly what they see under ``local``, and an interrupted driver resumes from the
cache. Answers are byte-identical to ``local``: a request's answer depends only on the request (the embedded model
evaluates every prompt in canonical segments, :meth:`populace_lm.local.LocalLlama._segments`), and the actors load
the same model (their ``model_id`` is checked against the driver's).

Faults: actors are created with ``max_restarts``/``max_task_retries``, reserve no CPU of their own (their number
already follows the cluster's CPUs) and are pinned to nodes with *soft* node affinity, so an actor whose node is
lost is restarted by Ray on a surviving node and its in-flight slice retried there. A slice that still fails with
an actor error is resubmitted by the driver to another actor; results are keyed by request, so nothing is lost or
stored twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from populace_lm.base import LanguageModel
from populace_lm.budget import map_concurrent
from populace_lm.config import LLMConfig, concurrency_of
from populace_lm.errors import ConfigError
from populace_lm.progress import progress_bar
from populace_lm.types import AnswerDistribution, DistributionRequest, Generation, GenerationRequest

__all__ = [
    "EXECUTOR_ENV_VARS",
    "EXECUTOR_KINDS",
    "Executor",
    "ExecutorConfig",
    "LocalExecutor",
    "attach_executor",
    "build_executor",
    "executor_of",
    "run_requests",
]

EXECUTOR_KINDS = ("local", "ray")
EXECUTOR_ENV_VARS = {"kind": "POPULACE_EXECUTOR", "address": "RAY_ADDRESS", "workers": "POPULACE_RAY_WORKERS"}
"""Field of :class:`ExecutorConfig` → environment variable read by :meth:`ExecutorConfig.from_env`."""

Request = GenerationRequest | DistributionRequest
Response = Generation | AnswerDistribution

_FIX = "start the cluster (`ray start --head --port PORT`), fix --ray-address (or RAY_ADDRESS), or use --executor local"


@dataclass(frozen=True, kw_only=True)
class ExecutorConfig:
    """Where batches run.

    Attributes:
        kind: ``"local"`` (default) or ``"ray"``.
        address: the Ray cluster's GCS address ``HOST:PORT`` (or ``auto``); None with ``kind="ray"`` starts a
            Ray instance inside this process.
        workers: Ray actors (None = one per CPU of the cluster, divided by ``--threads``).
    """

    kind: str = "local"
    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EXECUTOR_KINDS:
            raise ConfigError(f"unknown executor {self.kind!r}: use local or ray (--executor or POPULACE_EXECUTOR)")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)):
            raise ConfigError(f"--ray-workers must be an integer, got {self.workers!r} (POPULACE_RAY_WORKERS)")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--ray-workers must be >= 1, got {self.workers} (POPULACE_RAY_WORKERS)")
        if self.address is not None and self.address != "auto" and ":" not in self.address:
            raise ConfigError(f"Ray address {self.address!r} is not HOST:PORT: fix --ray-address (or RAY_ADDRESS)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ExecutorConfig:
        """Read :data:`EXECUTOR_ENV_VARS`; ``overrides`` that are not None win (a given address selects ``ray``).

        ``RAY_ADDRESS`` is read only when the executor is ``ray`` (it may be set for other Ray programs).
        """
        env = os.environ if environ is None else environ
        given = {k: v for k, v in overrides.items() if v is not None}
        kind = given.get("kind") or env.get(EXECUTOR_ENV_VARS["kind"], "").strip() or None
        if kind is None:
            kind = "ray" if given.get("address") else "local"
        address = given.get("address") or (env.get(EXECUTOR_ENV_VARS["address"], "").strip() or None)
        workers = given.get("workers")
        if workers is None and env.get(EXECUTOR_ENV_VARS["workers"], "").strip():
            raw = env[EXECUTOR_ENV_VARS["workers"]].strip()
            try:
                workers = int(raw)
            except ValueError:
                raise ConfigError(f"POPULACE_RAY_WORKERS={raw!r} is not an integer") from None
        return cls(kind=kind, address=address if kind == "ray" else None, workers=workers)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"kind": self.kind, "address": self.address, "workers": self.workers}


class Executor(Protocol):
    """Runs a batch of distinct requests through a model chain; results in input order."""

    kind: str

    def map(
        self, model: LanguageModel, requests: Sequence[Request], *, progress: bool, desc: str, max_workers: int | None
    ) -> list[Any]:
        """One response per request, in input order."""
        ...

    def describe(self) -> dict[str, Any]:
        """Plain JSON for ``run.json``."""
        ...

    def close(self) -> None:
        """Release workers (safe to call twice)."""
        ...


def _call(model: LanguageModel, request: Request) -> Response:
    if isinstance(request, GenerationRequest):
        return model.generate(request)
    return model.answer_distribution(request)


def _kind(request: Request) -> str:
    return "generate" if isinstance(request, GenerationRequest) else "distribution"


class LocalExecutor:
    """Runs batches in this process: serially for a serial model (with a progress bar), else on threads."""

    kind = "local"

    def map(
        self,
        model: LanguageModel,
        requests: Sequence[Request],
        *,
        progress: bool = True,
        desc: str = "answers",
        max_workers: int | None = None,
    ) -> list[Any]:
        """Run ``requests`` through ``model`` (see :func:`run_requests`)."""
        workers = concurrency_of(model) if max_workers is None else max_workers
        if workers > 1:
            return map_concurrent(model, requests, max_workers=workers)
        bar = progress_bar(list(requests), desc=desc, unit="request", enabled=progress, delay=2.0)
        return [_call(model, r) for r in bar]

    def describe(self) -> dict[str, Any]:
        """``{"kind": "local"}``."""
        return {"kind": "local"}

    def close(self) -> None:
        """Nothing to release."""


_LOCAL = LocalExecutor()


def attach_executor(model: Any, executor: Executor) -> Any:
    """Make ``executor`` run the batches of ``model`` (the outermost layer of a chain); returns ``model``.

    A :class:`RayExecutor` also puts its delivery layer at the bottom of the chain (see :class:`RayExecutor`).
    """
    bind = getattr(executor, "bind", None)
    if callable(bind):
        bind(model)
    model.executor = executor
    return model


def executor_of(model: Any) -> Executor:
    """The executor attached to a model chain (``.executor`` on any layer), else the local one."""
    seen = 0
    while model is not None and seen < 64:
        found = model.__dict__.get("executor") if hasattr(model, "__dict__") else None
        if found is not None:
            return found
        model = getattr(model, "inner", None)
        seen += 1
    return _LOCAL


def run_requests(
    model: LanguageModel,
    requests: Iterable[Request],
    *,
    progress: bool = True,
    desc: str = "answers",
    max_workers: int | None = None,
) -> list[Any]:
    """Answer a batch of distinct requests through ``model`` on its executor; results in input order.

    Args:
        model: a model chain (usually :func:`populace_lm.config.build_model`'s).
        requests: the requests; a :class:`~populace_lm.types.DistributionRequest` goes to ``answer_distribution``,
            a :class:`~populace_lm.types.GenerationRequest` to ``generate``.
        progress: show a progress bar (subject to ``--quiet``).
        desc: its label.
        max_workers: requests in flight in this process (``local``); None = the model's own concurrency.

    Returns:
        One :class:`~populace_lm.types.AnswerDistribution` or :class:`~populace_lm.types.Generation` per request.

    Raises:
        The first error in input order, after the other requests finished (and were cached).
    """
    return executor_of(model).map(model, list(requests), progress=progress, desc=desc, max_workers=max_workers)


def build_executor(config: ExecutorConfig, llm: LLMConfig) -> Executor:
    """The executor of ``config`` for models of ``llm`` (a :class:`RayExecutor` connects at once)."""
    if config.kind == "local":
        return _LOCAL
    from populace_lm.ray_executor import RayExecutor

    return RayExecutor(llm, address=config.address, workers=config.workers)


def __getattr__(name: str) -> Any:
    """``RayExecutor`` and ``ModelWorker`` live in :mod:`populace_lm.ray_executor` (imported on first use)."""
    if name in ("RayExecutor", "ModelWorker"):
        from populace_lm import ray_executor

        return getattr(ray_executor, name)
    raise AttributeError(f"module 'populace_lm.executor' has no attribute {name!r}")
