"""Errors raised by the language-model layer.

Every error is a user-facing one-liner that names the thing that failed and the fix (a command-line flag or an
environment variable); the CLI prints it without a traceback.
"""

__all__ = [
    "AuthenticationError",
    "BackendUnavailableError",
    "BadResponseError",
    "BudgetExceededError",
    "CacheError",
    "CacheMissError",
    "ConfigError",
    "CoverageError",
    "ExecutorError",
    "LLMError",
    "ModelNotFoundError",
    "RequestRejectedError",
]


class LLMError(Exception):
    """Base class of language-model errors."""


class BackendUnavailableError(LLMError):
    """The endpoint could not be reached, or kept failing transiently after every retry."""


class AuthenticationError(LLMError):
    """The endpoint rejected the key (missing or wrong)."""


class BadResponseError(LLMError):
    """The backend answered with something that is not a valid response (after every retry)."""


class RequestRejectedError(BadResponseError):
    """The endpoint refused the request itself (HTTP 400/404/422...): retrying cannot help, a setting must change."""


class CoverageError(LLMError):
    """Top-k log-probabilities did not cover the answers and sampling is switched off (``--samples 0``)."""


class BudgetExceededError(LLMError):
    """A call or token budget ran out; everything computed so far stays in the cache."""


class CacheMissError(LLMError):
    """Replay mode found no cached answer for a request."""


class CacheError(LLMError):
    """The response-cache path is unusable (a folder, not an SQLite file, not writable)."""


class ExecutorError(LLMError):
    """The executor cannot run batches: an unreachable Ray cluster, workers that load another model, or every worker lost."""


class ModelNotFoundError(LLMError):
    """A model file or the embedded default model could not be found."""


class ConfigError(LLMError, ValueError):
    """A language-model setting is invalid: an unknown backend or option, a value of the wrong type or out of range.

    It is a ``ValueError`` too, as the bad value of a setting is.
    """
