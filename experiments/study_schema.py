r"""The study file of ``populace compare STUDY.toml``: its schema, validation and generated documentation.

Every key is a typed :class:`scenarios.schema.Param` checked by the one validator
:func:`scenarios.schema.read_table`; each construction kind's parameters come from the construction registry
(:mod:`populations.constructions`), so a plugin kind is validated and documented like a built-in one. An unknown key,
a wrong type or a missing file is a one-line :class:`StudyError` naming the file, the dotted key and the fix::

    seed = 0                          # root seed of every random choice (int)
    scenarios = ["bigfive:E", "dictator", "my_survey.toml:TRUST"]   # built-in names or FILE.toml[:DIM]
    data = "../shared/data"           # optional human data folder (default $POPULACE_DATA)
    agents = 1000                     # n: simulated agents per sampled score = humans per floor draw
    repeats = 10                      # draws of the sampled score and of the floor

    [split]
    seed = 0                          # default: the root seed
    fit_fraction = 0.5

    [[constructions]]
    name = "fixed"                    # unique; a table row
    kind = "fixed"                    # a registered kind: fixed | pool | demographic | file | em | gb | mop | aligned
    # ...the kind's parameters (docs/study_files.md)

    [treatment]                       # optional: a what-if on every fitted population (see TREATMENT)
    text = "A new community centre has opened near your home."
    where = "question"                # question | system
    seeds = 5                         # paired replicates (control vs treatment on the same seeds)
    agents = 40                       # agents per replicate
    constructions = ["fixed", "em"]   # default: every construction

    [inference]                       # optional: twins plus a few humans (see INFERENCE; docs/inference.md)
    scenarios = ["bigfive:E"]         # scenarios with data.demographics (default: every such scenario)
    humans = [50, 100, 200]           # labelled humans drawn from the fit half
    columns = ["gender", "engnat"]    # demographic columns that define a twin (default: all declared)

Relative paths (``data``, a scenario ``FILE.toml``, a ``pool`` given as a path, a ``file`` construction's
``path``) resolve against the study file's folder.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.schema import Param, at_least, describe_value, one_of, open_unit, params_markdown, read_table

__all__ = [
    "SPLIT",
    "TOP",
    "INFERENCE",
    "TREATMENT",
    "Construction",
    "Study",
    "StudyError",
    "common_keys",
    "load_study",
    "schema_markdown",
]


class StudyError(ValueError):
    """A study file problem, as one line naming the file, the dotted key and the fix."""


TOP: dict[str, Param] = {
    "seed": Param("int", 0, at_least(0), "root seed"),
    "scenarios": Param("str_list", help="scenario names or FILE.toml[:DIM]"),
    "data": Param("str", None, None, "human data folder"),
    "agents": Param("int", 1000, at_least(1), "simulated agents per sampled score = floor humans"),
    "repeats": Param("int", 10, at_least(1), "draws of the sampled score and the floor"),
}
SPLIT: dict[str, Param] = {
    "seed": Param("int", None, at_least(0), "split seed (default: the root seed)"),
    "fit_fraction": Param("float", 0.5, open_unit, "share of humans in the fit half"),
}


def common_keys() -> dict[str, Param]:
    """The keys every construction has (``name``, ``kind``, ``seed``); the kind's own come from the registry."""
    from populations.constructions import construction_kinds

    kinds = [k.name for k in construction_kinds()]
    return {
        "name": Param("str", help="unique name: a row of every table"),
        "kind": Param("str", help=", ".join(kinds[:-1]) + f" or {kinds[-1]} (or a plugin's kind)"),
        "seed": Param("int", None, at_least(0), "construction seed (default: the root seed)"),
        "scenarios": Param(
            "str_list",
            None,
            None,
            "the study's scenarios it is built on: names, FILE.toml[:DIM] or patterns such as bigfive:* (default: "
            "all); entries of one name with disjoint scenarios form one table row",
        ),
    }


#: The optional ``[treatment]`` table: a paired what-if (:func:`simulator.run_whatif`) on every fitted population.
TREATMENT: dict[str, Param] = {
    "text": Param("str", help="the intervention message (non-empty)"),
    "where": Param("str", "question", one_of("question", "system"), "before each question or in the persona"),
    "seeds": Param("int", 5, at_least(2), "paired replicates (at least 2 for CIs)"),
    "agents": Param("int", 40, at_least(1), "agents per replicate"),
    "constructions": Param("str_list", None, None, "construction names (default: all)"),
}


def _positive_sizes(v: list[int]) -> str | None:
    return None if all(n >= 2 for n in v) else "must list sizes of at least 2"


