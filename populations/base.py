"""One base for every population builder (the scikit-learn estimator contract, shared once).

A builder's ``__init__`` only stores its parameters; ``fit`` validates, does the work and returns ``self``; learned
attributes end in ``_``. :class:`BaseBuilder` derives :meth:`~BaseBuilder.get_params` / :meth:`~BaseBuilder.set_params`
from the ``__init__`` signature (language models are serialised by their ``model_id``), and gives every builder the
same :meth:`~BaseBuilder.to_population`, :meth:`~BaseBuilder.sample` and :meth:`~BaseBuilder.to_dict` (the fit
record with the :class:`~populations.persona.Population` embedded under ``"population"``, so one file holds both).
Using a builder before ``fit`` raises :class:`NotFittedError`.

Example:
    >>> from populations.baselines import FixedPromptBuilder
    >>> b = FixedPromptBuilder("You are a farmer.")
    >>> b.get_params()
    {'system_prompt': 'You are a farmer.'}
    >>> len(b.fit().sample(5, rng=0))
    1
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from alignment import sample_mixture
from populations.persona import Population

__all__ = ["BaseBuilder", "NotFittedError", "WeightSolverError", "check_is_fitted"]


class NotFittedError(ValueError, AttributeError):
    """A builder was used before ``fit`` (a ``ValueError`` and an ``AttributeError``, as in scikit-learn)."""


class WeightSolverError(ValueError):
    """The mixture-weight solver returned weights that fit worse than a candidate it was given alone.

    The fixed-prompt (default) component is always a candidate, so the optimum can never be worse than it; this
    error means the solver failed (switch ``weight_method`` to ``"lp"`` or report the inputs).
    """


def check_is_fitted(builder: Any, attrs: str | Iterable[str] = ("population_",)) -> None:
    """Raise :class:`NotFittedError` unless ``builder`` has every fitted attribute in ``attrs``.

    Args:
        builder: a population builder.
        attrs: the learned attribute name(s) ``fit`` sets.

    Raises:
        NotFittedError: naming the builder, the missing attribute and the call to make first.

    Example:
        >>> from populations.baselines import FixedPromptBuilder
        >>> check_is_fitted(FixedPromptBuilder())
        Traceback (most recent call last):
        ...
        populations.base.NotFittedError: FixedPromptBuilder is not fitted (no population_): call fit(scenario, values) first
    """
    names = (attrs,) if isinstance(attrs, str) else tuple(attrs)
    for name in names:
        if not hasattr(builder, name):
            raise NotFittedError(f"{type(builder).__name__} is not fitted (no {name}): call {_fit_call(builder)} first")


def _fit_call(builder: Any) -> str:
    try:
        params = [p for p in inspect.signature(builder.fit).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    except (TypeError, ValueError):
        return "fit(...)"
    return f"fit({', '.join(p.name for p in params)})" if params else "fit(...)"


def _plain(value: Any) -> Any:
    """A parameter value as plain JSON: models by ``model_id``, arrays and tuples as lists."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "model_id") and (hasattr(value, "generate") or hasattr(value, "answer_distribution")):
        return str(value.model_id)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v) for v in value]
    return str(value)


class BaseBuilder:
    """Shared parameter handling, sampling and serialisation of population builders.

    Subclasses set :attr:`kind` (the ``to_dict`` document kind), store every ``__init__`` argument under its own
    name, implement the one ``fit(scenario, values, *, sample_weight=None)`` (setting ``population_``) and may extend :meth:`_fit_record` with their learned attributes.

    Attributes:
        kind: the document kind written by :meth:`to_dict` (e.g. ``"populace.prompt_mixture"``).
    """

    kind: ClassVar[str] = "populace.builder"

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters by name, from the ``__init__`` signature, as plain JSON.

        Language models appear as their ``model_id``; arrays and tuples as lists.
        """
        return {name: _plain(getattr(self, name)) for name in self._param_names()}

    def fit(self, scenario: Any, values: Any, *, sample_weight: Any = None) -> BaseBuilder:
        """The one fit signature of every builder: fit to ``values`` of humans on ``scenario``; returns ``self``.

        Args:
            scenario: a scenario of the Scenario protocol (a target-free builder ignores it).
            values: the humans' values (the fit half), shape ``(n,)``, or ``(n, D)`` for a builder of several
                dimensions.
            sample_weight: survey weights of those humans, shape ``(n,)``, or None (equal).

        Raises:
            NotImplementedError: a subclass that does not implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement fit(scenario, values, *, sample_weight=None)")

    def set_params(self, **params: Any) -> BaseBuilder:
        """Set constructor parameters (the learned attributes are left alone; refit to use them).

        Raises:
            ValueError: an unknown parameter name, listing the valid ones.
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; valid parameters: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ---------------------------------------------------------------------------------- fitted outputs
    def to_population(self) -> Population:
        """The fitted :class:`~populations.persona.Population`.

        Raises:
            NotFittedError: before ``fit``.
        """
        check_is_fitted(self)
        return self.population_  # type: ignore[attr-defined,no-any-return]

    def _rng(self, rng: np.random.Generator | int | None) -> np.random.Generator:
        if isinstance(rng, np.random.Generator):
            return rng
        return np.random.default_rng(getattr(self, "random_state", 0) if rng is None else rng)

    def sample(self, n: int, *, rng: np.random.Generator | int | None = None) -> Population:
        """The empirical population of ``n`` agents drawn by weight (with replacement; the paper's protocol).

        Args:
            n: number of agents (>= 1).
            rng: a generator (advanced by the call; pass one per call for fresh draws) or an int seed;
                ``None`` = the builder's ``random_state`` (the same draws on every call).

        Returns:
            A population of the drawn personas weighted by their counts / n.

        Raises:
            NotFittedError: before ``fit``.
            ValueError: ``n`` < 1.
        """
        pop = self.to_population()
        if not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        return pop.resample(int(n), rng=self._rng(rng))

    def sample_answers(self, n: int, *, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Answers of ``n`` simulated agents: each agent is drawn by weight and answers once from its pmf.

        This is the *sampled* counterpart of the exact mixture pmf, the number to set beside a human floor of
        ``n`` humans (:func:`alignment.sample_mixture`).

        Args:
            n: number of agents.
            rng: generator or int seed (``None`` = ``random_state``).

        Returns:
            Answers on ``support_``, shape ``(n,)``.

        Raises:
            NotFittedError: before ``fit``, or for a builder without per-component answer distributions.
        """
        check_is_fitted(self, ("weights_", "component_pmfs_", "support_"))
        _, answers = sample_mixture(
            self.weights_,  # type: ignore[attr-defined]
            self.component_pmfs_,  # type: ignore[attr-defined]
            self.support_,  # type: ignore[attr-defined]
            n,
            rng=self._rng(rng),
        )
        return answers

    def _fit_record(self) -> dict[str, Any]:
        """Learned attributes for :meth:`to_dict` beyond the population (subclasses extend)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """The fit record as plain JSON: kind, builder, params, learned attributes and ``"population"``.

        Raises:
            NotFittedError: before ``fit``.
        """
        pop = self.to_population()
        return {
            "kind": self.kind,
            "version": 1,
            "builder": type(self).__name__,
            "params": self.get_params(),
            **self._fit_record(),
            "population": pop.to_dict(),
        }
