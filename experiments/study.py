r"""``populace compare STUDY.toml``: prepare, build through the construction registry, score and plan a study.

A study declares scenarios, the fit/test split of their humans, the evaluation sizes and the population
constructions to build and compare (the file and its schema: :mod:`experiments.study_schema`). Every construction
is built by its registered kind (:mod:`populations.constructions`) on the **fit** half of each scenario's humans
only, then every construction is scored on the **test** half with the one evaluation module
(:mod:`populations.evaluation`): ``w1_exact`` (the population's exact answer pmf), ``w1_sampled`` ± sd
(``agents`` simulated agents drawn from that pmf, ``repeats`` times) and, beside the sampled score only, the human
floor (``agents`` test humans against the remaining test humans).

A scenario with several dimensions (``bigfive``, ``my_survey.toml`` declaring several) is split once by rows and
scored per dimension (``bigfive:E`` …) and on its vectors of dimension scores (AMW, Fréchet, sliced W, MMD,
correlation MAE, sampled beside the floor); each kind declares how it is fitted on several dimensions
(:func:`populations.constructions.build_construction`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from experiments.study_schema import TREATMENT, Construction, Study, StudyError, load_study, schema_markdown

if TYPE_CHECKING:
    from populations.constructions import BuiltConstruction as _Built

__all__ = [
    "TREATMENT",
    "Construction",
    "PreparedScenario",
    "Study",
    "StudyError",
    "StudyResult",
    "load_study",
    "plan_study",
    "prepare_study",
    "run_study",
    "schema_markdown",
    "with_scenarios",
    "with_seed",
]


# =============================================================================================== helpers
def _load_scenario(spec: str, source: str | None) -> Any:
    from scenarios.registry import get_scenario

    return get_scenario(spec, source=source)


# =============================================================================================== build
def _context(
    study: Study, ps: PreparedScenario, c: Construction, model: Any, *, progress: bool, crafter: Any = None
) -> Any:
    """The registry's :class:`~populations.constructions.BuildContext` of construction ``c`` on ``ps``."""
    from populations.constructions import BuildContext

    return BuildContext(
        scenario=ps.scenario,
        parts=ps.parts,
        fit=ps.fit,
        fit_weights=ps.fit_weights,
        part_fits=tuple((h.fit, h.fit_weights) for h in ps.part_halves) if ps.joint else (),
        model=model,
        crafter=crafter,
        source=study.data,
        seed=c.seed,
        split_seed=study.split_seed,
        fit_fraction=study.fit_fraction,
        progress=progress,
        name=c.name,
    )


def _build_prepared(
    study: Study, c: Construction, ps: PreparedScenario, model: Any, *, progress: bool, crafter: Any = None
) -> Any:
    """Fit one construction on a prepared scenario through the registry (one population for all its dimensions)."""
    from populations.constructions import build_construction

    context = _context(study, ps, c, model, progress=progress, crafter=crafter)
    return build_construction(c.spec, context, c.params)


