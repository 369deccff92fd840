"""The Ray side of :mod:`populace_lm.executor`: actors that own a model, and the driver that feeds and drains them.

See :mod:`populace_lm.executor` for what runs where; this module is imported only when ``--executor ray`` is chosen.
"""

from __future__ import annotations

import math
import os
import socket
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from populace_lm.base import LanguageModel
from populace_lm.budget import BudgetedModel, find_layer
from populace_lm.cache import CachedModel, request_key
from populace_lm.config import LLMConfig, concurrency_of
from populace_lm.errors import ExecutorError, LLMError
from populace_lm.executor import _FIX, Request, _call, _kind
from populace_lm.progress import progress_bar
from populace_lm.types import AnswerDistribution, DistributionRequest, Generation, GenerationRequest

__all__ = ["ModelWorker", "RayExecutor"]


class _Delivery:
    """The bottom layer of a driver's chain under Ray: hands back what an actor computed, else asks the backend."""

    def __init__(self, inner: LanguageModel) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self._ready: dict[str, tuple[bool, Any]] = {}

    def put(self, key: str, outcome: tuple[bool, Any]) -> None:
        self._ready[key] = outcome

    def _take(self, request: Request, fallback: Any) -> Any:
        outcome = self._ready.pop(request_key(_kind(request), self.model_id, request), None)  # type: ignore[arg-type]
        if outcome is None:
            return fallback(request)
        ok, value = outcome
        if not ok:
            raise value
        return value

    def generate(self, request: GenerationRequest) -> Generation:
        return self._take(request, self.inner.generate)

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        return self._take(request, self.inner.answer_distribution)


class ModelWorker:
    """A Ray actor's model: the backend of a serialised :class:`~populace_lm.config.LLMConfig`, without a cache.

    Args:
        config: :meth:`LLMConfig.to_dict` of the driver's config.
        n_threads: llama.cpp threads of an embedded model (ignored by other backends).
    """

    def __init__(self, config: Mapping[str, Any], n_threads: int | None = None) -> None:
        from populace_lm.backends import get_backend

        llm = LLMConfig.from_dict(config)
        options = dict(llm.options)
        if n_threads is not None and "n_threads" in options:
            options["n_threads"] = n_threads
        self.model = get_backend(llm.backend).factory({**options, "verbose": llm.verbose})

    def model_id(self) -> str:
        """The model's id (the driver checks it equals its own)."""
        return self.model.model_id

    def answer(self, requests: Sequence[Request]) -> list[tuple[bool, Any]]:
        """``(True, response)`` or ``(False, error)`` per request: an LLM failure is data for the driver to raise."""

        def one(request: Request) -> tuple[bool, Any]:
            try:
                return True, _call(self.model, request)
            except LLMError as exc:
                return False, exc

        workers = concurrency_of(self.model)
        if workers <= 1:
            return [one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:  # an HTTP client's slots
            return list(pool.map(one, requests))


def _slices(items: list[tuple[str, Request]], size: int) -> list[list[tuple[str, Request]]]:
    """Contiguous slices of about ``size`` requests that keep runs of one system prompt (a persona) together.

    A slice ends where the system prompt changes once it holds ``size`` requests or more; a run longer than
    ``2 * size`` is cut. A persona's prefix is then evaluated once, on one actor, as under ``local``.
    """

    def system(request: Request) -> str:
        first = request.messages[0] if request.messages else None
        return first.content if first is not None and first.role == "system" else ""

    out: list[list[tuple[str, Request]]] = []
    current: list[tuple[str, Request]] = []
    for item in items:
        changed = bool(current) and system(item[1]) != system(current[-1][1])
        if current and ((changed and len(current) >= size) or len(current) >= 2 * size):
            out.append(current)
            current = []
        current.append(item)
    if current:
        out.append(current)
    return out


def _loopback_only() -> None:
    """Keep a Ray instance started in this process on 127.0.0.1 (it serves this machine only).

    Ray replaces a loopback node address with the machine's outward one (``resolve_ip_for_localhost``, and
    ``node_ip_address_from_perspective`` for the node's own address); an instance nobody else joins needs neither.
    """
    import ray._private.services as services

    if hasattr(services, "resolve_ip_for_localhost") and hasattr(services, "node_ip_address_from_perspective"):
        services.resolve_ip_for_localhost = lambda host: host
        services.node_ip_address_from_perspective = lambda address=None: "127.0.0.1"


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line :class:`ExecutorError` when nothing listens at ``HOST:PORT``."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ExecutorError(f"Ray address {address!r} has no port number: {_FIX}") from None
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", number), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}): {_FIX}") from None


