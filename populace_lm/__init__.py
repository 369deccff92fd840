"""The language-model layer: one protocol for every backend.

The embedded llama.cpp model and any OpenAI-compatible endpoint (more through :func:`register_backend`), exact answer distributions, a persistent SQLite response cache, budgets, accounting and test fakes.

>>> from populace_lm import LLMConfig, build_model   # doctest: +SKIP
>>> model = build_model(LLMConfig.from_env())          # doctest: +SKIP

Names are imported lazily (PEP 562), so importing one module of the package stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AccountingModel",
    "AnswerDistribution",
    "AuthenticationError",
    "Backend",
    "BackendOption",
    "BackendUnavailableError",
    "BadResponseError",
    "BudgetExceededError",
    "BudgetedModel",
    "CacheError",
    "CacheMissError",
    "CachedModel",
    "ConfigError",
    "CoverageError",
    "DistributionRequest",
    "EndpointPool",
    "EndpointSpec",
    "ExecutorConfig",
    "ExecutorError",
    "Generation",
    "GenerationRequest",
    "IntegerAnswers",
    "KnownDistributionModel",
    "LLMConfig",
    "LLMError",
    "LanguageModel",
    "LocalExecutor",
    "LocalLlama",
    "Message",
    "ModelNotFoundError",
    "OpenAICompatible",
    "RayExecutor",
    "ScriptedModel",
    "Usage",
    "attach_executor",
    "backend_names",
    "build_model",
    "close_model",
    "concurrency_of",
    "find_layer",
    "get_backend",
    "map_concurrent",
    "parse_endpoints",
    "progress_bar",
    "register_backend",
    "run_requests",
    "set_progress",
    "stable_seed",
]

_WHERE = {
    "AccountingModel": "populace_lm.budget",
    "AnswerDistribution": "populace_lm.types",
    "AuthenticationError": "populace_lm.errors",
    "Backend": "populace_lm.backends",
    "BackendOption": "populace_lm.backends",
    "BackendUnavailableError": "populace_lm.errors",
    "BadResponseError": "populace_lm.errors",
    "BudgetExceededError": "populace_lm.errors",
    "BudgetedModel": "populace_lm.budget",
    "CacheError": "populace_lm.errors",
    "CacheMissError": "populace_lm.errors",
    "CachedModel": "populace_lm.cache",
    "ConfigError": "populace_lm.errors",
    "CoverageError": "populace_lm.errors",
    "DistributionRequest": "populace_lm.types",
    "EndpointPool": "populace_lm.endpoints",
    "EndpointSpec": "populace_lm.endpoints",
    "ExecutorConfig": "populace_lm.executor",
    "ExecutorError": "populace_lm.errors",
    "Generation": "populace_lm.types",
    "GenerationRequest": "populace_lm.types",
    "IntegerAnswers": "populace_lm.types",
    "KnownDistributionModel": "populace_lm.fakes",
    "LLMConfig": "populace_lm.config",
    "LLMError": "populace_lm.errors",
    "LanguageModel": "populace_lm.base",
    "LocalExecutor": "populace_lm.executor",
    "LocalLlama": "populace_lm.local",
    "Message": "populace_lm.types",
    "ModelNotFoundError": "populace_lm.errors",
    "OpenAICompatible": "populace_lm.openai_compat",
    "RayExecutor": "populace_lm.ray_executor",
    "ScriptedModel": "populace_lm.fakes",
    "Usage": "populace_lm.types",
    "attach_executor": "populace_lm.executor",
    "backend_names": "populace_lm.backends",
    "build_model": "populace_lm.config",
    "close_model": "populace_lm.config",
    "concurrency_of": "populace_lm.config",
    "find_layer": "populace_lm.budget",
    "get_backend": "populace_lm.backends",
    "map_concurrent": "populace_lm.budget",
    "parse_endpoints": "populace_lm.endpoints",
    "progress_bar": "populace_lm.progress",
    "register_backend": "populace_lm.backends",
    "run_requests": "populace_lm.executor",
    "set_progress": "populace_lm.progress",
    "stable_seed": "populace_lm.types",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'populace_lm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