# =============================================================================================== plan
def plan_study(study: Study, prepared: list[PreparedScenario] | None = None) -> list[dict[str, Any]]:
    """Every check the run makes before its first LLM call, then the constructions, sizes and request estimates.

    Runs :func:`prepare_study` (scenarios loaded, human data read and validated, splits and floors, each kind's
    inputs and answer-scale needs: ``em`` on unordered categories is refused as the run refuses it), so ``--plan``
    fails exactly where the run would; no model is loaded. Each kind's ``estimate``
    (:func:`populations.constructions.estimate_construction`) counts distribution requests per persona and
    question and, for crafting kinds, ``(1 + improve_rounds)`` crafter generations plus one evaluation of each
    draft per craft (retries and cache hits are not counted). On a multi-dimensional instrument a per-dimension
    kind (``em``/``gb``/``mop``) is fitted per dimension, then every component answers every question. A
    ``[treatment]`` adds one row per treated construction: the treated condition asks at most
    ``min(components, agents × seeds)`` personas every question (the control's answers are the scoring's own
    requests, answered by the cache).

    Args:
        study: a validated study.
        prepared: the output of :func:`prepare_study` (computed here when None).

    Returns:
        One row per construction and scenario (``construction, kind, scenario, dimensions, questions,
        components, est_requests, est_tokens``), then the ``[treatment]`` rows (scenario ``NAME [treatment]``).
    """
    from populations.constructions import estimate_construction
    from populations.constructions.registry import _ANSWER_TOKENS

    if prepared is None:
        prepared = prepare_study(study)
    rows, treated = [], []
    for ps in prepared:
        scenario, parts = ps.scenario, ps.parts
        questions = [len(part.questions()) for part in parts] if len(parts) > 1 else [len(scenario.questions())]
        for c in (c for c in study.constructions if c.applies_to(ps.spec)):
            est = estimate_construction(c.spec, c.params, questions)
            row = {
                "construction": c.name,
                "kind": c.kind,
                "scenario": scenario.name,
                "dimensions": len(parts),
                "questions": sum(questions),
                "components": est.components,
                "est_requests": est.requests,
                "est_tokens": est.tokens,
            }
            rows.append(row)
            if _treated(study, c):
                t = study.treatment
                assert t is not None
                requests = min(est.components, t["agents"] * t["seeds"]) * sum(questions)
                treated.append(
                    {**row, "scenario": f"{scenario.name} [treatment]", "est_requests": requests,
                     "est_tokens": requests * _ANSWER_TOKENS}
                )  # fmt: skip
    from experiments.study_inference import inference_plan_rows

    return rows + treated + inference_plan_rows(prepared)


# =============================================================================================== run
@dataclass(frozen=True, kw_only=True)
class StudyResult:
    """Outputs of :func:`run_study`.

    Attributes:
        scores: one record per scenario dimension and construction (deterministic: no times), in study order.
        vectors: one multivariate record per multi-dimensional scenario and construction (AMW, Fréchet,
            sliced W, MMD, correlation MAE: sampled ± sd beside the floor ± sd).
        treatment: the ``[treatment]`` what-if's effects, one row per scenario, construction and outcome (items
            and scores; paired differences with bootstrap CIs and, for surveys, the exact effects); empty without.
        cost: one record per construction and scenario: requests, cache hits, backend calls, tokens, seconds.
        pmfs: ``(scenario dimension, construction)`` → the population's exact answer pmf, shape ``(S,)``
            (None if failed).
        humans: scenario dimension → ``(support (S,), test-half human values (m,))``.
        human_weights: scenario dimension → survey weights of those test humans ``(m,)``, or None.
        settings: the study settings.
        populations: ``(scenario, construction)`` → the fitted :class:`~populations.persona.Population`
            (absent when the construction failed).
        inference: scenario → the ``[inference]`` output (:func:`populations.twin_inference.run_inference`:
            ``records``, ``power``, ``twins``); empty without ``[inference]``.
    """

    scores: list[dict[str, Any]]
    vectors: list[dict[str, Any]]
    treatment: list[dict[str, Any]]
    cost: list[dict[str, Any]]
    pmfs: dict[tuple[str, str], np.ndarray | None]
    humans: dict[str, tuple[np.ndarray, np.ndarray]]
    settings: dict[str, Any]
    human_weights: dict[str, np.ndarray | None] = field(default_factory=dict)
    populations: dict[tuple[str, str], Any] = field(default_factory=dict)
    inference: dict[str, Any] = field(default_factory=dict)


def _split_caution(population: Any, scenario_name: str, study: Study) -> str | None:
    """Why a population file fitted on this scenario may have seen the study's test humans (None: it cannot).

    A population fitted elsewhere (``populace fit``) records its scenario and split in its metadata; fitted on the
    same scenario with another split (or an unrecorded one), its fit half may hold this study's test humans.
    """
    meta = getattr(population, "metadata", {}) or {}
    if meta.get("scenario") != scenario_name:
        return None
    split = meta.get("split")
    if not isinstance(split, dict) or "seed" not in split:
        return "fitted on this scenario with an unrecorded split, so it may have seen test humans"
    theirs = (split.get("seed"), split.get("fit_fraction", 0.5))
    if theirs != (study.split_seed, study.fit_fraction):
        return (
            f"fitted with split seed {theirs[0]}, fit_fraction {theirs[1]} (the study uses {study.split_seed}, "
            f"{study.fit_fraction}), so it may have seen test humans"
        )
    return None


def _r(x: float) -> float:
    return round(float(x), 6)


