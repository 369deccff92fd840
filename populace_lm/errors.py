"""Errors raised by the language-model layer.

Every error is a user-facing one-liner that names the thing that failed and the fix; the CLI prints it
without a traceback.
"""


class LLMError(Exception):
    """Base class of language-model errors."""


class BackendUnavailableError(LLMError):
    """The endpoint could not be reached (after the client's own retries)."""


class AuthenticationError(LLMError):
    """The endpoint rejected the key (missing or wrong)."""


class BadResponseError(LLMError):
    """The backend answered with something that is not a valid response."""


class BudgetExceededError(LLMError):
    """A call or token budget ran out; everything computed so far stays in the cache."""


class CacheMissError(LLMError):
    """Replay mode found no cached answer for a request."""


class ModelNotFoundError(LLMError):
    """A model file or the embedded default model could not be found."""
