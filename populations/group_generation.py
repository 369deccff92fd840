r"""Group-specific personas from a query and its retrieved seed set (arXiv:2509.10127 Eq. 15 [1]), with checks.

:func:`generate_for_group` asks the LLM for ``n`` new personas of the group described by the query, each from the
query and the retrieved seed personas (one seeded generation per persona, through the project's cached client).
Every generated persona — and every revision written by :func:`populations.subgroups.revise_toward` — passes
:func:`check_persona_text`: not empty, not a copy of a seed, not naming a target answer. A failure is recorded
(``metadata["generation"]["failures"]``: index, reason, reply) and the run goes on; nothing is substituted.

References:
    [1] "Population-Aligned Persona Generation for LLM-based Social Simulation", arXiv:2509.10127.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

import numpy as np

from populace_lm.base import LanguageModel
from populace_lm.types import GenerationRequest, Message, stable_seed
from populations.persona import Persona, Population

__all__ = ["ANSWER_PATTERN", "check_persona_text", "generate_for_group"]

#: A persona that states how it answers ("would answer 4", "scores 7 on", "rates it 3") names a target answer.
ANSWER_PATTERN = re.compile(
    r"\b(answer(?:s|ed)?|respond(?:s|ed)?|rat(?:e|es|ed|ing)|scor(?:e|es|ed|ing)|choos(?:e|es)|pick(?:s|ed)?)\b"
    r"[^.\n]{0,40}?\b\d+(?:\.\d+)?\b",
    re.IGNORECASE,
)
_COPY_RATIO = 0.9


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def check_persona_text(text: str, seeds: Sequence[str], *, forbid: Sequence[str] = ()) -> str | None:
    """Why a generated or revised persona is unusable, or None when it passes.

    Args:
        text: the persona text.
        seeds: the seed personas' texts it was written from.
        forbid: target answers it must not name (e.g. a scenario's answer labels), matched as whole words,
            case-insensitively; a stated numeric answer (:data:`ANSWER_PATTERN`) always fails.

    Returns:
        ``"empty"``, ``"copy of a seed"``, ``"names a target answer"`` or None.
    """
    n = _norm(text)
    if not n:
        return "empty"
    for seed in seeds:
        s = _norm(seed)
        if n == s or SequenceMatcher(None, n, s, autojunk=False).ratio() >= _COPY_RATIO:
            return "copy of a seed"
    if ANSWER_PATTERN.search(text):
        return "names a target answer"
    for word in forbid:
        if word.strip() and re.search(rf"\b{re.escape(word.strip())}\b", text, re.IGNORECASE):
            return "names a target answer"
    return None


def _reply_text(reply: str) -> str:
    text = reply.strip()
    text = re.sub(r"^(?:sure|here(?: is|'s)[^:\n]*)[:!.]\s*", "", text, flags=re.IGNORECASE).strip()
    return text.strip("\"'“”").strip()


def generate_for_group(
    model: LanguageModel,
    seeds: Population,
    query: str,
    n: int,
    *,
    seed: int = 0,
    forbid: Sequence[str] = (),
    max_tokens: int = 120,
) -> Population:
    """Eq. 15 [1]: ``n`` new personas of the group ``query``, each written from the query and the seed set.

    Args:
        model: the LLM (cache-wrapped).
        seeds: the retrieved seed personas (:meth:`populations.subgroups.PersonaIndex.select`).
        query: the group description.
        n: personas to generate (>= 1).
        seed: root seed of the generations.
        forbid: target answers a persona must not name (:func:`check_persona_text`).
        max_tokens: reply length.

    Returns:
        The personas that passed the checks, equally weighted (construction ``"<seeds>+generated"``); when none
        passed, the seed set itself. ``metadata["generation"]`` holds ``requested``, ``accepted`` and every
        failure.

    Raises:
        ValueError: ``n < 1`` or an empty query.
    """
    if n < 1:
        raise ValueError(f"--generate must be >= 1, got {n}")
    if not query.strip():
        raise ValueError("the query is empty")
    examples = "\n".join(f"- {p.text}" for p in seeds.personas)
    texts = [p.text for p in seeds.personas]
    made: list[Persona] = []
    failures: list[dict[str, object]] = []
    for i in range(n):
        req = GenerationRequest(
            messages=(
                Message(role="system", content="You write short first-person character descriptions."),
                Message(
                    role="user",
                    content=f"Group: {query}\n\nPeople similar to this group:\n{examples}\n\nWrite a new, different "
                    "person who belongs to the group, in two or three sentences. Reply with the description only.",
                ),
            ),
            temperature=0.9,
            max_tokens=max_tokens,
            seed=stable_seed("generate", seed, query, i),
        )
        reply = model.generate(req).text
        text = _reply_text(reply)
        reason = check_persona_text(text, texts, forbid=forbid)
        if reason is None:
            reason = check_persona_text(text, [p.text for p in made]) and "copy of an earlier generated persona"
        if reason:
            failures.append({"index": i, "reason": reason, "reply": reply})
            continue
        made.append(
            Persona(
                id=f"gen-{i}",
                text=text,
                attributes={"generated": True, "query": query, "seeds": [p.id for p in seeds.personas]},
            )
        )
    record = {"query": query, "requested": n, "accepted": len(made), "failures": failures}
    if not made:
        return Population(
            personas=seeds.personas,
            weights=seeds.weights,
            construction=seeds.construction,
            metadata={**seeds.metadata, "generation": record},
        )
    return Population(
        personas=tuple(made),
        weights=np.full(len(made), 1.0 / len(made)),
        construction=f"{seeds.construction}+generated",
        metadata={**seeds.metadata, "generation": record},
    )