@dataclass(frozen=True)
class PreparedScenario:
    """A scenario with its split and floors, resolved before any LLM call.

    Attributes:
        scenario: the scenario as listed (one or several dimensions).
        fit: fit-half human values, shape ``(n_fit,)``, or ``(n_fit, D)`` with several dimensions.
        test: test-half human values, shape ``(n_test,)`` or ``(n_test, D)``.
        floors: the human floor of each dimension on the test half (``n``, ``repeats``, mean, sd).
        parts: one one-dimensional scenario per dimension (``(scenario,)`` when it has one).
        spec: the scenario as the study names it (``get_scenario`` resolves it; a file path is absolute).
        fit_weights: survey weights of the fit half, ``(n_fit,)``, or None (unweighted data).
        test_weights: survey weights of the test half, ``(n_test,)``, or None.
        part_halves: each dimension's own halves (:class:`~populations.evaluation.HumanHalves`, values ``(n_j,)``):
            the same row split, scored per dimension, so a respondent missing an item of one dimension drops out of
            that dimension only; ``fit``/``test`` hold the rows complete on every dimension (score vectors).
        inference: the scenario's twin inference (:class:`~populations.twin_inference.PreparedInference`) when the
            study's ``[inference]`` covers it, else None.
    """

    scenario: Any
    fit: np.ndarray
    test: np.ndarray
    floors: tuple[Any, ...]
    parts: tuple[Any, ...]
    spec: str = ""
    fit_weights: np.ndarray | None = None
    test_weights: np.ndarray | None = None
    part_halves: tuple[Any, ...] = ()
    inference: Any = None
    _rows: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)

    def test_rows(self, j: int, study: Study) -> Any:
        """Dimension ``j``'s test-half file rows (its items are calibration tasks), or None (no file: a game)."""
        from scenarios.file_scenarios import FileHumans, split_rows

        part = self.parts[j]
        if not isinstance(part, FileHumans):
            return None
        if j not in self._rows:
            rows = part.rows(study.data)
            self._rows[j] = rows.take(split_rows(rows.n, "test", study.split_seed, study.fit_fraction))
        return self._rows[j]

    @property
    def joint(self) -> bool:
        """True for a multi-dimensional instrument (scored per dimension and as score vectors)."""
        return len(self.parts) > 1

    def column(self, values: np.ndarray, j: int) -> np.ndarray:
        """Dimension ``j`` of ``(n,)`` or ``(n, D)`` human values, shape ``(n,)``."""
        return _column(values, j)

    def halves(self, j: int) -> Any:
        """Dimension ``j``'s own :class:`~populations.evaluation.HumanHalves` (values ``(n_j,)``)."""
        from populations.evaluation import HumanHalves

        if self.part_halves:
            return self.part_halves[j]
        return HumanHalves(_column(self.fit, j), _column(self.test, j), self.fit_weights, self.test_weights)


def _column(values: np.ndarray, j: int) -> np.ndarray:
    return values if values.ndim == 1 else values[:, j]


def with_scenarios(study: Study, scenarios: list[str] | None) -> Study:
    """The study on other scenarios (built-in names or ``FILE.toml[:DIM]``); unchanged when None.

    A construction limited to some scenarios (its ``scenarios`` patterns) is built only on those it matches, and
    left out when it matches none of the new list (``--scenarios dictator`` on a study whose ``demographic`` is
    limited to ``bigfive:*``).

    Raises:
        StudyError: an empty list or a scenario listed twice.
    """
    from dataclasses import replace

    if scenarios is None:
        return study
    specs = tuple(s.strip() for s in scenarios if s.strip())
    if not specs:
        raise StudyError(f"{study.path}: no scenarios given; list at least one, e.g. bigfive:E,dictator")
    if len(set(specs)) != len(specs):
        raise StudyError(f"{study.path}: a scenario is listed twice in {list(specs)}; list each once")
    kept = tuple(c for c in study.constructions if not c.scenarios or any(c.applies_to(s) for s in specs))
    return replace(study, scenarios=specs, constructions=kept)


