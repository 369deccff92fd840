r"""A study file for ``populace compare STUDY.toml``: schema, validation, construction runners and scoring.

A study declares scenarios, the fit/test split of their humans, the evaluation sizes and the population
constructions to build and compare. Every construction is fitted on the **fit** half of each scenario's humans
only, then every construction is scored on the **test** half with the one evaluation module
(:mod:`populations.evaluation`): ``w1_exact`` (the population's exact answer pmf), ``w1_sampled`` ± sd
(``agents`` simulated agents drawn from that pmf, ``repeats`` times) and, beside the sampled score only, the human
floor (``agents`` test humans against the remaining test humans).

The file (every key is checked; an unknown key, a wrong type or a missing file is a one-line :class:`StudyError`
naming the file, the dotted key and the fix)::

    seed = 0                          # root seed of every random choice (int)
    scenarios = ["bigfive:E", "dictator", "my_survey.toml:TRUST"]   # built-in names or FILE.toml[:DIM]
    data = "../shared/data"           # optional human data folder (default $POPULACE_DATA)
    agents = 1000                     # n: simulated agents per sampled score = humans per floor draw
    repeats = 10                      # draws of the sampled score and of the floor

    [split]
    seed = 0                          # default: the root seed
    fit_fraction = 0.5

    [[constructions]]
    name = "fixed"                    # unique; a table column
    kind = "fixed"                    # fixed | pool | demographic | em | gb | mop | aligned | file
    # ...the kind's parameters (see KINDS)

    [treatment]                       # optional: a what-if on every fitted population (see TREATMENT)
    text = "A new community centre has opened near your home."
    where = "question"                # question | system
    seeds = 5                         # paired replicates (control vs treatment on the same seeds)
    agents = 40                       # agents per replicate
    constructions = ["fixed", "em"]   # default: every construction

A scenario with several dimensions (``bigfive``, ``my_survey.toml`` declaring several) is split once by rows and
scored per dimension (``bigfive:E`` …) and on its vectors of dimension scores (AMW, Fréchet, sliced W, MMD,
correlation MAE, sampled beside the floor); see :func:`_build_prepared` for how each kind is fitted on it.

Relative paths (``data``, a scenario ``FILE.toml``, a ``pool`` given as a path, a ``file`` construction's
``path``) resolve against the study file's folder.

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling Approach" (EM, GB).
    [2] "Population-Aligned Persona Generation for LLM-based Social Simulation" (IS + OT).
    [3] Bui et al. (2025), "Mixture-of-Personas Language Models for Population Simulation".
"""

from __future__ import annotations

import json
import math
import os
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "KINDS",
    "Construction",
    "PreparedScenario",
    "Study",
    "StudyError",
    "StudyResult",
    "build_model_free",
    "load_study",
    "plan_study",
    "prepare_study",
    "run_study",
    "schema_markdown",
    "with_seed",
]


class StudyError(ValueError):
    """A study file problem, as one line naming the file, the dotted key and the fix."""


# =============================================================================================== schema
_REQUIRED = object()


@dataclass(frozen=True)
class _Field:
    """One key: its type (``int``, ``float``, ``str``, ``bool``, ``str_list``), default and extra check."""

    type: str
    default: Any = _REQUIRED
    check: Callable[[Any], str | None] | None = None
    help: str = ""