class RayExecutor:
    """Cache misses of each batch run on Ray actors; the driver delivers and caches every answer.

    Args:
        config: the driver's language-model config (the actors build its backend).
        address: the cluster's GCS address; None = start a Ray instance in this process.
        workers: actors; None = the cluster's CPUs divided by the threads per actor.
        batch_size: requests per slice sent to an actor; None = about a quarter of an even share, at most 64.
        in_flight: slices queued per actor (2 keeps each actor busy while the driver stores results).
        max_restarts: Ray restarts of a lost actor.
        max_task_retries: Ray retries of a slice whose actor was lost.

    Raises:
        ExecutorError: ray is missing, or the address cannot be reached (one line naming the fix).
    """

    kind = "ray"

    def __init__(
        self,
        config: LLMConfig,
        *,
        address: str | None = None,
        workers: int | None = None,
        batch_size: int | None = None,
        in_flight: int = 2,
        max_restarts: int = 4,
        max_task_retries: int = 4,
    ) -> None:
        self.config = config
        self.address = address
        self.workers = workers
        self.batch_size = batch_size
        self.in_flight = in_flight
        self.max_restarts = max_restarts
        self.max_task_retries = max_task_retries
        self.threads = config.options.get("n_threads") or 1 if "n_threads" in config.options else None
        self.stats = {"batches": 0, "requests": 0, "resubmitted": 0, "actors": 0}
        self._actors: list[Any] = []
        self._model_id: str | None = None
        self._started_ray = False
        self._connect()

    # -- connection and actors -------------------------------------------------------------------------------

    def _connect(self) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorError(
                "--executor ray needs the ray package: pip install ray, or use --executor local"
            ) from None
        if ray.is_initialized():
            return
        if self.address:
            _check_reachable(self.address)
        quiet = {"logging_level": "ERROR", "log_to_driver": False, "runtime_env": self._runtime_env()}
        try:
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                _loopback_only()
                ray.init(num_cpus=self.workers * (self.threads or 1) if self.workers else None, include_dashboard=False,
                         **quiet)  # fmt: skip
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExecutorError(
                f"cannot connect to Ray at {self.address or 'a new local instance'} ({first}): {_FIX}"
            ) from None
        self._started_ray = True

    def _runtime_env(self) -> dict[str, Any]:
        """The runtime env of the job: this package (the driver's code) and, when set, the endpoint's key."""
        env: dict[str, Any] = {"py_modules": [str(Path(__file__).resolve().parent)]}
        key_var = self.config.options.get("api_key_env")
        if isinstance(key_var, str) and os.environ.get(key_var):
            env["env_vars"] = {key_var: os.environ[key_var]}
        return env

    def _ensure_actors(self, model_id: str) -> list[Any]:
        if self._actors:
            return self._actors
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        per = self.threads or 1
        columns = []
        for node in ray.nodes():
            cpus = int(node.get("Resources", {}).get("CPU", 0))
            if node.get("Alive") and cpus >= 1:
                columns.append([node["NodeID"]] * max(1, cpus // per))
        slots = [col[i] for i in range(max(map(len, columns), default=0)) for col in columns if i < len(col)]
        if not slots:
            raise ExecutorError(f"the Ray cluster at {self.address or 'this process'} has no node with a CPU: {_FIX}")
        n = self.workers or len(slots)
        remote = ray.remote(ModelWorker)
        options = {
            "num_cpus": 0,  # the number of actors follows the CPUs; a restarted actor must fit on a surviving node
            "max_restarts": self.max_restarts,
            "max_task_retries": self.max_task_retries,
        }
        config = self.config.to_dict()
        actors = [
            remote.options(
                **options, scheduling_strategy=NodeAffinitySchedulingStrategy(slots[i % len(slots)], soft=True)
            ).remote(config, self.threads)
            for i in range(n)
        ]
        try:
            ids = ray.get([a.model_id.remote() for a in actors])
        except ray.exceptions.RayError as exc:
            for a in actors:
                ray.kill(a)
            cause = getattr(exc, "cause", None) or exc
            first = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
            raise ExecutorError(
                f"the Ray workers could not build the model ({first}); every node needs the model"
            ) from None
        wrong = sorted({i for i in ids if i != model_id})
        if wrong:
            for a in actors:
                ray.kill(a)
            raise ExecutorError(
                f"the Ray workers load model {wrong[0]} but this process uses {model_id}: install the same model "
                "file on every node (--model-path or POPULACE_MODEL_PATH)"
            )
        self._actors = actors
        self.stats["actors"] = n
        return actors

    def bind(self, model: Any) -> None:
        """Put a :class:`_Delivery` layer at the bottom of ``model``'s chain (just above the backend)."""
        layer = model
        for _ in range(64):
            inner = getattr(layer, "inner", None)
            if inner is None or isinstance(inner, _Delivery):
                return
            if getattr(inner, "inner", None) is None:
                layer.inner = _Delivery(inner)
                return
            layer = inner

    # -- batches -------------------------------------------------------------------------------------------

    def map(
        self,
        model: LanguageModel,
        requests: Sequence[Request],
        *,
        progress: bool = True,
        desc: str = "answers",
        max_workers: int | None = None,
    ) -> list[Any]:
        """Run the cache misses of ``requests`` on the actors, deliver each through ``model``, answer in order."""
        delivery = find_layer(model, _Delivery)
        if delivery is None:
            raise RuntimeError("RayExecutor.map needs a model it is attached to (attach_executor)")
        cache = find_layer(model, CachedModel)
        todo: dict[str, Request] = {}
        if cache is None or cache.mode != "replay":  # replay: every miss is the cache's error, raised below
            for r in requests:
                key = request_key(_kind(r), model.model_id, r)  # type: ignore[arg-type]
                if key not in todo and not (cache is not None and cache.contains(r)):
                    todo[key] = r
        budget = find_layer(model, BudgetedModel)
        left = budget.remaining()["calls"] if budget is not None else None
        items = list(todo.items())[: left if left is not None else None]  # past the budget the chain raises
        done: dict[str, Any] = {}
        if items:
            self._run(items, model, delivery, done, progress=progress, desc=desc)
        results = []
        for r in requests:
            key = request_key(_kind(r), model.model_id, r)  # type: ignore[arg-type]
            results.append(done[key] if key in done else _call(model, r))
        return results

    def _run(self, items, model, delivery: _Delivery, done: dict[str, Any], *, progress: bool, desc: str) -> None:
        import ray
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

        actors = self._ensure_actors(model.model_id)
        alive = set(range(len(actors)))
        size = self.batch_size or max(1, min(64, math.ceil(len(items) / (4 * len(actors)))))
        queue = deque(_slices(items, size))
        inflight: dict[Any, tuple[int, list]] = {}
        load = [0] * len(actors)
        bar = progress_bar(total=len(items), desc=desc, unit="request", enabled=progress, delay=2.0)

        def submit() -> None:
            while queue:
                if not alive:
                    raise ExecutorError(
                        f"every Ray worker was lost ({len(actors)} actors, {self.max_restarts} restarts each); the "
                        "answers so far are in the response cache: rerun to resume, or use --executor local"
                    )
                a = min(alive, key=load.__getitem__)
                if load[a] >= self.in_flight:
                    return
                batch = queue.popleft()
                inflight[actors[a].answer.remote([r for _, r in batch])] = (a, batch)
                load[a] += 1

        try:
            submit()
            while inflight:
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=5.0)
                for ref in ready:
                    a, batch = inflight.pop(ref)
                    load[a] -= 1
                    try:
                        outcomes = ray.get(ref)
                    except (RayActorError, ActorUnavailableError) as exc:  # lost even after Ray's own retries
                        if isinstance(exc, ActorDiedError):  # its restarts are used up: another actor takes over
                            alive.discard(a)
                        self.stats["resubmitted"] += 1
                        queue.appendleft(batch)
                        continue
                    for (key, request), outcome in zip(batch, outcomes, strict=True):
                        if outcome[0]:  # stored now, through the driver's budget, accounting and cache
                            delivery.put(key, outcome)
                            done[key] = _call(model, request)
                        else:  # raised in input order by map()
                            delivery.put(key, outcome)
                    self.stats["batches"] += 1
                    self.stats["requests"] += len(batch)
                    bar.update(len(batch))
                submit()
        finally:
            for ref in inflight:
                ray.cancel(ref)
            bar.close()

    # -- bookkeeping ---------------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Kind, address, actors, threads per actor and the slice counts (``resubmitted`` after a lost actor)."""
        return {"kind": "ray", "address": self.address, "threads": self.threads, **self.stats}

    def close(self) -> None:
        """Kill the actors, and shut Ray down when this executor started it."""
        if not self._actors and not self._started_ray:
            return
        import ray

        for a in self._actors:
            ray.kill(a)
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
