r"""The one construction registry: every kind a study, ``fit`` or a plugin builds, declared once.

A :class:`ConstructionKind` is a frozen spec: its typed parameters (:class:`scenarios.schema.Param`, validated by
:func:`scenarios.schema.read_table`, rendered into ``docs/study_files.md``), its ``build`` (a
:class:`BuildContext` and the validated parameters → a :class:`BuiltConstruction` holding a
:class:`~populations.persona.Population`), its ``estimate`` for ``--plan`` and its flags. ``compare``, ``fit``,
``demo`` and the paper reproductions read kinds from here only; a plugin adds one with
:func:`register_construction` (see ``POPULACE_PLUGINS`` in ``docs/study_files.md``).

Several dimensions (``bigfive``, a survey file declaring several): a kind with ``per_dimension=True`` (EM, GB,
MoP) is built on each dimension and the union of the components gets one weight vector fitted on all dimensions
at once (:func:`build_construction`,

.. math:: \min_{w \in \Delta_K} \frac1D \sum_d W_1\Big(\sum_k w_k p^{(k)}_d, q^{\text{fit}}_d\Big));

any other kind receives the whole scenario once: target-free kinds ignore the humans, ``aligned`` matches the
``(N, D)`` vectors of dimension scores.

Example:
    >>> from populations.constructions import construction_kinds, get_construction
    >>> [k.name for k in construction_kinds()][:3]
    ['fixed', 'pool', 'demographic']
    >>> get_construction("fixed").target_free
    True
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from scenarios.schema import Param

__all__ = [
    "BuildContext",
    "BuiltConstruction",
    "ConstructionError",
    "ConstructionKind",
    "Estimate",
    "build_construction",
    "construction_kinds",
    "estimate_construction",
    "get_construction",
    "register_construction",
]


class ConstructionError(ValueError):
    """A construction problem the user can fix (unknown kind, a bad registration, a pool too small)."""


@dataclass(frozen=True)
class Estimate:
    """What one construction costs on ``q`` questions of one dimension (``--plan``; retries and cache hits aside).

    Attributes:
        components: personas or prompts of the built population.
        requests: distinct LLM requests: distribution requests plus crafter generations.
        tokens: estimated prompt + completion tokens of those requests (a rough guide: see each kind).
    """

    components: int
    requests: int
    tokens: int = 0


@dataclass(frozen=True)
class BuildContext:
    """Everything a kind may build from, for one scenario of a study (or one ``populace fit``).

    Attributes:
        scenario: the scenario (one or several dimensions); None for a model-free build.
        parts: one one-dimensional scenario per dimension (``(scenario,)`` with one).
        fit: fit-half human values, shape ``(n,)`` or ``(n, D)`` with several dimensions.
        fit_weights: survey weights of the fit half, shape ``(n,)``, or None.
        model: the (metered, cache-wrapped) respondent model; None for a model-free build.
        crafter: the model that writes prompts (None: the respondent).
        source: the human data source (``--data``; None = default).
        seed: the construction's seed (its ``random_state``).
        split_seed: seed of the study's fit/test split (a kind drawing humans' rows keeps to the fit half).
        fit_fraction: share of humans in the fit half.
        progress: show progress bars.
        name: the construction's name (labels, progress).
        part_fits: with several dimensions, each dimension's own fit half ``(values (n_j,), weights (n_j,) | None)``
            (respondents complete on that dimension's items; ``fit`` holds those complete on every dimension).
    """

    scenario: Any = None
    parts: tuple[Any, ...] = ()
    fit: np.ndarray = field(default_factory=lambda: np.empty(0))
    fit_weights: np.ndarray | None = None
    model: Any = None
    crafter: Any = None
    source: str | None = None
    seed: int = 0
    split_seed: int = 0
    fit_fraction: float = 0.5
    progress: bool = False
    name: str = ""
    part_fits: tuple[tuple[np.ndarray, np.ndarray | None], ...] = ()

    def __post_init__(self) -> None:
        if not self.parts and self.scenario is not None:
            object.__setattr__(self, "parts", (self.scenario,))

    @property
    def joint(self) -> bool:
        """True for several dimensions."""
        return len(self.parts) > 1

    def dimension(self, j: int) -> BuildContext:
        """The context of dimension ``j`` alone: its one-dimensional scenario and fit values ``(n,)``."""
        if self.part_fits:
            fit, weights = self.part_fits[j]
            return replace(
                self, scenario=self.parts[j], parts=(self.parts[j],), fit=fit, fit_weights=weights, part_fits=()
            )
        fit = self.fit if self.fit.ndim == 1 else self.fit[:, j]
        return replace(self, scenario=self.parts[j], parts=(self.parts[j],), fit=fit)


@dataclass
class BuiltConstruction:
    """The output of a build.

    Attributes:
        population: the built :class:`~populations.persona.Population`.
        info: ``n_failed`` (crafting failures, or None) and ``fallback`` (why the fixed prompt was used, or None).
        builder: the fitted builder, when there is one (``populace fit`` writes its record).
    """

    population: Any
    info: dict[str, Any] = field(default_factory=dict)
    builder: Any = None


@dataclass(frozen=True)
class ConstructionKind:
    """One construction kind.

    Attributes:
        name: the kind's one name (``kind = "em"`` in a study, ``--builder em``, ``Population.construction``).
        help: one line for documentation and ``--help``.
        params: parameter name → :class:`~scenarios.schema.Param` (``name``, ``kind`` and ``seed`` are common to
            every kind and must not appear here).
        build: ``build(context, params) -> BuiltConstruction``.
        estimate: ``estimate(params, n_questions) -> Estimate`` on one dimension of ``n_questions`` questions.
        ordered_only: fitted with W1, so it needs ordered answers (EM, GB, MoP, aligned).
        needs_pool: draws personas from a persona pool (a ``pool`` parameter).
        target_free: built without the humans (fixed, pool, demographic, file).
        needs_model: ``build`` asks the model (False: a model-free kind, e.g. ``populace run`` can use it).
        per_dimension: on several dimensions, build per dimension and join with one weight vector (EM, GB, MoP).
        joins_itself: ``joins_itself(params)`` True: a per-dimension kind whose ``build`` takes the whole
            multi-dimension context for these parameters (MoP's context gate fits weights per item itself).
        external: the population comes from outside the study (its recorded split is checked against the study's).
        check: a cross-parameter rule, ``check(params) -> (key, problem) | None`` (``n_select`` > ``n_pool``).
        preload: ``preload(params)`` checks inputs before any model loads (a population file is read), raising
            ``ValueError`` naming the fix.
        scenario_check: ``scenario_check(scenario) -> problem | None``, run on every scenario the construction
            applies to before any model loads (``demographic`` needs declared ``data.demographics``).
    """

    name: str
    help: str
    params: Mapping[str, Param]
    build: Callable[[BuildContext, Mapping[str, Any]], BuiltConstruction]
    estimate: Callable[[Mapping[str, Any], int], Estimate]
    ordered_only: bool = False
    needs_pool: bool = False
    target_free: bool = False
    needs_model: bool = True
    per_dimension: bool = False
    joins_itself: Callable[[Mapping[str, Any]], bool] | None = None
    external: bool = False
    check: Callable[[Mapping[str, Any]], tuple[str, str] | None] | None = None
    preload: Callable[[Mapping[str, Any]], None] | None = None
    scenario_check: Callable[[Any], str | None] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or self.name != self.name.strip():
            raise ConstructionError(f"a construction kind needs a non-empty name without spaces, got {self.name!r}")
        clash = sorted(set(self.params) & {"name", "kind", "seed"})
        if clash:
            raise ConstructionError(
                f"construction kind {self.name!r}: parameter {clash[0]!r} is common to every kind; rename it"
            )
        if not callable(self.build) or not callable(self.estimate):
            raise ConstructionError(f"construction kind {self.name!r}: build and estimate must be callables")
        if self.needs_pool and "pool" not in self.params:
            raise ConstructionError(f"construction kind {self.name!r}: needs_pool=True but no 'pool' parameter")
        if self.target_free and self.per_dimension:
            raise ConstructionError(
                f"construction kind {self.name!r}: a target-free kind is built once, not per dimension"
            )

    def defaults(self, **given: Any) -> dict[str, Any]:
        """Every parameter's value: ``given`` over the defaults (a required one missing is an error).

        Raises:
            ConstructionError: an unknown or missing required parameter.
        """
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise ConstructionError(
                f"kind {self.name!r} has no parameter {unknown[0]!r}; parameters: {', '.join(self.params) or 'none'}"
            )
        out = {}
        for key, p in self.params.items():
            if key in given:
                out[key] = given[key]
            elif p.required:
                raise ConstructionError(f"kind {self.name!r} needs the parameter {key!r} ({p.help})")
            else:
                out[key] = p.default
        return out


_KINDS: dict[str, ConstructionKind] = {}
_BUILTIN_MODULES = (
    "populations.constructions.baselines",
    "populations.constructions.mixtures",
    "populations.constructions.aligned_kind",
    "populations.constructions.retrieval_kind",
)
_LOCK = threading.Lock()
_BUILTINS_LOADED = False


def _builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    with _LOCK:
        if _BUILTINS_LOADED:
            return
        _BUILTINS_LOADED = True
        for module in _BUILTIN_MODULES:  # each registers its kinds, in documentation order
            importlib.import_module(module)


def register_construction(kind: ConstructionKind, *, replace_existing: bool = False) -> ConstructionKind:
    """Add a kind to the registry (a plugin's one line); returns it.

    Raises:
        ConstructionError: not a :class:`ConstructionKind`, or its name is taken (pass ``replace_existing=True``
            to override on purpose).
    """
    if not isinstance(kind, ConstructionKind):
        raise ConstructionError(f"register_construction takes a ConstructionKind, got {type(kind).__name__}")
    if kind.name in _KINDS and not replace_existing and _KINDS[kind.name] is not kind:
        raise ConstructionError(
            f"construction kind {kind.name!r} is already registered; pick another name or pass replace_existing=True"
        )
    _KINDS[kind.name] = kind
    return kind


def construction_kinds() -> tuple[ConstructionKind, ...]:
    """Every registered kind: the built-ins in documentation order, then plugins in registration order."""
    _builtins()
    return tuple(_KINDS.values())


def get_construction(name: str) -> ConstructionKind:
    """The kind called ``name``.

    Raises:
        ConstructionError: an unknown name, as one line listing the kinds.
    """
    _builtins()
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise ConstructionError(
            f"unknown construction kind {name!r}; kinds: {', '.join(_KINDS)} (a plugin adds one: POPULACE_PLUGINS)"
        ) from None


def build_construction(
    kind: ConstructionKind | str, context: BuildContext, params: Mapping[str, Any]
) -> BuiltConstruction:
    """Build one construction on one scenario (several dimensions handled as the kind declares).

    Args:
        kind: the kind or its name.
        context: the scenario, fit half, models and seeds.
        params: the kind's validated parameters (defaults filled in: :meth:`ConstructionKind.defaults`).

    Returns:
        The built population with its info.
    """
    k = get_construction(kind) if isinstance(kind, str) else kind
    if context.joint and k.per_dimension and not (k.joins_itself is not None and k.joins_itself(params)):
        return _join_dimensions(k, context, params)
    return k.build(context, params)


def estimate_construction(kind: ConstructionKind | str, params: Mapping[str, Any], questions: list[int]) -> Estimate:
    """The plan estimate on a scenario whose dimensions have ``questions[d]`` questions.

    A per-dimension kind is built on each dimension, then every component answers every question.
    """
    k = get_construction(kind) if isinstance(kind, str) else kind
    q = sum(questions)
    if len(questions) > 1 and k.per_dimension:
        per = [k.estimate(params, qd) for qd in questions]
        comps = sum(e.components for e in per)
        extra = comps * q
        return Estimate(
            comps, sum(e.requests for e in per) + extra, sum(e.tokens for e in per) + extra * _ANSWER_TOKENS
        )
    return k.estimate(params, q)


#: Rough prompt tokens of one distribution request (persona + instruction + question) and of one crafter
#: generation (instructions + a written prompt), for the ``--plan`` token estimate.
_ANSWER_TOKENS = 120
_CRAFT_TOKENS = 400


def _join_dimensions(k: ConstructionKind, ctx: BuildContext, params: Mapping[str, Any]) -> BuiltConstruction:
    """Build per dimension, then fit one weight vector on the union of the components over every dimension.

    Each dimension's fit half gets its own build (components crafted or drawn for that dimension's target); the
    union of their components (one per distinct system prompt) is asked every dimension's questions and one weight
    vector is fitted on the fit half of all dimensions at once (:func:`alignment.fit_mixture_weights_multi`).
    Dimensions with different supports are placed on the union of the supports (W1 is unchanged by zero-mass
    points). Crafting failures of every dimension are summed; a dimension that fell back is named.
    """
    from alignment import fit_mixture_weights_multi, pmf_from_samples
    from populations.evaluation import population_pmfs
    from populations.persona import Persona, Population

    personas: list[Any] = []
    seen: set[str] = set()
    n_failed: list[int] = []
    fallbacks: list[str] = []
    reasons: dict[str, int] = {}
    for j, part in enumerate(ctx.parts):
        built = k.build(ctx.dimension(j), params)
        if built.info.get("n_failed") is not None:
            n_failed.append(int(built.info["n_failed"]))
        for why, count in (built.info.get("failure_reasons") or {}).items():
            reasons[why] = reasons.get(why, 0) + int(count)
        if built.info.get("fallback"):
            fallbacks.append(f"{part.dimensions[0]}: {built.info['fallback']}")
        for persona in built.population.personas:
            if persona.text not in seen:
                seen.add(persona.text)
                attrs = {**persona.attributes, "fitted_on": part.name}
                personas.append(Persona(id=f"{part.dimensions[0]}:{persona.id}", text=persona.text, attributes=attrs))
    union = Population(
        personas=tuple(personas), weights=np.full(len(personas), 1.0 / len(personas)), construction=k.name
    )
    support = np.unique(np.concatenate([np.asarray(part.support, dtype=float) for part in ctx.parts]))
    comps = np.zeros((len(personas), len(ctx.parts), support.size))
    targets = np.zeros((len(ctx.parts), support.size))
    for j, part in enumerate(ctx.parts):
        at = np.searchsorted(support, np.asarray(part.support, dtype=float))
        comps[:, j, at] = population_pmfs(ctx.model, union, part, progress=ctx.progress)["pmfs"]
        own = ctx.dimension(j)
        targets[j] = pmf_from_samples(own.fit, support, own.fit_weights)
    fit = fit_mixture_weights_multi(comps, support, targets, method=params.get("weight_method", "lp"), rng=ctx.seed)
    w = np.clip(np.asarray(fit.weights, dtype=float), 0.0, None)
    population = Population(
        personas=union.personas,
        weights=w / w.sum(),
        construction=k.name,
        metadata={
            "joint": True,
            "scenario": ctx.scenario.name,
            "dimensions": list(ctx.scenario.dimensions),
            "joint_fit_loss": float(fit.loss),
            "random_state": ctx.seed,
        },
    )
    info = {
        "n_failed": sum(n_failed) if n_failed else None,
        "fallback": "; ".join(fallbacks) or None,
        "failure_reasons": dict(sorted(reasons.items())) or None,
    }
    return BuiltConstruction(population, info)
