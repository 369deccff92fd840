"""Which language model to use, and the wrappers around it, as one frozen spec.

:func:`build_model` composes ``CachedModel(AccountingModel(BudgetedModel(backend)))``: budgets and accounting
sit inside the cache, so cache hits are free and a run stopped by a budget resumes from the cache.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from populace_lm.base import LanguageModel
from populace_lm.budget import AccountingModel, BudgetedModel
from populace_lm.cache import CachedModel
from populace_lm.convert import check_compute_type
from populace_lm.servers import SERVER_KINDS

__all__ = ["DEFAULT_CACHE_PATH", "ENV_VARS", "LLMConfig", "build_model", "close_model", "concurrency_of"]

DEFAULT_CACHE_PATH = "~/.cache/populace/responses.sqlite"
_BACKENDS = ("local", "openai")
_CACHE_MODES = ("readwrite", "replay", "off")

ENV_VARS: dict[str, str] = {
    "backend": "POPULACE_BACKEND",
    "base_url": "POPULACE_BASE_URL",
    "model": "POPULACE_MODEL",
    "model_path": "POPULACE_MODEL_PATH",
    "compute_type": "POPULACE_COMPUTE_TYPE",
    "n_threads": "POPULACE_THREADS",
    "cache_path": "POPULACE_CACHE",
    "cache_mode": "POPULACE_CACHE_MODE",
    "timeout": "POPULACE_TIMEOUT",
    "max_retries": "POPULACE_MAX_RETRIES",
    "concurrency": "POPULACE_CONCURRENCY",
    "rpm": "POPULACE_RPM",
    "tpm": "POPULACE_TPM",
    "server_kind": "POPULACE_SERVER_KIND",
    "top_logprobs": "POPULACE_TOP_LOGPROBS",
    "samples": "POPULACE_SAMPLES",
    "verbose": "POPULACE_VERBOSE",
    "chat_template": "POPULACE_CHAT_TEMPLATE",
}
"""Field name → environment variable read by :meth:`LLMConfig.from_env`."""

_FLAGS = {
    "timeout": "--timeout",
    "max_retries": "--max-retries",
    "concurrency": "--concurrency",
    "rpm": "--rpm",
    "tpm": "--tpm",
    "server_kind": "--server-kind",
    "top_logprobs": "--top-logprobs",
    "samples": "--samples",
    "max_calls": "--max-calls",
    "max_tokens": "max_tokens",
    "chat_template": "--chat-template",
    "n_threads": "--threads",
}
_FLOAT_FIELDS = ("timeout", "rpm", "tpm")
_INT_FIELDS = ("max_retries", "concurrency", "top_logprobs", "samples", "n_threads")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _where(name: str) -> str:
    flag = _FLAGS.get(name, name)
    env = ENV_VARS.get(name)
    return f"{flag} or {env}" if env else flag


def _default_cache_path() -> str:
    return os.environ.get("POPULACE_CACHE") or DEFAULT_CACHE_PATH


@dataclass(frozen=True, kw_only=True)
class LLMConfig:
    """The language-model set-up of a run.

    Attributes:
        backend: ``"local"`` (embedded llama.cpp) or ``"openai"`` (any OpenAI-compatible endpoint).
        model_path: GGUF file for ``local`` (``None`` = the embedded default model).
        compute_type: ``local`` weights as stored (``"native"``) or converted once to ``"f16"``/``"f32"``
            (:mod:`populace_lm.convert`); ``None`` = F32 for the embedded default model, native otherwise.
        n_threads: llama.cpp threads for ``local`` (``--threads``; ``None`` = every core).
        model: model name for ``openai`` (required there).
        base_url: endpoint for ``openai`` (``None`` = the OpenAI API).
        api_key_env: environment variable holding the key for ``openai``.
        cache_path: SQLite response cache (default ``$POPULACE_CACHE``, else
            ``~/.cache/populace/responses.sqlite``).
        cache_mode: ``"readwrite"``, ``"replay"`` (a miss raises) or ``"off"``.
        max_calls: backend call budget (``None`` = unlimited).
        max_calls: backend call budget (``--max-calls``; ``None`` = unlimited); over HTTP it counts attempts,
            retries included.
        max_tokens: backend token budget (``None`` = unlimited).
        timeout: seconds per HTTP attempt (``--timeout``).
        max_retries: retries of a transient fault (429, 5xx, timeout, connection, bad body) per request
            (``--max-retries``).
        concurrency: requests in flight at once (``--concurrency``): the worker count of
            :func:`populace_lm.budget.map_concurrent` for callers, and the remote backend's own bound.
        rpm: client-side requests-per-minute limit (``--rpm``; ``None`` = unlimited).
        tpm: client-side tokens-per-minute limit (``--tpm``; ``None`` = unlimited).
        server_kind: ``"auto"``, ``"openai"``, ``"vllm"``, ``"llamacpp"`` or ``"ollama"`` (``--server-kind``).
        top_logprobs: alternatives read per token for exact distributions (``--top-logprobs``; 0 = always sample).
        samples: replies per sampled distribution (``--samples``; ``None`` = the request's own number; 0 = never
            sample, an uncovered answer set is an error).
        verbose: let the embedded llama.cpp print its own log (``POPULACE_VERBOSE``; the CLI's ``--verbose``).
        chat_template: the model's ``.gguf`` file or a Jinja chat-template file (``--chat-template``); with it a
            remote server continues answer stems through its raw ``/completions`` endpoint (see
            :mod:`populace_lm.templates`), which servers without a continue switch need for exact answers.

    ``max_workers`` is the former name of ``concurrency`` (read-only alias; ``from_dict`` accepts it).

    """

    backend: Literal["local", "openai"] = "local"
    model_path: str | None = None
    compute_type: str | None = None
    n_threads: int | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    cache_path: str = field(default_factory=_default_cache_path)
    cache_mode: Literal["readwrite", "replay", "off"] = "readwrite"
    max_calls: int | None = None
    max_tokens: int | None = None
    timeout: float = 60.0
    max_retries: int = 8
    concurrency: int = 4
    rpm: float | None = None
    tpm: float | None = None
    server_kind: str = "auto"
    top_logprobs: int = 20
    samples: int | None = None
    verbose: bool = False
    chat_template: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in _BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}: use one of {_BACKENDS} (POPULACE_BACKEND)")
        if self.cache_mode not in _CACHE_MODES:
            raise ValueError(f"unknown cache mode {self.cache_mode!r}: use one of {_CACHE_MODES} (POPULACE_CACHE_MODE)")
        if self.backend == "openai" and not self.model:
            raise ValueError("backend 'openai' needs a model name: pass --model (or set POPULACE_MODEL)")
        for name in ("max_calls", "max_tokens", "samples"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be an integer >= 0 or unset, got {value!r}: fix {_where(name)}")
        for name in ("max_retries", "top_logprobs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}: fix {_where(name)}")
        threads = self.n_threads
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"n_threads must be an integer >= 1 or unset, got {threads!r}: fix {_where('n_threads')}")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ValueError(
                f"concurrency must be an integer >= 1, got {self.concurrency!r}: fix {_where('concurrency')}"
            )
        for name in ("timeout", "rpm", "tpm"):
            value = getattr(self, name)
            if value is None and name != "timeout":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number > 0, got {value!r}: fix {_where(name)}")
        if self.server_kind not in SERVER_KINDS:
            raise ValueError(
                f"unknown server kind {self.server_kind!r}: use one of {SERVER_KINDS} ({_where('server_kind')})"
            )
        if not isinstance(self.verbose, bool):
            raise ValueError(f"verbose must be true or false, got {self.verbose!r} (POPULACE_VERBOSE)")
        if self.compute_type is not None:
            check_compute_type(self.compute_type)

    @property
    def max_workers(self) -> int:
        """Former name of :attr:`concurrency`."""
        return self.concurrency

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LLMConfig:
        """Build a config from ``POPULACE_*`` environment variables.

        Reads every variable of :data:`ENV_VARS` (numbers and booleans parsed); keyword ``overrides`` win over
        the environment.

        Args:
            environ: the environment to read (default ``os.environ``).
            **overrides: field values that take precedence.

        Raises:
            ValueError: a variable that does not parse, naming it.

        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or (raw.strip() == "" and name != "verbose"):
                continue
            values[name] = _parse_env(name, var, raw)
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LLMConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: naming unknown keys.

        """
        d = dict(d)
        if "max_workers" in d:  # former name
            d.setdefault("concurrency", d.pop("max_workers"))
            d.pop("max_workers", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown LLMConfig keys {unknown}; known: {sorted(known)}")
        return cls(**d)


def build_model(config: LLMConfig) -> CachedModel:
    """Build ``CachedModel(AccountingModel(BudgetedModel(backend)))`` from a config.

    Use :func:`populace_lm.budget.find_layer` to reach the accounting or budget layer, e.g.
    ``find_layer(model, AccountingModel).summary()``.

    Raises:
        AuthenticationError: ``openai`` backend without a key.
        ModelNotFoundError: ``local`` backend with a missing model file.

    """
    backend: LanguageModel
    if config.backend == "local":
        from populace_lm.local import LocalLlama  # lazy: loads llama.cpp only when asked for

        backend = LocalLlama(
            config.model_path, n_threads=config.n_threads, compute_type=config.compute_type, verbose=config.verbose
        )
    else:
        from populace_lm.openai_compat import OpenAICompatible

        template = None
        if config.chat_template:
            from populace_lm.templates import load_chat_template

            template = load_chat_template(config.chat_template)
        backend = OpenAICompatible(
            model=config.model or "",
            base_url=config.base_url,
            api_key_env=config.api_key_env,
            timeout=config.timeout,
            max_retries=config.max_retries,
            concurrency=config.concurrency,
            rpm=config.rpm,
            tpm=config.tpm,
            server_kind=config.server_kind,
            top_logprobs=config.top_logprobs,
            samples=config.samples,
            chat_template=template,
        )
    budgeted = BudgetedModel(backend, max_calls=config.max_calls, max_tokens=config.max_tokens)
    try:
        return CachedModel(AccountingModel(budgeted), config.cache_path, mode=config.cache_mode)
    except BaseException:
        close_model(backend)
        raise


def close_model(model: Any) -> None:
    """Close every closable layer of a model chain linked by ``.inner``, outermost first.

    The cache checkpoints its write-ahead log (``wal_checkpoint(TRUNCATE)``) and closes its file, so the ``-wal``
    file is empty or gone; a remote backend closes its connection pool. Safe to call twice, and on a model
    that was never used. Call it in a ``finally`` at the end of every command.
    """
    seen = 0
    while model is not None and seen < 64:
        close = getattr(model, "close", None)
        if callable(close):
            close()
        model = getattr(model, "inner", None)
        seen += 1


def concurrency_of(model: Any) -> int:
    """Requests worth keeping in flight for this model chain: a remote backend's ``concurrency``, else 1.

    Use it as ``max_workers`` of :func:`populace_lm.budget.map_concurrent` (the embedded model is serial).
    """
    seen = 0
    while model is not None and seen < 64:
        value = getattr(model, "concurrency", None)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        model = getattr(model, "inner", None)
        seen += 1
    return 1


def _parse_env(name: str, var: str, raw: str) -> Any:
    """One environment value as the field's type; a one-line error naming the variable."""
    text = raw.strip()
    if name == "verbose":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{var}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")
    try:
        if name in _INT_FIELDS:
            return int(text)
        if name in _FLOAT_FIELDS:
            return float(text)
    except ValueError:
        kind = "an integer" if name in _INT_FIELDS else "a number"
        raise ValueError(f"{var}={raw!r} is not {kind}: fix it or unset it") from None
    return raw