#: The optional ``[inference]`` table: twins plus a few humans (:mod:`populations.twin_inference`).
INFERENCE: dict[str, Param] = {
    "scenarios": Param("str_list", None, None, "study scenarios to estimate (default: every one with demographics)"),
    "humans": Param("int_list", [50, 100, 200], _positive_sizes, "labelled sizes n, humans drawn from the fit half"),
    "alpha": Param("float", 0.1, open_unit, "1 - the intervals' level (0.1: 90% intervals)"),
    "columns": Param("str_list", None, None, "demographic columns that define a twin (default: every declared one)"),
    "frame": Param(
        "str", None, None, "population frame CSV of demographics for the unlabelled set (default: the other rows)"
    ),
    "min_group": Param("int", 10, at_least(2), "fewest labelled humans a subgroup needs to be estimated"),
}


def schema_markdown() -> str:
    """Every key of a study file as Markdown tables (type, default, meaning), rendered from the schema itself.

    Each kind's table comes from the construction registry (its flags in one line under the title).
    ``docs/study_files.md`` embeds this text; a test keeps the two equal, so the document cannot drift.
    """
    from populations.constructions import construction_kinds

    parts = [
        params_markdown("top level", TOP),
        params_markdown("[split]", SPLIT),
        params_markdown("[[constructions]] (every kind)", common_keys()),
    ]
    for kind in construction_kinds():
        flags = [
            name
            for name, on in (
                ("ordered scales only", kind.ordered_only),
                ("needs a persona pool", kind.needs_pool),
                ("target-free: built once", kind.target_free),
                ("fitted per dimension, then joined", kind.per_dimension),
            )
            if on
        ]
        table = params_markdown(f'kind = "{kind.name}"', kind.params)
        head, rest = table.split("\n", 1)
        note = kind.help + (f" ({'; '.join(flags)})" if flags else "")
        parts.append(f"{head}\n\n{note}.\n{rest}" if kind.params else f"{head}\n\n{note}; no parameters.\n")
    parts.append(params_markdown("[treatment]", TREATMENT))
    parts.append(params_markdown("[inference]", INFERENCE))
    return "\n".join(parts).rstrip() + "\n"