def _at_least(lo: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= lo else f"must be >= {lo:g}"


def _open_unit(v: float) -> str | None:
    return None if 0.0 < v < 1.0 else "must be strictly between 0 and 1"


def _unit(v: float) -> str | None:
    return None if 0.0 < v <= 1.0 else "must be in (0, 1]"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


_TOP: dict[str, _Field] = {
    "seed": _Field("int", 0, _at_least(0), "root seed"),
    "scenarios": _Field("str_list", _REQUIRED, None, "scenario names or FILE.toml[:DIM]"),
    "data": _Field("str", None, None, "human data folder"),
    "agents": _Field("int", 1000, _at_least(1), "simulated agents per sampled score = floor humans"),
    "repeats": _Field("int", 10, _at_least(1), "draws of the sampled score and the floor"),
}
_SPLIT: dict[str, _Field] = {
    "seed": _Field("int", None, _at_least(0), "split seed (default: the root seed)"),
    "fit_fraction": _Field("float", 0.5, _open_unit, "share of humans in the fit half"),
}
_COMMON: dict[str, _Field] = {
    "name": _Field("str", _REQUIRED, None, "unique name: a row of every table"),
    "kind": _Field("str", _REQUIRED, None, "fixed, pool, demographic, em, gb, mop, aligned or file"),
    "seed": _Field("int", None, _at_least(0), "construction seed (default: the root seed)"),
}
_CRAFTING = {
    "improve_rounds": _Field("int", 1, _at_least(0), "crafting improve rounds R"),
    "weight_method": _Field("str", "lp", _one_of("lp", "slsqp"), "mixture-weight solver"),
    "forbid_target_number": _Field("bool", True, None, "reject crafted prompts naming their target"),
}

#: Construction kinds and their parameters (besides ``name``, ``kind`` and ``seed``).
KINDS: dict[str, dict[str, _Field]] = {
    "fixed": {"system_prompt": _Field("str", None, None, "the one system prompt (default: the fixed baseline)")},
    "pool": {
        "pool": _Field("str", _REQUIRED, None, "pool name in $POPULACE_PERSONAS or a JSONL path"),
        "n_personas": _Field("int", 20, _at_least(1), "personas drawn uniformly without replacement"),
    },
    "demographic": {
        "n_personas": _Field("int", 20, _at_least(1), "BIG5 respondents (fit half only) rendered as personas"),
    },
    "em": {
        "n_components": _Field("int", 5, _at_least(1), "crafted prompts K"),
        "max_iter": _Field("int", 5, _at_least(1), "EM iterations"),
        **_CRAFTING,
    },
    "gb": {
        "n_rounds": _Field("int", 10, _at_least(1), "boosting rounds"),
        "patience": _Field("int", 3, _at_least(1), "rounds without improvement before stopping"),
        **_CRAFTING,
    },
    "mop": {
        "pool": _Field("str", "personahub", None, "persona pool"),
        "n_personas": _Field("int", 8, _at_least(1), "personas drawn from the pool"),
        "n_exemplars": _Field("int", 2, _at_least(1), "fit-half exemplars per persona"),
        "weight_method": _CRAFTING["weight_method"],
    },
    "aligned": {
        "pool": _Field("str", _REQUIRED, None, "persona pool the aligned set is drawn from"),
        "n_pool": _Field("int", 40, _at_least(2), "pool personas drawn as candidates (each answers the scenario)"),
        "n_select": _Field("int", 10, _at_least(1), "size of the aligned set"),
        "method": _Field(
            "str",
            "resample",
            _one_of("resample", "is_only", "ot_only", "random", "raw"),
            "resample (IS then OT, [2]), is_only, ot_only, random or raw",
        ),
        "keep_fraction": _Field("float", 0.7, _unit, "share of the pool kept by importance weight"),
    },
    "file": {"path": _Field("str", _REQUIRED, None, "a population file (populace fit/align/select output)")},
}

#: The optional ``[treatment]`` table: a paired what-if (:func:`simulator.run_whatif`) on every fitted population.
TREATMENT: dict[str, _Field] = {
    "text": _Field("str", _REQUIRED, None, "the intervention message (non-empty)"),
    "where": _Field("str", "question", _one_of("question", "system"), "before each question or in the persona"),
    "seeds": _Field("int", 5, _at_least(2), "paired replicates (at least 2 for CIs)"),
    "agents": _Field("int", 40, _at_least(1), "agents per replicate"),
    "constructions": _Field("str_list", None, None, "construction names (default: all)"),
}


def schema_markdown() -> str:
    """Every key of a study file as Markdown tables (type, default, meaning), rendered from the schema itself.

    ``docs/study_files.md`` embeds this text; a test keeps the two equal, so the document cannot drift.
    """

    def default(f: _Field) -> str:
        if f.default is _REQUIRED:
            return "required"
        return "–" if f.default is None else f"`{json.dumps(f.default)}`"

    def table(title: str, fields: Mapping[str, _Field]) -> list[str]:
        rows = [f"| `{k}` | {f.type.replace('_', ' ')} | {default(f)} | {f.help} |" for k, f in fields.items()]
        return [f"#### {title}", "", "| key | type | default | meaning |", "|---|---|---|---|", *rows, ""]

    lines = [*table("top level", _TOP), *table("[split]", _SPLIT), *table("[[constructions]] (every kind)", _COMMON)]
    for kind, fields in KINDS.items():
        lines += table(f'kind = "{kind}"', fields)
    lines += table("[treatment]", TREATMENT)
    return "\n".join(lines).rstrip() + "\n"


_TOML_TYPE = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"


def _example(key: str, typ: str, value: Any) -> str:
    if typ == "str_list":
        return f"{key} = [{json.dumps(value)}]" if isinstance(value, str) else f'{key} = ["..."]'
    if typ == "int":
        return f"{key} = 10"
    if typ == "float":
        return f"{key} = 0.5"
    if typ == "bool":
        return f"{key} = true"
    return f'{key} = "..."'


def _check_value(file: Path, where: str, key: str, spec: _Field, value: Any) -> Any:
    """Type-check one value; return it normalised (int → float for floats)."""
    ok: bool
    if spec.type == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif spec.type == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    elif spec.type == "str":
        ok = isinstance(value, str) and bool(value.strip())
    elif spec.type == "bool":
        ok = isinstance(value, bool)
    else:  # str_list
        ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)
    if not ok:
        want = "a non-empty list of strings" if spec.type == "str_list" else _TOML_TYPE[spec.type]
        if spec.type == "str" and isinstance(value, str):
            want = "a non-empty string"
        raise StudyError(
            f"{file}: {where}{key}: expected {want}, got {_describe(value)}; write e.g. "
            f"{_example(key, spec.type, value)}"
        )
    if spec.check is not None and (problem := spec.check(value)) is not None:
        raise StudyError(f"{file}: {where}{key} = {value!r} {problem}")
    return value


