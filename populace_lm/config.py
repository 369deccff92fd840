"""Which language model to use, and the wrappers around it, as one frozen spec.

:func:`build_model` composes ``CachedModel(AccountingModel(BudgetedModel(backend)))``: budgets and accounting
sit inside the cache, so cache hits are free and a run stopped by a budget resumes from the cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from populace_lm.backends import get_backend
from populace_lm.base import LanguageModel
from populace_lm.budget import AccountingModel, BudgetedModel
from populace_lm.cache import CachedModel
from populace_lm.errors import ConfigError

__all__ = ["COMMON_ENV_VARS", "DEFAULT_CACHE_PATH", "LLMConfig", "build_model", "close_model", "concurrency_of"]

DEFAULT_CACHE_PATH = "~/.cache/populace/responses.sqlite"
_CACHE_MODES = ("readwrite", "replay", "off")

COMMON_ENV_VARS: dict[str, str] = {
    "backend": "POPULACE_BACKEND",
    "cache_path": "POPULACE_CACHE",
    "cache_mode": "POPULACE_CACHE_MODE",
    "verbose": "POPULACE_VERBOSE",
}
"""Common field → environment variable read by :meth:`LLMConfig.from_env` (each backend declares its own)."""

_FLAGS = {"max_calls": "--max-calls", "max_tokens": "max_tokens"}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_COMMON = ("backend", "cache_path", "cache_mode", "max_calls", "max_tokens", "verbose")


def _default_cache_path() -> str:
    return os.environ.get("POPULACE_CACHE") or DEFAULT_CACHE_PATH


@dataclass(frozen=True, init=False)
class LLMConfig:
    """The language-model set-up of a run: the common knobs and the chosen backend's own option section.

    The section holds every option the backend registered (:mod:`populace_lm.backends`), defaults filled in and
    validated; ``LLMConfig(backend="openai", model="m", timeout=5)`` puts the keywords that are not common knobs
    into it, and ``config.timeout`` reads it back (an option of another backend is an ``AttributeError``).

    Built-in sections: ``local`` (embedded llama.cpp) takes ``model_path``, ``compute_type`` and ``n_threads``;
    ``openai`` (any OpenAI-compatible endpoint, or several: ``base_url`` takes a URL list or a file) takes ``model``
    (required), ``base_url``, ``api_key_env``, ``timeout``, ``retry_budget``, ``max_retries``, ``concurrency``,
    ``rpm``, ``tpm``, ``rate_scope``, ``server_kind``, ``top_logprobs``, ``samples`` and ``chat_template``; their flags, environment variables and help are declared where they are
    registered.

    Attributes:
        backend: a registered backend name: ``"local"`` (default), ``"openai"`` or a plugin's.
        options: the backend's resolved option section (read-only by convention).
        cache_path: SQLite response cache (default ``$POPULACE_CACHE``, else
            ``~/.cache/populace/responses.sqlite``).
        cache_mode: ``"readwrite"``, ``"replay"`` (a miss raises) or ``"off"``.
        max_calls: backend call budget (``--max-calls``; ``None`` = unlimited); over HTTP it counts attempts,
            retries included.
        max_tokens: backend token budget (``None`` = unlimited).
        verbose: let the backend print its own log (``POPULACE_VERBOSE``; the CLI's ``--verbose``).

    Raises:
        ConfigError: an unknown backend (naming the registered ones), an option the backend does not take, or an
            invalid value (naming its flag and environment variable).
    """

    backend: str
    options: dict[str, Any]
    cache_path: str
    cache_mode: str
    max_calls: int | None
    max_tokens: int | None
    verbose: bool

    def __init__(
        self,
        *,
        backend: str = "local",
        options: Mapping[str, Any] | None = None,
        cache_path: str | None = None,
        cache_mode: str = "readwrite",
        max_calls: int | None = None,
        max_tokens: int | None = None,
        verbose: bool = False,
        **backend_options: Any,
    ) -> None:
        spec = get_backend(backend)
        section = dict(options or {})
        twice = sorted(set(section) & set(backend_options))
        if twice:
            raise ConfigError(f"LLMConfig: {twice} given both in options= and as keywords; give each once")
        section.update(backend_options)
        if cache_mode not in _CACHE_MODES:
            raise ConfigError(f"unknown cache mode {cache_mode!r}: use one of {_CACHE_MODES} (POPULACE_CACHE_MODE)")
        for name, value in (("max_calls", max_calls), ("max_tokens", max_tokens)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigError(f"{name} must be an integer >= 0 or unset, got {value!r}: fix {_FLAGS[name]}")
        if not isinstance(verbose, bool):
            raise ConfigError(f"verbose must be true or false, got {verbose!r} (POPULACE_VERBOSE)")
        values = {
            "backend": backend,
            "options": spec.resolve(section),
            "cache_path": _default_cache_path() if cache_path is None else cache_path,
            "cache_mode": cache_mode,
            "max_calls": max_calls,
            "max_tokens": max_tokens,
            "verbose": verbose,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        """An option of the backend's section, e.g. ``config.model`` of an ``openai`` config."""
        options = self.__dict__.get("options")
        if options is not None and name in options:
            return options[name]
        backend = self.__dict__.get("backend")
        raise AttributeError(f"LLMConfig of backend {backend!r} has no option or field {name!r}")

    def __hash__(self) -> int:
        return hash((self.backend, tuple(sorted(self.options.items())), *(getattr(self, n) for n in _COMMON[1:])))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LLMConfig:
        """Build a config from ``POPULACE_*`` environment variables.

        Reads :data:`COMMON_ENV_VARS`, then the variables the chosen backend declares for its options (numbers
        and booleans parsed); keyword ``overrides`` (common knobs or the backend's options) win over the
        environment.

        Args:
            environ: the environment to read (default ``os.environ``).
            **overrides: field or option values that take precedence.

        Raises:
            ConfigError: a variable that does not parse, naming it.

        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in COMMON_ENV_VARS.items():
            raw = env.get(var)
            if raw is None or (raw.strip() == "" and name != "verbose"):
                continue
            if name == "verbose":
                values[name] = _parse_bool(var, raw)
            else:  # a path is kept as given; a name loses stray spaces
                values[name] = raw if name == "cache_path" else raw.strip()
        common = {k: v for k, v in overrides.items() if k in _COMMON}
        values.update(common)
        spec = get_backend(values.get("backend", "local"))
        section = spec.read_env(env)
        section.update(overrides.pop("options", None) or {})
        section.update({k: v for k, v in overrides.items() if k not in _COMMON})
        return cls(options=section, **values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form: the common knobs, and the backend's section under the backend's name."""
        d: dict[str, Any] = {name: getattr(self, name) for name in _COMMON}
        d[self.backend] = dict(self.options)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LLMConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: naming unknown keys, or a section that is not a mapping.

        """
        d = dict(d)
        backend = d.get("backend", "local")
        section = d.pop(backend, None) if isinstance(backend, str) else None
        unknown = sorted(set(d) - set(_COMMON))
        if unknown:
            known = [*_COMMON, "<backend name>"]
            raise ConfigError(f"unknown LLMConfig keys {unknown}; known: {known}")
        if section is not None and not isinstance(section, Mapping):
            raise ConfigError(f"LLMConfig section {backend!r} must be a mapping of options, got {section!r}")
        return cls(options=section, **d)


def build_model(config: LLMConfig) -> CachedModel:
    """Build ``CachedModel(AccountingModel(BudgetedModel(backend)))`` from a config.

    Use :func:`populace_lm.budget.find_layer` to reach the accounting or budget layer, e.g.
    ``find_layer(model, AccountingModel).summary()``.

    The backend comes from the factory registered for ``config.backend`` (:mod:`populace_lm.backends`), called
    with the resolved option section plus ``verbose``.

    Raises:
        AuthenticationError: ``openai`` backend without a key.
        ModelNotFoundError: ``local`` backend with a missing model file.
        ConfigError: a factory that returned something that is not a :class:`~populace_lm.base.LanguageModel`.

    """
    backend = get_backend(config.backend).factory({**config.options, "verbose": config.verbose})
    if not isinstance(backend, LanguageModel):
        close_model(backend)
        raise ConfigError(
            f"backend {config.backend!r} built a {type(backend).__name__}, which is no LanguageModel "
            "(it needs model_id, generate and answer_distribution)"
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
        executor = vars(model).get("executor") if hasattr(model, "__dict__") else None
        if executor is not None:  # populace_lm.executor.attach_executor: Ray actors are released too
            executor.close()
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


def _parse_bool(var: str, raw: str) -> bool:
    """A boolean environment value; a one-line error naming the variable."""
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{var}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")
