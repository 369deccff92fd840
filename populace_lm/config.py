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

__all__ = ["DEFAULT_CACHE_PATH", "LLMConfig", "build_model"]

DEFAULT_CACHE_PATH = "~/.cache/populace/responses.sqlite"
_BACKENDS = ("local", "openai")
_CACHE_MODES = ("readwrite", "replay", "off")


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
        model: model name for ``openai`` (required there).
        base_url: endpoint for ``openai`` (``None`` = the OpenAI API).
        api_key_env: environment variable holding the key for ``openai``.
        cache_path: SQLite response cache (default ``$POPULACE_CACHE``, else
            ``~/.cache/populace/responses.sqlite``).
        cache_mode: ``"readwrite"``, ``"replay"`` (a miss raises) or ``"off"``.
        max_calls: backend call budget (``None`` = unlimited).
        max_tokens: backend token budget (``None`` = unlimited).
        max_workers: concurrency bound for :func:`populace_lm.budget.map_concurrent` (remote endpoints).

    """

    backend: Literal["local", "openai"] = "local"
    model_path: str | None = None
    compute_type: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    cache_path: str = field(default_factory=_default_cache_path)
    cache_mode: Literal["readwrite", "replay", "off"] = "readwrite"
    max_calls: int | None = None
    max_tokens: int | None = None
    max_workers: int = 4

    def __post_init__(self) -> None:
        if self.backend not in _BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}: use one of {_BACKENDS} (POPULACE_BACKEND)")
        if self.cache_mode not in _CACHE_MODES:
            raise ValueError(f"unknown cache mode {self.cache_mode!r}: use one of {_CACHE_MODES} (POPULACE_CACHE_MODE)")
        if self.backend == "openai" and not self.model:
            raise ValueError("backend 'openai' needs a model name: set POPULACE_MODEL or pass model=...")
        for name in ("max_calls", "max_tokens"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value}")
        if self.compute_type is not None:
            check_compute_type(self.compute_type)
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {self.max_workers}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LLMConfig:
        """Build a config from ``POPULACE_*`` environment variables.

        Reads ``POPULACE_BACKEND``, ``POPULACE_BASE_URL``, ``POPULACE_MODEL``, ``POPULACE_MODEL_PATH``,
        ``POPULACE_COMPUTE_TYPE``, ``POPULACE_CACHE`` and ``POPULACE_CACHE_MODE``; keyword ``overrides`` win over the environment.

        Args:
            environ: the environment to read (default ``os.environ``).
            **overrides: field values that take precedence.

        """
        env = os.environ if environ is None else environ
        names = {
            "backend": "POPULACE_BACKEND",
            "base_url": "POPULACE_BASE_URL",
            "model": "POPULACE_MODEL",
            "model_path": "POPULACE_MODEL_PATH",
            "compute_type": "POPULACE_COMPUTE_TYPE",
            "cache_path": "POPULACE_CACHE",
            "cache_mode": "POPULACE_CACHE_MODE",
        }
        values: dict[str, Any] = {f: env[v] for f, v in names.items() if env.get(v)}
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

        backend = LocalLlama(config.model_path, compute_type=config.compute_type)
    else:
        from populace_lm.openai_compat import OpenAICompatible

        backend = OpenAICompatible(model=config.model or "", base_url=config.base_url, api_key_env=config.api_key_env)
    budgeted = BudgetedModel(backend, max_calls=config.max_calls, max_tokens=config.max_tokens)
    return CachedModel(AccountingModel(budgeted), config.cache_path, mode=config.cache_mode)