def _read_table(file: Path, where: str, table: Any, fields: Mapping[str, _Field], what: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise StudyError(f"{file}: {where.rstrip('.')}: expected a table, got {_describe(table)}")
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise StudyError(
            f"{file}: {where}{unknown[0]}: unknown key(s) {unknown} for {what}; allowed keys: {', '.join(sorted(fields))}"
        )
    out: dict[str, Any] = {}
    for key, spec in fields.items():
        if key in table:
            out[key] = _check_value(file, where, key, spec, table[key])
        elif spec.default is _REQUIRED:
            raise StudyError(
                f"{file}: {where}{key}: missing required key for {what}; add {_example(key, spec.type, None)}"
            )
        else:
            out[key] = spec.default
    return out


@dataclass(frozen=True, kw_only=True)
class Construction:
    """One validated construction.

    Attributes:
        name: unique name (a row of the tables).
        kind: one of :data:`KINDS`.
        seed: its random_state (default: the study's root seed).
        params: the kind's parameters with defaults filled in (paths resolved).
    """

    name: str
    kind: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    written: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the parameters as written in the study file (paths unresolved) with defaults filled in."""
        return {"name": self.name, "kind": self.kind, "seed": self.seed, **self.params, **self.written}


@dataclass(frozen=True, kw_only=True)
class Study:
    """A validated study file.

    Attributes:
        path: the study file.
        seed: root seed.
        scenarios: scenario specs, as written (``FILE.toml`` specs resolved against the study folder).
        data: human data folder or None (default source).
        agents: n, simulated agents per sampled score and humans per floor draw (capped at half the test half).
        repeats: draws of the sampled score and the floor.
        split_seed: seed of the fit/test split.
        fit_fraction: share of humans in the fit half.
        constructions: the constructions in file order.
        treatment: the validated ``[treatment]`` table (None when absent).
    """

    path: Path
    seed: int
    scenarios: tuple[str, ...]
    data: str | None
    agents: int
    repeats: int
    split_seed: int
    fit_fraction: float
    constructions: tuple[Construction, ...]
    treatment: dict[str, Any] | None = None

    def settings(self) -> dict[str, Any]:
        """Plain-JSON settings (no absolute paths of this machine beyond the study file)."""
        return {
            "study": str(self.path),
            "seed": self.seed,
            "scenarios": list(self.scenarios),
            "data": self.data,
            "agents": self.agents,
            "repeats": self.repeats,
            "split": {"seed": self.split_seed, "fit_fraction": self.fit_fraction},
            "constructions": [c.to_dict() for c in self.constructions],
            "treatment": self.treatment,
        }


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _resolve_scenario(file: Path, base: Path, spec: str) -> str:
    """``FILE.toml[:DIM]`` → absolute path (checked to exist); a built-in name unchanged."""
    path_part, sep, dim = spec.partition(".toml")
    if not sep:
        return spec
    if dim and not dim.startswith(":"):
        raise StudyError(f"{file}: scenarios: {spec!r} is neither a name nor FILE.toml[:DIMENSION]")
    toml = _resolve(base, path_part + ".toml")
    if not toml.is_file():
        raise StudyError(
            f"{file}: scenarios: scenario file {toml} does not exist (relative paths resolve against {base})"
        )
    return f"{toml}{dim}"


def _resolve_pool(file: Path, where: str, base: Path, pool: str) -> str:
    from populations.pools import PoolError, personas_root, resolve_pool_path

    local = _resolve(base, pool)
    try:
        return str(resolve_pool_path(local if local.exists() else pool))
    except PoolError as exc:
        raise StudyError(
            f"{file}: {where}pool: persona pool {pool!r} not found (a path relative to {base}, a folder with "
            f"personas.jsonl, or a name in {personas_root()}); fix the name or set POPULACE_PERSONAS"
        ) from exc


def load_study(path: str | os.PathLike[str]) -> Study:
    """Read and validate a study file; check every file it names (no model, no human data loaded).

    Raises:
        StudyError: one line naming the file, the dotted key and the fix.
    """
    file = Path(path)
    if not file.is_file():
        raise StudyError(f"study file {file} does not exist (or is a folder); pass a STUDY.toml file")
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{file}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise StudyError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    base = file.resolve().parent
    raw = dict(raw)
    split_raw = raw.pop("split", {})
    treatment_raw = raw.pop("treatment", None)
    cons_raw = raw.pop("constructions", None)
    if "populations" in raw:  # the name of the same tables in the first compare configs
        if cons_raw is not None:
            raise StudyError(f"{file}: populations: give either [[constructions]] or [[populations]], not both")
        cons_raw = raw.pop("populations")
    top = _read_table(file, "", raw, {**_TOP}, "a study (tables: [split], [[constructions]], [treatment])")
    split = _read_table(file, "split.", split_raw, _SPLIT, "[split]")
    if cons_raw is None:
        raise StudyError(f'{file}: constructions: missing; add [[constructions]] tables with name = "..." and kind')
    if not isinstance(cons_raw, list) or not cons_raw:
        raise StudyError(
            f"{file}: constructions: expected a non-empty array of tables ([[constructions]]), got {_describe(cons_raw)}"
        )
    data = top["data"]
    if data is not None:
        d = _resolve(base, data)
        if not str(data).startswith(("http://", "https://")):
            if not d.exists():
                raise StudyError(f"{file}: data: folder {d} does not exist (relative paths resolve against {base})")
            data = str(d)
    scenarios = tuple(_resolve_scenario(file, base, s.strip()) for s in top["scenarios"])
    if len(set(scenarios)) != len(scenarios):
        raise StudyError(f"{file}: scenarios: a scenario is listed twice; list each once")
    constructions: list[Construction] = []
    names: set[str] = set()
    for i, entry in enumerate(cons_raw, start=1):
        label = entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else f"#{i}"
        where = f"constructions.{label}."
        if not isinstance(entry, dict):
            raise StudyError(f"{file}: constructions #{i}: expected a table, got {_describe(entry)}")
        kind = entry.get("kind")
        if kind not in KINDS:
            got = "missing" if kind is None else f"unknown kind {kind!r}"
            raise StudyError(f"{file}: {where}kind: {got}; valid kinds: {', '.join(sorted(KINDS))}")
        values = _read_table(file, where, entry, {**_COMMON, **KINDS[kind]}, f"kind {kind!r}")
        name = values.pop("name").strip()
        if name in names:
            raise StudyError(f"{file}: {where}name: {name!r} is used twice; give every construction its own name")
        names.add(name)
        values.pop("kind")
        seed = values.pop("seed")
        written = {k: values[k] for k in ("pool", "path") if k in values}
        if "pool" in values:
            values["pool"] = _resolve_pool(file, where, base, values["pool"])
        if kind == "file":
            p = _resolve(base, values["path"])
            if not p.is_file():
                raise StudyError(
                    f"{file}: {where}path: population file {p} does not exist (relative paths resolve against {base})"
                )
            values["path"] = str(p)
        if kind == "aligned" and values["n_select"] > values["n_pool"]:
            raise StudyError(f"{file}: {where}n_select = {values['n_select']} exceeds n_pool = {values['n_pool']}")
        constructions.append(
            Construction(
                name=name, kind=kind, seed=top["seed"] if seed is None else seed, params=values, written=written
            )
        )
    treatment = None
    if treatment_raw is not None:
        treatment = _read_table(file, "treatment.", treatment_raw, TREATMENT, "[treatment]")
        unknown = [n for n in treatment["constructions"] or () if n not in names]
        if unknown:
            raise StudyError(
                f"{file}: treatment.constructions: {unknown[0]!r} is not a construction of this study; "
                f"names: {sorted(names)}"
            )
    return Study(
        path=file,
        treatment=treatment,
        seed=top["seed"],
        scenarios=scenarios,
        data=data,
        agents=top["agents"],
        repeats=top["repeats"],
        split_seed=top["seed"] if split["seed"] is None else split["seed"],
        fit_fraction=split["fit_fraction"],
        constructions=tuple(constructions),
    )


# =============================================================================================== helpers
def _load_scenario(spec: str, source: str | None) -> Any:
    from scenarios.registry import get_scenario

    return get_scenario(spec, source=source)


#: Kinds fitted with W1 (EM/GB/MoP weights; IS + OT on expected scores): they need ordered answers.
_ORDERED_ONLY = ("em", "gb", "mop", "aligned")


def _load_population(path: str) -> Any:
    from populations.io import load_population_file

    return load_population_file(path)


def _big5_fit_rows(scenario: Any, *, seed: int, fit_fraction: float, source: str | None) -> np.ndarray | None:
    """BIG5 rows a demographic persona may come from: the fit half's rows for a Big Five scenario, else all rows.

    For a ``bigfive:*`` scenario the humans *are* BIG5 respondents, split by rows with the one split
    (:func:`scenarios.split.split_indices`, as :func:`populations.evaluation.human_split` does), so the demographic
    personas are drawn only from the fit half's respondents; for other scenarios the BIG5 respondents are not the
    scenario's humans and every row may be used (None).
    """
    name = str(scenario.name)
    if name != "bigfive" and not name.startswith("bigfive:"):
        return None
    from scenarios.big5 import load_big5
    from scenarios.split import split_indices

    fit_rows, _ = split_indices(load_big5(source).items.shape[0], seed=seed, fit_fraction=fit_fraction)
    return fit_rows


# =============================================================================================== runners
@dataclass
class _Built:
    population: Any
    info: dict[str, Any]


def _seed(*keys: object) -> np.random.Generator:
    from populace_lm.types import stable_seed

    return np.random.default_rng(np.random.SeedSequence([stable_seed(*keys)]))


def _build(
    c: Construction,
    scenario: Any,
    fit: np.ndarray,
    demographic_rows: np.ndarray | None,
    model: Any,
    *,
    source: str | None,
    progress: bool,
    fit_weights: np.ndarray | None = None,
) -> _Built:
    """Fit one construction on the fit half of one scenario (``model`` is the metered, cache-wrapped model).

    ``fit_weights`` (survey weights of the fit half, or None) go to the builders as ``sample_weight``.
    """
    p = c.params
    if c.kind == "fixed":
        from populations.baselines import DEFAULT_SYSTEM_PROMPT, FixedPromptBuilder

        b = FixedPromptBuilder(p["system_prompt"] or DEFAULT_SYSTEM_PROMPT).fit()
        return _Built(b.population_, {})
    if c.kind == "pool":
        from populations.baselines import RandomPersonaBuilder

        b = RandomPersonaBuilder(p["pool"], p["n_personas"], random_state=c.seed).fit()
        return _Built(b.population_, {})
    if c.kind == "demographic":
        from populations.persona import Population
        from populations.pool_builders import big5_respondent_pool

        rows = demographic_rows
        personas = big5_respondent_pool(source, n=p["n_personas"], rng=c.seed, rows=rows)
        pop = Population(
            personas=personas,
            weights=np.full(len(personas), 1.0 / len(personas)),
            construction="demographic_persona",
            metadata={"n_personas": p["n_personas"], "random_state": c.seed, "fit_half_only": rows is not None},
        )
        return _Built(pop, {})
    if c.kind in ("em", "gb"):
        from populations.mixture import PromptMixtureBuilder

        b = PromptMixtureBuilder(
            method=c.kind,
            n_components=p.get("n_components", 5),
            crafter=model,
            respondent=model,
            max_iter=p.get("max_iter", 5),
            n_rounds=p.get("n_rounds", 10),
            patience=p.get("patience", 3),
            improve_rounds=p["improve_rounds"],
            weight_method=p["weight_method"],
            forbid_target_number=p["forbid_target_number"],
            progress=progress,
            random_state=c.seed,
        ).fit(scenario, fit, sample_weight=fit_weights)
        return _Built(b.population_, _fit_info(b))
    if c.kind == "mop":
        from populations.mop import MixtureOfPersonasBuilder

        b = MixtureOfPersonasBuilder(
            respondent=model,
            pool=p["pool"],
            n_personas=p["n_personas"],
            n_exemplars=p["n_exemplars"],
            weight_method=p["weight_method"],
            progress=progress,
            random_state=c.seed,
        ).fit(scenario, fit, sample_weight=fit_weights)
        return _Built(b.population_, {})  # MoP crafts nothing: no crafting failures to count
    if c.kind == "aligned":
        return _build_aligned(c, (scenario,), fit, model, progress=progress, fit_weights=fit_weights)
    return _Built(_load_population(p["path"]), {})


def _build_prepared(c: Construction, ps: PreparedScenario, model: Any, *, source: str | None, progress: bool) -> _Built:
    """Fit one construction on a prepared scenario: one population for all of its dimensions.

    A one-dimensional scenario goes to :func:`_build`. On a multi-dimensional instrument the target-free kinds
    (``fixed``, ``pool``, ``demographic``, ``file``) are built once; ``aligned`` runs IS + OT on the
    ``(N, D)`` score vectors; ``em``, ``gb`` and ``mop`` are fitted per dimension and joined
    (:func:`_build_joint_mixture`).
    """
    if not ps.joint or c.kind in ("fixed", "pool", "demographic", "file"):
        return _build(
            c,
            ps.scenario,
            ps.fit,
            ps.demographic_rows,
            model,
            source=source,
            progress=progress,
            fit_weights=ps.fit_weights,
        )
    if c.kind == "aligned":
        return _build_aligned(c, ps.parts, ps.fit, model, progress=progress, fit_weights=ps.fit_weights)
    return _build_joint_mixture(c, ps, model, source=source, progress=progress)


def _build_joint_mixture(
    c: Construction, ps: PreparedScenario, model: Any, *, source: str | None, progress: bool
) -> _Built:
    r"""A prompt mixture (EM/GB [1]) or MoP [3] on D dimensions: components per dimension, weights jointly.

    Each dimension's fit half gets its own builder (components crafted or drawn for that dimension's target);
    the union of their components (one per distinct system prompt) is then asked every dimension's questions,
    and one weight vector is fitted on the fit half of all dimensions at once
    (:func:`alignment.fit_mixture_weights_multi`, the mean of the per-dimension W1 over the simplex):

    .. math:: \min_{w \in \Delta_K} \frac1D \sum_d W_1\Big(\sum_k w_k p^{(k)}_d, q^{\text{fit}}_d\Big)

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
    for j, part in enumerate(ps.parts):
        built = _build(
            c,
            part,
            ps.fit[:, j],
            ps.demographic_rows,
            model,
            source=source,
            progress=progress,
            fit_weights=ps.fit_weights,
        )
        if built.info.get("n_failed") is not None:
            n_failed.append(int(built.info["n_failed"]))
        if built.info.get("fallback"):
            fallbacks.append(f"{part.dimensions[0]}: {built.info['fallback']}")
        for persona in built.population.personas:
            if persona.text not in seen:
                seen.add(persona.text)
                attrs = {**persona.attributes, "fitted_on": part.name}
                personas.append(Persona(id=f"{part.dimensions[0]}:{persona.id}", text=persona.text, attributes=attrs))
    union = Population(
        personas=tuple(personas), weights=np.full(len(personas), 1.0 / len(personas)), construction=c.kind
    )
    support = np.unique(np.concatenate([np.asarray(part.support, dtype=float) for part in ps.parts]))
    comps = np.zeros((len(personas), len(ps.parts), support.size))
    targets = np.zeros((len(ps.parts), support.size))
    for j, part in enumerate(ps.parts):
        at = np.searchsorted(support, np.asarray(part.support, dtype=float))
        comps[:, j, at] = population_pmfs(model, union, part, progress=progress)["pmfs"]
        targets[j] = pmf_from_samples(ps.fit[:, j], support, ps.fit_weights)
    fit = fit_mixture_weights_multi(comps, support, targets, method=c.params["weight_method"], rng=c.seed)
    w = np.clip(np.asarray(fit.weights, dtype=float), 0.0, None)
    population = Population(
        personas=union.personas,
        weights=w / w.sum(),
        construction=f"{c.kind}_joint",
        metadata={
            "scenario": ps.scenario.name,
            "dimensions": list(ps.scenario.dimensions),
            "joint_fit_loss": float(fit.loss),
            "random_state": c.seed,
        },
    )
    info = {"n_failed": sum(n_failed) if n_failed else None, "fallback": "; ".join(fallbacks) or None}
    return _Built(population, info)