@dataclass(frozen=True, kw_only=True)
class Construction:
    """One validated construction.

    Attributes:
        name: unique name (a row of the tables).
        kind: a registered construction kind (:func:`populations.constructions.get_construction`).
        seed: its random_state (default: the study's root seed).
        params: the kind's parameters with defaults filled in (paths resolved).
        written: the resolved parameters as written in the study file (relative paths, pool names).
    """

    name: str
    kind: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    written: dict[str, Any] = field(default_factory=dict)
    scenarios: tuple[str, ...] | None = None

    def applies_to(self, spec: str) -> bool:
        """Whether this construction is built on the study scenario ``spec`` (its ``scenarios`` patterns, or all)."""
        return self.scenarios is None or any(fnmatch.fnmatchcase(spec, pattern) for pattern in self.scenarios)

    @property
    def spec(self) -> Any:
        """The :class:`~populations.constructions.ConstructionKind` of this construction."""
        from populations.constructions import get_construction

        return get_construction(self.kind)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the parameters as written in the study file (paths unresolved) with defaults filled in."""
        scenarios = {} if self.scenarios is None else {"scenarios": list(self.scenarios)}
        return {"name": self.name, "kind": self.kind, "seed": self.seed, **scenarios, **self.params, **self.written}


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
        inference: the validated ``[inference]`` table (None when absent).
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
    inference: dict[str, Any] | None = None

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
            "inference": self.inference,
        }


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _resolve_scenario(file: Path, base: Path, spec: str) -> str:
    """``FILE.toml[:DIM][@GROUP]`` → absolute path (checked to exist) and the rest; a built-in name unchanged."""
    path_part, sep, dim = spec.partition(".toml")
    if not sep:
        return spec
    if dim and not dim.startswith((":", "@")):
        raise StudyError(f"{file}: scenarios: {spec!r} is neither a name nor FILE.toml[:DIMENSION][@GROUP]")
    toml = _resolve(base, path_part + ".toml")
    if not toml.is_file():
        raise StudyError(
            f"{file}: scenarios: scenario file {toml} does not exist (relative paths resolve against {base})"
        )
    return f"{toml}{dim}"


def _construction(file: Path, base: Path, i: int, entry: Any, root_seed: int) -> Construction:
    from populations.constructions import ConstructionError, construction_kinds, get_construction

    label = entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else f"#{i}"
    where = f"constructions.{label}."
    if not isinstance(entry, dict):
        raise StudyError(f"{file}: constructions #{i}: expected a table, got {describe_value(entry)}")
    name = entry.get("kind")
    try:
        kind = get_construction(name)
    except ConstructionError:
        got = "missing" if name is None else f"unknown kind {name!r}"
        valid = ", ".join(sorted(k.name for k in construction_kinds()))
        raise StudyError(
            f"{file}: {where}kind: {got}; valid kinds: {valid} (a plugin adds one: POPULACE_PLUGINS)"
        ) from None
    keys = {**common_keys(), **kind.params}
    values = read_table(entry, keys, file=file, where=where, what=f"kind {kind.name!r}", base=base, error=StudyError)
    values.pop("kind")
    c_name = values.pop("name").strip()
    seed = values.pop("seed")
    patterns = values.pop("scenarios")
    if patterns is not None:
        patterns = tuple(p if any(ch in p for ch in "*?[") else _resolve_scenario(file, base, p) for p in patterns)
    written = {k: entry.get(k, p.default) for k, p in kind.params.items() if p.resolve is not None}
    if kind.check is not None and (problem := kind.check(values)) is not None:
        raise StudyError(f"{file}: {where}{problem[0]} {problem[1]}")
    return Construction(
        name=c_name,
        kind=kind.name,
        seed=root_seed if seed is None else seed,
        params=values,
        written=written,
        scenarios=patterns,
    )


def _check_rows(file: Path, scenarios: tuple[str, ...], constructions: list[Construction]) -> None:
    """Each construction's ``scenarios`` names study scenarios; entries sharing a name are one row on disjoint ones.

    Raises:
        StudyError: a pattern that matches no study scenario, or a name used twice on overlapping scenarios (or by
            two kinds).
    """
    for c in constructions:
        for pattern in c.scenarios or ():
            if not any(fnmatch.fnmatchcase(s, pattern) for s in scenarios):
                raise StudyError(
                    f"{file}: constructions.{c.name}.scenarios: {pattern!r} matches none of the study's scenarios "
                    f"{list(scenarios)}; list it under scenarios or fix the pattern"
                )
    seen: dict[str, Construction] = {}
    for c in constructions:
        first = seen.setdefault(c.name, c)
        if first is c:
            continue
        overlap = [s for s in scenarios if first.applies_to(s) and c.applies_to(s)]
        if first.scenarios is None or c.scenarios is None or overlap or first.kind != c.kind:
            why = f"both apply to {overlap[0]!r}" if overlap else "another kind" if first.kind != c.kind else ""
            raise StudyError(
                f"{file}: constructions.{c.name}.name: {c.name!r} is used twice"
                + (f" ({why})" if why else "")
                + "; give every construction its own name, or give entries of one kind that share a name disjoint "
                "scenarios lists"
            )


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
    inference_raw = raw.pop("inference", None)
    cons_raw = raw.pop("constructions", None)
    top = read_table(
        raw,
        TOP,
        file=file,
        what="a study (tables: [split], [[constructions]], [treatment], [inference])",
        error=StudyError,
    )
    split = read_table(split_raw, SPLIT, file=file, where="split.", what="[split]", error=StudyError)
    if cons_raw is None:
        raise StudyError(f'{file}: constructions: missing; add [[constructions]] tables with name = "..." and kind')
    if not isinstance(cons_raw, list) or not cons_raw:
        raise StudyError(
            f"{file}: constructions: expected a non-empty array of tables ([[constructions]]), got "
            f"{describe_value(cons_raw)}"
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
    constructions = [_construction(file, base, i, entry, top["seed"]) for i, entry in enumerate(cons_raw, start=1)]
    _check_rows(file, scenarios, constructions)
    names = list(dict.fromkeys(c.name for c in constructions))
    treatment = None
    if treatment_raw is not None:
        treatment = read_table(
            treatment_raw, TREATMENT, file=file, where="treatment.", what="[treatment]", error=StudyError
        )
        unknown = [n for n in treatment["constructions"] or () if n not in names]
        if unknown:
            raise StudyError(
                f"{file}: treatment.constructions: {unknown[0]!r} is not a construction of this study; "
                f"names: {sorted(names)}"
            )
    inference = None
    if inference_raw is not None:
        inference = read_table(
            inference_raw, INFERENCE, file=file, where="inference.", what="[inference]", error=StudyError
        )
        chosen = [_resolve_scenario(file, base, n.strip()) for n in inference["scenarios"] or ()]
        missing = [n for n, r in zip(inference["scenarios"] or (), chosen, strict=True) if r not in scenarios]
        if missing:
            raise StudyError(
                f"{file}: inference.scenarios: {missing[0]!r} is not a scenario of this study; list some of "
                f"{list(top['scenarios'])}"
            )
        inference["scenarios"] = chosen or None
        if inference["frame"] is not None:
            frame = _resolve(base, inference["frame"])
            if not frame.is_file():
                raise StudyError(
                    f"{file}: inference.frame: file {frame} does not exist (relative paths resolve against {base})"
                )
            inference["frame"] = str(frame)
    return Study(
        path=file,
        treatment=treatment,
        inference=inference,
        seed=top["seed"],
        scenarios=scenarios,
        data=data,
        agents=top["agents"],
        repeats=top["repeats"],
        split_seed=top["seed"] if split["seed"] is None else split["seed"],
        fit_fraction=split["fit_fraction"],
        constructions=tuple(constructions),
    )
