"""A what-if's intervention: the treatment message, the two conditions, and how a condition asks a question.

* :class:`Treatment` — a message added to the question or to the persona's system prompt;
* :class:`WhatIfConditions` — the control and the intervention of one study, checked on construction (the one
  place the rules live: :func:`simulator.run_whatif` and ``populace whatif`` both construct it);
* :func:`treated_system_prompt` and :func:`treated_question` — the one place a condition's treatment is applied,
  used by the simulation's agents (:class:`simulator.base.SimulationModel`) and by the exact expectations
  (:func:`simulator.whatif.exact_survey_means`), so both ask exactly the same prompts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from scenarios.question import Question
from simulator.errors import SimulationError

if TYPE_CHECKING:
    from simulator.runner import RunConfig

__all__ = ["Treatment", "WhatIfConditions", "treated_question", "treated_system_prompt"]


@dataclass(frozen=True, kw_only=True)
class Treatment:
    r"""An intervention message shown to every agent of the treated condition.

    Attributes:
        text: the message (e.g. a framing, a piece of information); must not be blank.
        where: ``"question"`` puts it before each question's text (the same user message);
            ``"system"`` appends it to the persona's system prompt.

    >>> Treatment(text="Most people in your town recycle.").question_text("Do you recycle?")
    'Most people in your town recycle.\n\nDo you recycle?'
    """

    text: str
    where: Literal["question", "system"] = "question"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise SimulationError('the treatment text is empty; give the message to add, e.g. --treatment "..."')
        if self.where not in ("question", "system"):
            raise SimulationError(f"treatment where={self.where!r} is not 'question' or 'system'")
        object.__setattr__(self, "text", self.text.strip())

    def question_text(self, prompt: str) -> str:
        """The question's user message with the treatment before it (``where="question"``)."""
        return f"{self.text}\n\n{prompt}" if self.where == "question" else prompt

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"text": self.text, "where": self.where}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Treatment:
        """Inverse of :meth:`to_dict`."""
        return cls(text=d["text"], where=d.get("where", "question"))


def treated_system_prompt(treatment: Treatment | None, persona_text: str) -> str:
    """The persona's system prompt as a condition sends it: the treatment after it when ``where="system"``.

    ``treatment=None`` is the control condition: the persona's text unchanged.
    """
    if treatment is None or treatment.where != "system":
        return persona_text
    return f"{persona_text}\n\n{treatment.text}" if persona_text else treatment.text


def treated_question(treatment: Treatment | None, question: Question) -> Question:
    """The question as a condition asks it: the treatment before its text when ``where="question"``.

    ``treatment=None`` is the control condition: the question unchanged.
    """
    if treatment is None or treatment.where != "question":
        return question
    return replace(question, prompt=treatment.question_text(question.prompt))


@dataclass(frozen=True, kw_only=True)
class WhatIfConditions:
    """The control and the intervention of a what-if study, checked against the run config on construction.

    Give either ``intervention`` (game parameters; ``baseline`` parameters for the control) or a ``treatment``
    (any scenario; for a game, ``baseline`` parameters then apply to both conditions). Parameter conditions each
    replace the config's parameters independently (the intervention does not inherit the baseline's changes).

    Attributes:
        config: the shared run config (``replicates`` ≥ 2 paired seeds).
        baseline: game parameters of the control condition (NAME → value).
        intervention: game parameters of the intervention condition.
        treatment: the intervention message (instead of ``intervention``).

    Raises:
        SimulationError: fewer than 2 replicates, neither or both kinds of intervention, game parameters for a survey
            or decision task (one line each, naming the command-line flag to use).
        ScenarioError: an unknown game parameter or an out-of-range value.
    """

    config: RunConfig
    baseline: Mapping[str, Any] = field(default_factory=dict)
    intervention: Mapping[str, Any] = field(default_factory=dict)
    treatment: Treatment | None = None

    def __post_init__(self) -> None:
        baseline, intervention = dict(self.baseline or {}), dict(self.intervention or {})
        object.__setattr__(self, "baseline", baseline)
        object.__setattr__(self, "intervention", intervention)
        config, treatment = self.config, self.treatment
        if config.replicates < 2:
            raise SimulationError(f"what-if needs at least 2 seeds for paired CIs (--seeds), got {config.replicates}")
        if treatment is None and not intervention:
            raise SimulationError(
                "what-if needs an intervention: game parameters (--intervention NAME=VALUE) "
                "or a treatment message (--treatment TEXT)"
            )
        if treatment is not None and intervention:
            raise SimulationError(
                "give either intervention parameters (--intervention) or a treatment message (--treatment), not both"
            )
        if config.is_survey:
            if baseline or intervention:
                raise SimulationError(
                    f"{config.scenario!r} is a survey or decision task: its what-if is a treatment message "
                    "(use --treatment TEXT), not game parameters (--baseline/--intervention)"
                )
        else:
            for cond in (baseline, intervention):
                config.game.with_params(**cond)  # unknown parameter / out of range: before any LLM call

    def runs(self) -> dict[str, dict[str, Any]]:
        """Condition name → the keyword arguments of :func:`simulator.runner.run_simulation` that make it.

        ``{"baseline": {"overrides": …, "treatment": None}, "intervention": {"overrides": …, "treatment": …}}``.
        """
        treated = self.treatment is not None
        return {
            "baseline": {"overrides": self.baseline, "treatment": None},
            "intervention": {"overrides": self.baseline if treated else self.intervention, "treatment": self.treatment},
        }