def build_model_free(c: Construction) -> Any:
    """The population of a construction that needs neither a model nor human data (``fixed``, ``pool``, ``file``).

    Raises:
        StudyError: another kind.
    """
    if c.kind not in ("fixed", "pool", "file"):
        raise StudyError(f"construction {c.name!r} of kind {c.kind!r} is fitted per scenario; use run_study")
    return _build(c, None, np.empty(0), np.empty(0, dtype=int), None, source=None, progress=False).population


def _fit_info(builder: Any) -> dict[str, Any]:
    """Crafting failures and the fallback mark of a prompt-mixture builder (see ``PromptMixtureBuilder``)."""
    return {"n_failed": builder.n_failed_, "fallback": builder.fallback_}


def _build_aligned(
    c: Construction,
    parts: tuple[Any, ...],
    fit: np.ndarray,
    model: Any,
    *,
    progress: bool,
    fit_weights: np.ndarray | None = None,
) -> _Built:
    """IS + OT [2] on the scenario's scores, from ``n_pool`` personas drawn from the pool.

    Each candidate's response is its expected score under its exact answer pmf on every dimension, shape
    ``(N, D)``; the humans are the fit half's scores, shape ``(M, D)`` (D = 1 for a one-dimensional scenario).
    """
    from populations.aligned import AlignedPersonaBuilder
    from populations.pools import load_pool
    from populations.responses import answer_distributions

    p = c.params
    pool = load_pool(p["pool"])
    if p["n_pool"] > len(pool):
        raise StudyError(f"construction {c.name!r}: n_pool = {p['n_pool']} exceeds the pool size {len(pool)}")
    rng = np.random.default_rng(c.seed)
    idx = np.sort(rng.choice(len(pool), size=p["n_pool"], replace=False))
    candidates = tuple(pool[i] for i in idx)
    columns = []
    for part in parts:
        tensor = answer_distributions(
            model, candidates, part.questions(), progress=progress, desc=f"{part.name} {c.name} pool"
        )
        pmfs = np.clip(np.asarray(part.pmfs(tensor.probs), dtype=float), 0.0, None)
        pmfs /= pmfs.sum(axis=1, keepdims=True)
        columns.append(pmfs @ np.asarray(part.support, dtype=float))
    humans = np.asarray(fit, dtype=float).reshape(len(fit), len(parts))
    b = AlignedPersonaBuilder(
        p["method"], n_select=p["n_select"], keep_fraction=p["keep_fraction"], random_state=c.seed
    ).fit(np.column_stack(columns), humans, personas=candidates, sample_weight=fit_weights)
    return _Built(b.population_, {})


