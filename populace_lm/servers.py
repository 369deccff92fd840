"""What differs between OpenAI-compatible servers, and how an answer stem reaches each.

A :class:`~populace_lm.types.DistributionRequest` may carry an *answer stem* (``answer_prefix``, e.g. ``"Rating: "``
or ``"I give $"``): the start of the reply, after which the model writes the number. The embedded backend pre-fills
it. Over HTTP there are two ways:

* ``"continued"`` — the stem is sent as a final assistant message that the server *continues*. Only servers with
  an explicit switch do that reliably: vLLM (``continue_final_message=True, add_generation_prompt=False`` in the
  request body).
* ``"folded"`` — everywhere else the stem is folded into the instruction: the last user message gains one sentence
  naming the stem (:data:`FOLD_TEMPLATE`), and the reply is read from its first token. The OpenAI API, Ollama and
  llama-cpp-python's server all start a *new* assistant message after a trailing assistant one, so a stem sent
  there is not continued (the reply then rarely starts with the number).

The server kind comes from ``--server-kind`` or, with ``auto``, from ``GET /models`` (its ``owned_by`` and
fields) and the response's ``Server`` header: :func:`detect_server_kind`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlparse

from populace_lm.types import Message

__all__ = [
    "CONTINUING_KINDS",
    "FOLD_TEMPLATE",
    "SERVER_KINDS",
    "StemMode",
    "continue_extra_body",
    "detect_server_kind",
    "fold_stem",
    "stem_mode",
]

SERVER_KINDS = ("auto", "openai", "vllm", "llamacpp", "ollama")
"""Accepted ``--server-kind`` values (``POPULACE_SERVER_KIND``)."""

CONTINUING_KINDS = frozenset({"vllm"})
"""Kinds that continue a final assistant message when asked to."""

StemMode = Literal["continued", "folded", "none"]

FOLD_TEMPLATE = '\n\nStart your reply with the number that completes "{stem}".'
"""The sentence appended to the last user message when a stem is folded (``{stem}`` = the stem, stripped)."""


def stem_mode(kind: str, stem: str) -> StemMode:
    """How a stem reaches a server of this kind: ``"none"`` for an empty stem."""
    if not stem:
        return "none"
    return "continued" if kind in CONTINUING_KINDS else "folded"


def fold_stem(messages: tuple[Message, ...], stem: str) -> tuple[Message, ...]:
    """The chat with the stem folded into its last user message (a user message is added when there is none).

    >>> print(fold_stem((Message(role="user", content="Rate it."),), "Rating: ")[-1].content)
    Rate it.
    <BLANKLINE>
    Start your reply with the number that completes "Rating:".
    """
    note = FOLD_TEMPLATE.format(stem=stem.strip())
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            folded = Message(role="user", content=messages[i].content + note)
            return (*messages[:i], folded, *messages[i + 1 :])
    return (*messages, Message(role="user", content=note.strip()))


def continue_extra_body(kind: str) -> dict[str, Any]:
    """Request-body fields that make a server of this kind continue a final assistant message."""
    if kind == "vllm":
        return {"continue_final_message": True, "add_generation_prompt": False}
    return {}


def detect_server_kind(models: Any, headers: Mapping[str, str] | None, base_url: str | None) -> str:
    """Guess the server kind from a ``GET /models`` body, its response headers and the base URL.

    Signals: vLLM lists ``owned_by: "vllm"`` (and ``max_model_len``); llama.cpp's ``llama-server`` sends
    ``Server: llama.cpp`` and ``owned_by: "llamacpp"``; llama-cpp-python lists ``owned_by: "me"`` with a
    ``permissions`` list; Ollama listens on port 11434 and lists ``owned_by: "library"`` or ``"ollama"``; anything
    else is treated as the OpenAI API (stems folded: the safe choice).

    >>> detect_server_kind({"data": [{"id": "m", "owned_by": "vllm", "max_model_len": 4096}]}, {}, None)
    'vllm'
    >>> detect_server_kind({"data": [{"id": "m", "owned_by": "me", "permissions": []}]}, {}, None)
    'llamacpp'
    """
    server = str((headers or {}).get("server", "")).lower()
    if "llama.cpp" in server or "llama-server" in server:
        return "llamacpp"
    if "ollama" in server:
        return "ollama"
    entries = models.get("data") if isinstance(models, Mapping) else None
    first = entries[0] if isinstance(entries, list) and entries and isinstance(entries[0], Mapping) else {}
    owner = str(first.get("owned_by", "")).lower()
    if owner == "vllm" or "max_model_len" in first:
        return "vllm"
    if owner == "llamacpp" or (owner == "me" and "permissions" in first):
        return "llamacpp"
    if owner in ("ollama", "library"):
        return "ollama"
    if base_url and urlparse(base_url).port == 11434:
        return "ollama"
    return "openai"