def with_seed(study: Study, seed: int | None) -> Study:
    """The study with every seed set to ``seed`` (root, split and each construction's); unchanged when None.

    ``populace compare --seed`` and ``populace demo --seed`` use it, so a command-line seed gives the same split,
    floors and builder seeds as a study file whose only seed is that one (:mod:`populace_lm.seeds`).

    Raises:
        StudyError: a negative seed.
    """
    from dataclasses import replace

    if seed is None:
        return study
    if seed < 0:
        raise StudyError(f"--seed {seed}: a seed must be a non-negative integer")
    constructions = tuple(replace(c, seed=seed) for c in study.constructions)
    return replace(study, seed=seed, split_seed=seed, constructions=constructions)


def prepare_study(study: Study) -> list[PreparedScenario]:
    """Load every scenario and its humans, split them and compute the floors (no LLM call).

    A multi-dimensional instrument (``bigfive``, ``my.toml`` with several dimensions) is split once by rows, so its
    per-dimension scores and its score vectors share one split; each dimension keeps the respondents complete on
    its own items (``part_halves``), the score vectors those complete on every dimension.

    Raises:
        StudyError: an unknown scenario or too few humans, naming the study file and the key.
    """
    from populations.evaluation import human_halves, seeded_floor
    from scenarios.errors import ScenarioError
    from scenarios.registry import dimension_scenarios

    prepared = []
    for spec in study.scenarios:
        try:
            scenario = _load_scenario(spec, study.data)
            parts = dimension_scenarios(scenario)
        except ScenarioError as exc:
            raise StudyError(f"{study.path}: scenarios: {exc}") from exc
        try:
            halves = human_halves(scenario, seed=study.split_seed, source=study.data, fit_fraction=study.fit_fraction)
            fit, test = halves.fit, halves.test
        except ValueError as exc:
            raise StudyError(f"{study.path}: split: scenario {scenario.name!r}: {exc}") from exc
        n = int(min(study.agents, test.shape[0] // 2))
        if n < 1:
            raise StudyError(
                f"{study.path}: scenario {scenario.name!r} has {test.shape[0]} test humans; need at least 2"
            )
        try:
            part_halves = (
                tuple(
                    human_halves(part, seed=study.split_seed, source=study.data, fit_fraction=study.fit_fraction)
                    for part in parts
                )
                if len(parts) > 1
                else (halves,)
            )
        except ValueError as exc:
            raise StudyError(f"{study.path}: split: scenario {scenario.name!r}: {exc}") from exc
        floors = tuple(
            seeded_floor(
                part,
                part_halves[j].test,
                seed=study.seed,
                n=int(min(n, part_halves[j].test.shape[0] // 2)),
                repeats=study.repeats,
                weights=part_halves[j].test_weights,
            )
            for j, part in enumerate(parts)
        )
        prepared.append(
            PreparedScenario(
                scenario, fit, test, floors, parts, spec, halves.fit_weights, halves.test_weights, part_halves
            )
        )
    _check_constructions(study, prepared)
    from experiments.study_inference import attach_inference

    return attach_inference(study, prepared)


def _check_constructions(study: Study, prepared: list[PreparedScenario]) -> None:
    """Each kind's inputs (a population file is read) and its answer-scale needs, before the model loads."""
    from populations.constructions import construction_kinds

    for c in study.constructions:
        unordered = [ps.scenario.name for ps in prepared if not ps.scenario.ordered and c.applies_to(ps.spec)]
        kind = c.spec
        if kind.preload is not None:
            try:
                kind.preload(c.params)
            except ValueError as exc:
                raise StudyError(f"{study.path}: constructions.{c.name}: {exc}") from exc
        if kind.scenario_check is not None:
            for ps in prepared:
                if c.applies_to(ps.spec) and (problem := kind.scenario_check(ps.scenario)) is not None:
                    raise StudyError(
                        f"{study.path}: constructions.{c.name}: {problem}, or limit the construction with "
                        f"scenarios = [...] to scenarios that do"
                    )
        if kind.ordered_only and unordered:
            usable = ", ".join(k.name for k in construction_kinds() if not k.ordered_only)
            raise StudyError(
                f"{study.path}: constructions.{c.name}.kind: {c.kind!r} fits W1, which needs ordered answers, but "
                f"{unordered[0]!r} has unordered categories; use {usable} constructions on it (scored with total "
                "variation), or list it in a separate study"
            )


def run_study(
    study: Study,
    model: Any,
    *,
    prepared: list[PreparedScenario] | None = None,
    progress: bool = True,
    crafter: Any = None,
) -> StudyResult:
    """Fit every construction on each scenario's fit half and score it on the test half.

    All scenarios and human splits are resolved before the first LLM call. A construction whose crafting fails
    entirely (an LLM failure) is recorded with its status and empty scores; the run goes on.

    Args:
        study: a validated study.
        model: the cache-wrapped language model (the respondent, and the crafter when ``crafter`` is None).
        prepared: the output of :func:`prepare_study` (computed here when None).
        progress: progress bars.
        crafter: a separate model that writes the crafted prompts (``--crafter-*``), or None.
    """
    from populace_lm.progress import progress_bar
    from populations.crafting import CraftingError, MeteredModel

    if prepared is None:
        prepared = prepare_study(study)

    scores: list[dict[str, Any]] = []
    vectors: list[dict[str, Any]] = []
    effects: list[dict[str, Any]] = []
    cost: list[dict[str, Any]] = []
    pmfs: dict[tuple[str, str], np.ndarray | None] = {}
    humans: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    human_weights: dict[str, np.ndarray | None] = {}
    populations: dict[tuple[str, str], Any] = {}
    jobs = [(s, c) for s in prepared for c in study.constructions if c.applies_to(s.spec)]
    bar = progress_bar(total=len(jobs), desc="constructions", unit="fit", enabled=progress)
    for ps, c in jobs:
        scenario = ps.scenario
        bar.set_postfix_str(f"{c.name} on {scenario.name}")
        metered = MeteredModel(model)
        started = time.perf_counter()
        status, info = "ok", {}
        try:
            built = _build_prepared(study, c, ps, metered, progress=progress, crafter=crafter)
        except CraftingError as exc:
            status, built = f"failed: {str(exc).splitlines()[0]}", None
        if built is not None:
            info = built.info
            populations[(scenario.name, c.name)] = built.population
        if info.get("fallback"):  # no usable crafted prompt: the builder returned the fixed-prompt population
            status = f"fallback: {info['fallback']}"
        if built is not None and c.spec.external:
            note = _split_caution(built.population, scenario.name, study)
            status = f"{status}; caution: {note}" if note else status
        item_probs = []
        for j, part in enumerate(ps.parts):
            record, probs, pmf = _score_part(study, ps, j, c, built, metered, progress=progress)
            record["status"] = status
            scores.append(record)
            item_probs.append(probs)
            humans[part.name] = (np.asarray(part.support, dtype=float), ps.halves(j).test)
            human_weights[part.name] = ps.halves(j).test_weights
            pmfs[(part.name, c.name)] = pmf
        if ps.joint:
            vectors.append(_score_vectors(study, ps, c, built, item_probs, status))
        cost.append(
            {
                "construction": c.name,
                "kind": c.kind,
                "scenario": scenario.name,
                **metered.cost(),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        if built is not None and _treated(study, c):
            rows, row_cost = _run_treatment(study, ps, c, built.population, model, progress=progress)
            effects.extend(rows)
            cost.append(row_cost)
        bar.update(1)
    bar.close()
    from experiments.study_inference import run_study_inference

    inference = run_study_inference(prepared, model, progress=progress)
    return StudyResult(
        inference=inference,
        scores=scores,
        vectors=vectors,
        treatment=effects,
        cost=cost,
        pmfs=pmfs,
        humans=humans,
        settings=study.settings(),
        human_weights=human_weights,
        populations=populations,
    )


def _treated(study: Study, c: Construction) -> bool:
    """True when the study has a ``[treatment]`` and it covers construction ``c``."""
    t = study.treatment
    return t is not None and (t["constructions"] is None or c.name in t["constructions"])


def _clean(v: Any) -> Any:
    """A JSON-ready value: floats rounded, NaN (no exact value) as None."""
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(float(v)) else _r(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v


def _run_treatment(
    study: Study, ps: PreparedScenario, c: Construction, population: Any, model: Any, *, progress: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The study's ``[treatment]`` on one fitted population: control vs treatment on paired seeds.

    Runs :func:`simulator.run_whatif` with the study's root seed, so every construction of a scenario shares the
    replicate seeds (its effects are paired across constructions too).

    Returns:
        ``(rows, cost)``: one row per outcome (every item and every score; :data:`simulator.DIFFERENCE_COLUMNS`
        plus the exact effects of a survey) labelled with the scenario and construction, and the what-if's cost row.
    """
    from populations.crafting import MeteredModel
    from simulator import DecisionService, RunConfig, Treatment, run_whatif

    t = study.treatment
    assert t is not None  # checked by _treated
    metered = MeteredModel(model)
    started = time.perf_counter()
    config = RunConfig(scenario=ps.spec, n_agents=t["agents"], seed=study.seed, replicates=t["seeds"])
    result = run_whatif(
        config,
        population,
        DecisionService(metered, progress=progress),
        treatment=Treatment(text=t["text"], where=t["where"]),
        progress=progress,
    )
    rows = [
        {"scenario": ps.scenario.name, "construction": c.name, **{k: _clean(v) for k, v in row.items()}}
        for row in result.differences.to_dict("records")
    ]
    cost = {
        "construction": c.name,
        "kind": c.kind,
        "scenario": f"{ps.scenario.name} [treatment]",
        **metered.cost(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return rows, cost


def _score_part(
    study: Study, ps: PreparedScenario, j: int, c: Construction, built: _Built | None, model: Any, *, progress: bool
) -> tuple[dict[str, Any], np.ndarray | None, np.ndarray | None]:
    """Dimension ``j`` of a prepared scenario scored by :func:`populations.evaluation.score_dimension`.

    Returns:
        ``(record, item_probs, pmf)``: the record with the study's keys (``kind``, ``n_fit``, ``n_test``,
        ``weighted``), ``item_probs`` of shape ``(K, Q_j, C)`` and the exact pmf of shape ``(S_j,)`` (both None,
        and the record keys only, when the construction failed).
    """
    from populations.evaluation import population_fit_info, score_dimension

    part, halves = ps.parts[j], ps.halves(j)
    test = halves.test
    keys = {"scenario": part.name, "construction": c.name, "kind": c.kind}
    sizes = {"n_fit": int(halves.fit.shape[0]), "n_test": int(test.size), "weighted": halves.test_weights is not None}
    if built is None:
        return {**keys, **sizes}, None, None
    record, probs, pmf = score_dimension(
        model,
        built.population,
        part,
        test,
        floor=ps.floors[j],
        seed=study.seed,
        construction=c.name,
        test_weights=halves.test_weights,
        fit_info=population_fit_info(built.population, built.info),
        progress=progress,
    )
    record["llm_calls"] = int(model.requests)  # fit + evaluation of this construction (cache hits included)
    record.update(_worth(study, part, built.population, probs, test, ps.test_rows(j, study)))
    return {**keys, **record, **sizes}, probs, pmf


def _worth(study: Study, part: Any, population: Any, probs: np.ndarray, test: np.ndarray, rows: Any) -> dict[str, Any]:
    """The part's worth-k̂ columns (:func:`populations.worth_tasks.worth_record`) for one construction."""
    from populations.worth_tasks import worth_record

    pmfs = np.clip(np.asarray(part.pmfs(probs), dtype=float), 0.0, None)
    pmfs /= pmfs.sum(axis=1, keepdims=True)
    return worth_record(part, population, probs, pmfs, test_values=test, test_rows=rows, seed=study.seed)


def _score_vectors(
    study: Study, ps: PreparedScenario, c: Construction, built: _Built | None, item_probs: list[Any], status: str
) -> dict[str, Any]:
    """The multivariate record of a multi-dimensional scenario (:func:`populations.evaluation.score_vector_record`)."""
    from populations.evaluation import score_vector_record

    record: dict[str, Any] = {
        "scenario": ps.scenario.name,
        "construction": c.name,
        "kind": c.kind,
        "dimensions": len(ps.parts),
        "n_test": int(ps.test.shape[0]),
    }
    if built is None:
        return {**record, "status": status}
    if not ps.scenario.ordered:
        return {**record, "status": f"{status}; no multivariate score: unordered categories (see the dimensions)"}
    scores = score_vector_record(
        built.population,
        ps.parts,
        item_probs,
        ps.test,
        n=ps.floors[0].n,
        repeats=study.repeats,
        seed=study.seed,
        scenario_name=ps.scenario.name,
        construction=c.name,
        test_weights=ps.test_weights,
    )
    return {**record, **scores, "status": status}