# =============================================================================================== plan
def _n_questions(scenario: Any) -> int:
    return len(scenario.questions())


def _estimate(c: Construction, q: int) -> tuple[int, int]:
    """``(components, distinct requests)`` of one construction on ``q`` questions of one dimension."""
    p = c.params
    crafts_per = 1 + p.get("improve_rounds", 0)
    if c.kind == "fixed":
        return 1, q
    if c.kind in ("pool", "demographic"):
        return p["n_personas"], p["n_personas"] * q
    if c.kind == "em":
        crafts = p["n_components"] * (1 + p["max_iter"])
        return p["n_components"] + 1, q + crafts * crafts_per * (1 + q)
    if c.kind == "gb":
        return p["n_rounds"] + 1, q + p["n_rounds"] * crafts_per * (1 + q)
    if c.kind == "mop":
        k = 1 + p["n_personas"] * p["n_exemplars"]
        return k, k * q
    if c.kind == "aligned":
        return p["n_select"], p["n_pool"] * q
    k = len(_load_population(p["path"]))
    return k, k * q


def plan_study(study: Study) -> list[dict[str, Any]]:
    """The constructions, sizes and an estimate of distinct LLM requests, without loading a model.

    Loads scenarios (question lists) and population files only. The estimate counts distribution requests per
    persona and question and, for crafting kinds, ``(1 + improve_rounds)`` crafter generations plus one
    evaluation of each draft per craft (retries and cache hits are not counted). On a multi-dimensional
    instrument ``em``/``gb``/``mop`` are fitted per dimension, then every component answers every question.

    Returns:
        One row per construction and scenario: ``construction, kind, scenario, dimensions, questions,
        components, est_requests``.
    """
    from scenarios.registry import dimension_scenarios

    rows = []
    for spec in study.scenarios:
        scenario = _load_scenario(spec, study.data)
        parts = dimension_scenarios(scenario)
        q = _n_questions(scenario)
        for c in study.constructions:
            if len(parts) > 1 and c.kind in ("em", "gb", "mop"):
                per = [_estimate(c, _n_questions(part)) for part in parts]
                k = sum(kp for kp, _ in per)
                est = sum(e for _, e in per) + k * q
            else:
                k, est = _estimate(c, q)
            rows.append(
                {
                    "construction": c.name,
                    "kind": c.kind,
                    "scenario": scenario.name,
                    "dimensions": len(parts),
                    "questions": q,
                    "components": k,
                    "est_requests": est,
                }
            )
    return rows


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
        demographic_rows: BIG5 rows demographic personas may come from (the fit half's for a Big Five
            scenario; None = any row).
        test: test-half human values, shape ``(n_test,)`` or ``(n_test, D)``.
        floors: the human floor of each dimension on the test half (``n``, ``repeats``, mean, sd).
        parts: one one-dimensional scenario per dimension (``(scenario,)`` when it has one).
        spec: the scenario as the study names it (``get_scenario`` resolves it; a file path is absolute).
        fit_weights: survey weights of the fit half, ``(n_fit,)``, or None (unweighted data).
        test_weights: survey weights of the test half, ``(n_test,)``, or None.
    """

    scenario: Any
    fit: np.ndarray
    demographic_rows: np.ndarray | None
    test: np.ndarray
    floors: tuple[Any, ...]
    parts: tuple[Any, ...]
    spec: str = ""
    fit_weights: np.ndarray | None = None
    test_weights: np.ndarray | None = None

    @property
    def joint(self) -> bool:
        """True for a multi-dimensional instrument (scored per dimension and as score vectors)."""
        return len(self.parts) > 1

    def column(self, values: np.ndarray, j: int) -> np.ndarray:
        """Dimension ``j`` of ``(n,)`` or ``(n, D)`` human values, shape ``(n,)``."""
        return _column(values, j)


def _column(values: np.ndarray, j: int) -> np.ndarray:
    return values if values.ndim == 1 else values[:, j]


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

    A multi-dimensional instrument (``bigfive``, ``my.toml`` with several dimensions) is split once by rows
    (respondents complete on every dimension), so its per-dimension scores and its score vectors share one
    test half.

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
        rows = _big5_fit_rows(scenario, seed=study.split_seed, fit_fraction=study.fit_fraction, source=study.data)
        n = int(min(study.agents, test.shape[0] // 2))
        if n < 1:
            raise StudyError(
                f"{study.path}: scenario {scenario.name!r} has {test.shape[0]} test humans; need at least 2"
            )
        floors = tuple(
            seeded_floor(
                part, _column(test, j), seed=study.seed, n=n, repeats=study.repeats, weights=halves.test_weights
            )
            for j, part in enumerate(parts)
        )
        prepared.append(
            PreparedScenario(scenario, fit, rows, test, floors, parts, spec, halves.fit_weights, halves.test_weights)
        )
    for c in study.constructions:  # a bad population file fails here, before the model loads
        if c.kind == "file":
            _load_population(c.params["path"])
        unordered = [ps.scenario.name for ps in prepared if not ps.scenario.ordered]
        if c.kind in _ORDERED_ONLY and unordered:
            raise StudyError(
                f"{study.path}: constructions.{c.name}.kind: {c.kind!r} fits W1, which needs ordered answers, but "
                f"{unordered[0]!r} has unordered categories; use fixed, pool, demographic or file constructions "
                "on it (scored with total variation), or list it in a separate study"
            )
    return prepared


def run_study(
    study: Study, model: Any, *, prepared: list[PreparedScenario] | None = None, progress: bool = True
) -> StudyResult:
    """Fit every construction on each scenario's fit half and score it on the test half.

    All scenarios and human splits are resolved before the first LLM call. A construction whose crafting fails
    entirely (an LLM failure) is recorded with its status and empty scores; the run goes on.

    Args:
        study: a validated study.
        model: the cache-wrapped language model (respondent and crafter).
        prepared: the output of :func:`prepare_study` (computed here when None).
        progress: progress bars.
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
    jobs = [(s, c) for s in prepared for c in study.constructions]
    bar = progress_bar(total=len(jobs), desc="constructions", unit="fit", enabled=progress)
    for ps, c in jobs:
        scenario = ps.scenario
        bar.set_postfix_str(f"{c.name} on {scenario.name}")
        metered = MeteredModel(model)
        started = time.perf_counter()
        status, info = "ok", {}
        try:
            built = _build_prepared(c, ps, metered, source=study.data, progress=progress)
        except CraftingError as exc:
            status, built = f"failed: {str(exc).splitlines()[0]}", None
        if built is not None:
            info = built.info
            populations[(scenario.name, c.name)] = built.population
        if info.get("fallback"):  # no usable crafted prompt: the builder returned the fixed-prompt population
            status = f"fallback: {info['fallback']}"
        if built is not None and c.kind == "file":
            note = _split_caution(built.population, scenario.name, study)
            status = f"{status}; caution: {note}" if note else status
        item_probs = []
        for j, part in enumerate(ps.parts):
            record, probs, pmf = _score_part(study, ps, j, c, built, metered, progress=progress)
            record["status"] = status
            scores.append(record)
            item_probs.append(probs)
            humans[part.name] = (np.asarray(part.support, dtype=float), ps.column(ps.test, j))
            human_weights[part.name] = ps.test_weights
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
    return StudyResult(
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

    part, test = ps.parts[j], ps.column(ps.test, j)
    keys = {"scenario": part.name, "construction": c.name, "kind": c.kind}
    sizes = {"n_fit": int(ps.fit.shape[0]), "n_test": int(test.size), "weighted": ps.test_weights is not None}
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
        test_weights=ps.test_weights,
        fit_info=population_fit_info(built.population, built.info),
        progress=progress,
    )
    record["llm_calls"] = int(model.requests)  # fit + evaluation of this construction (cache hits included)
    return {**keys, **record, **sizes}, probs, pmf


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
