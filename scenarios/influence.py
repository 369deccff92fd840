"""The social-influence scenario kind: a numeric question asked over rounds, with an information rule per condition.

A file with ``kind = "influence"`` declares the question(s) (``[[items]]``), the answer set (``[answers]``), the
number of rounds and the group size, one information rule per condition (``[conditions.NAME] rule = …``) and the
mapping of its human data (``[data]``: round columns, condition column, group keys, item column and truth). The
format is documented in ``docs/influence.md``; ``scenarios/builtin_influence/lorenz2011.toml`` is the built-in
(Lorenz et al. 2011). Information rules, for an agent on a graph (the experiment's groups are complete graphs):

* ``none``: nothing but its own last answer;
* ``mean``: the mean of the last answers of its closed neighbourhood (itself and its neighbours: the whole group
  on a complete graph, as in the aggregated condition of Lorenz et al.);
* ``all``: every last answer of its closed neighbourhood, sorted ascending;
* ``neighbours``: its neighbours' last answers (without its own), their mean or the list (``show``).

Every problem raises :class:`~scenarios.errors.ScenarioFileError` in one line naming the file, the key and the fix.
"""

from __future__ import annotations

import csv
import math
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from populace_lm.types import IntegerAnswers
from scenarios.catalog import influence_files
from scenarios.errors import DataError, ScenarioError, ScenarioFileError
from scenarios.question import Question
from scenarios.sources import fetch_url, find_dataset_file

__all__ = [
    "RULES",
    "AnswerGrid",
    "ConditionSpec",
    "HumanRounds",
    "InfluenceItem",
    "InfluenceSpec",
    "get_influence",
    "influence_from_question",
    "influence_names",
    "load_influence",
    "round_sig",
    "with_grid",
]

RULES = ("none", "mean", "all", "neighbours")
_TOP = {"kind", "name", "title", "description", "rounds", "group_size", "answers", "conditions", "items", "data",
        "prompt"}  # fmt: skip
_ANSWERS = {"type", "low", "high", "grid", "per_decade", "max_exact", "labels"}
_CONDITION = {"rule", "show", "network", "label"}
_ITEM = {"id", "code", "text", "unit", "truth", "low", "high"}
_DATA = {"path", "url", "dataset", "file", "rounds", "condition", "groups", "item", "truth"}
_PROMPT = {"first", "later", "own", "mean", "all", "neighbours_mean", "neighbours_all", "options", "exact"}

#: The prompt templates; the answer hint comes before the lines that change between agents, so consecutive
#: prompts share a long token prefix (the embedded backend reuses its KV cache over it).
DEFAULT_PROMPT = {
    "first": "{question}\n{answer_hint}",
    "later": "{question}\n{answer_hint}\n{own}\n{information}\nGive your estimate again.",
    "own": "Your last estimate was {own}.",
    "mean": "The average of the last estimates of your group was {mean}.",
    "all": "The last estimates of your group were: {values}.",
    "neighbours_mean": "The average of the last estimates of the people you are connected to was {mean}.",
    "neighbours_all": "The last estimates of the people you are connected to were: {values}.",
    "options": "Choose the option closest to your estimate and reply with its number only: {options}.",
    "exact": "Reply with a whole number from {low} to {high} only.",
}


def round_sig(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant figures (``round_sig(12345, 3) == 12300``; 0 stays 0)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(round(x, digits - 1 - math.floor(math.log10(abs(x)))))


def format_number(x: float, digits: int | None = 3) -> str:
    """A number as shown to agents: rounded to ``digits`` significant figures (None = exact), no trailing ``.0``."""
    v = round_sig(float(x), digits) if digits else float(x)
    return f"{int(v):,}" if v == int(v) and abs(v) < 1e15 else f"{v:,.{max(digits or 6, 1)}g}"


@dataclass(frozen=True, kw_only=True)
class AnswerGrid:
    """The answers an agent may give to one item: exact integers, or a log-scale grid of options.

    Attributes:
        values: the answer values, ascending, shape ``(K,)``.
        kind: ``"exact"`` (the integers ``low..high``) or ``"log-grid"`` (``per_decade`` points a decade, 2
            significant figures, asked as numbered options).
        per_decade: grid points per decade (0 for exact).
    """

    values: np.ndarray
    kind: str
    per_decade: int = 0

    @property
    def label(self) -> str:
        """How answers were asked, for every output (``"log-grid (29 options, 4 per decade)"``)."""
        if self.kind == "exact":
            return f"exact integers {int(self.values[0])}..{int(self.values[-1])}"
        return f"log-grid ({self.values.size} options, {self.per_decade} per decade)"

    @property
    def integer_answers(self) -> IntegerAnswers:
        """What the language model writes: the value itself (exact) or the option number ``1..K``."""
        if self.kind == "exact":
            return IntegerAnswers(low=int(self.values[0]), high=int(self.values[-1]))
        return IntegerAnswers(low=1, high=int(self.values.size))

    def value_of(self, answers: np.ndarray) -> np.ndarray:
        """Estimates from the model's integer answers, shape ``(n,)`` → ``(n,)``."""
        a = np.asarray(answers, dtype=np.int64)
        return a.astype(float) if self.kind == "exact" else self.values[a - 1]

    def nearest(self, x: np.ndarray) -> np.ndarray:
        """The grid value nearest on the log scale to each estimate (for human round-1 answers), ``(n,)``."""
        v = np.log(np.maximum(np.asarray(x, dtype=float), self.values[0]))
        logs = np.log(self.values)
        idx = np.clip(np.searchsorted(logs, v), 1, logs.size - 1)
        left = v - logs[idx - 1] < logs[idx] - v
        return self.values[np.where(left, idx - 1, idx)]


def log_grid(low: float, high: float, per_decade: int) -> np.ndarray:
    """``per_decade`` log-spaced points a decade from ``low`` to ``high``, 2 significant figures, ``(K,)``."""
    lo, hi = math.ceil(per_decade * math.log10(low) - 1e-9), math.floor(per_decade * math.log10(high) + 1e-9)
    vals = sorted({round_sig(10 ** (j / per_decade), 2) for j in range(lo, hi + 1)})
    return np.asarray(vals, dtype=float)


@dataclass(frozen=True, kw_only=True)
class InfluenceItem:
    """One question of a social-influence scenario.

    Attributes:
        id: item id (``"Q1"``).
        code: the value of the data's item column for this item (``"1"``).
        text: the question as asked.
        unit: the unit of the answer (``"inhabitants per km²"``), may be empty.
        truth: the true answer (never shown to agents), or NaN when the data's truth column gives it.
        grid: the answers agents may give.
    """

    id: str
    code: str
    text: str
    unit: str
    truth: float
    grid: AnswerGrid


@dataclass(frozen=True, kw_only=True)
class ConditionSpec:
    """One information condition.

    Attributes:
        name: the condition (the value of the data's condition column, e.g. ``"aggregated"``).
        rule: one of :data:`RULES`.
        show: for ``neighbours``: ``"mean"`` or ``"all"`` (for the other rules it is implied).
        network: the graph within a group (``"complete"`` = the experiment's groups; any ``--network`` form).
        label: a readable name.
    """

    name: str
    rule: str
    show: str
    network: str
    label: str


@dataclass(frozen=True, kw_only=True)
class HumanRounds:
    """The human estimates of a social-influence scenario, one group per row (arrays for :mod:`alignment.influence`).

    Attributes:
        estimates: shape ``(G, N, R)``, NaN where a group has fewer than ``N`` members.
        conditions: each group's condition, length ``G``.
        truth: shape ``(G,)``.
        groups: each group's key (``"081111_1557/Q1"``).
        items: each group's item id.
    """

    estimates: np.ndarray
    conditions: tuple[str, ...]
    truth: np.ndarray
    groups: tuple[str, ...]
    items: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class InfluenceSpec:
    """A validated social-influence scenario file.

    Attributes:
        name: scenario name.
        title: one-line title.
        description: the situation told to agents before the question.
        rounds: rounds ``R`` (>= 2).
        group_size: agents per group ``N``.
        items: the questions.
        conditions: the information conditions, in file order.
        data: the human data mapping (``path``/``url``/``dataset``+``file``, ``rounds``, ``condition``, ``groups``,
            ``item``, ``truth``), or None when the file has no human data.
        prompt: the prompt templates (:data:`DEFAULT_PROMPT` with the file's ``[prompt]`` over it).
        file: the file it was read from.
    """

    name: str
    title: str
    description: str
    rounds: int
    group_size: int
    items: tuple[InfluenceItem, ...]
    conditions: tuple[ConditionSpec, ...]
    data: dict[str, Any] | None
    prompt: dict[str, str]
    file: str

    def item(self, item_id: str) -> InfluenceItem:
        """One item by id (case-insensitive).

        Raises:
            ScenarioError: an unknown id, listing the ids.
        """
        for it in self.items:
            if it.id.lower() == item_id.lower():
                return it
        raise ScenarioError(f"{self.name}: no item {item_id!r}; items: {[i.id for i in self.items]}")

    def condition(self, name: str) -> ConditionSpec:
        """One condition by name.

        Raises:
            ScenarioError: an unknown name, listing the conditions.
        """
        for c in self.conditions:
            if c.name == name:
                return c
        raise ScenarioError(f"{self.name}: no condition {name!r}; conditions: {[c.name for c in self.conditions]}")

    def question(self, item: InfluenceItem, *, own: str | None = None, information: str = "") -> Question:
        """The question of one round: round 1 when ``own`` is None, else a later round.

        Args:
            item: the item.
            own: the agent's last estimate as shown (already formatted), None in round 1.
            information: the rendered information line ("" under rule ``none``).
        """
        grid = item.grid
        if grid.kind == "exact":
            hint = self.prompt["exact"].format(low=int(grid.values[0]), high=int(grid.values[-1]))
        else:
            opts = ", ".join(f"{i} = {format_number(v, None)}" for i, v in enumerate(grid.values, start=1))
            hint = self.prompt["options"].format(options=opts)
        question = item.text if not self.description else f"{self.description}\n{item.text}"
        if own is None:
            text = self.prompt["first"].format(question=question, answer_hint=hint).strip()
        else:
            own_line = self.prompt["own"].format(own=own)
            text = self.prompt["later"].format(question=question, own=own_line, information=information,
                                               answer_hint=hint)  # fmt: skip
            text = "\n".join(line for line in text.split("\n") if line.strip())
        return Question(id=item.id, prompt=text, answers=grid.integer_answers, answer_prefix="Answer: ")

    def human_rounds(self, source: str | os.PathLike[str] | None = None) -> HumanRounds:
        """The human estimates, grouped (see :class:`HumanRounds`).

        Raises:
            ScenarioFileError: the file has no ``[data]``, or the data lacks a named column.
            DataError: the data cannot be found or a cell is not a number.
        """
        if self.data is None:
            raise ScenarioFileError(f"{self.file}: no [data] table; add one to score against humans")
        return read_human_rounds(self, source)


def with_grid(spec: InfluenceSpec, per_decade: int) -> InfluenceSpec:
    """``spec`` with every log-grid item re-gridded at ``per_decade`` points a decade (exact items unchanged).

    A coarser grid means fewer options, so fewer forward passes per answer distribution (a study's knob).
    """
    if per_decade < 1:
        raise ScenarioError(f"per_decade must be >= 1, got {per_decade}")
    items = tuple(
        replace(it, grid=AnswerGrid(values=log_grid(it.grid.values[0], it.grid.values[-1], per_decade),
                                    kind="log-grid", per_decade=per_decade))
        if it.grid.kind == "log-grid" else it
        for it in spec.items
    )  # fmt: skip
    return replace(spec, items=items)


def influence_from_question(
    name: str, question: Question, *, rounds: int, rule: str, show: str = "mean"
) -> InfluenceSpec:
    """A one-condition social-influence scenario asking a survey item (or decision) over rounds.

    The item's wording (with its own answer instruction) is the question; answers are its exact integer answers;
    there is no truth (truth-based metrics are NaN). The condition is named after the rule.

    Raises:
        ScenarioError: an unknown rule or fewer than 2 rounds.
    """
    if rule not in RULES:
        raise ScenarioError(f"unknown influence rule {rule!r}; use one of {list(RULES)}")
    if rounds < 2:
        raise ScenarioError(f"an influence run needs at least 2 rounds, got {rounds}")
    a = question.answers
    grid = AnswerGrid(values=np.arange(a.low, a.high + 1, dtype=float), kind="exact")
    item = InfluenceItem(id=question.id, code=question.id, text=question.prompt, unit="", truth=math.nan, grid=grid)
    show = show if rule == "neighbours" else ("all" if rule == "all" else "mean")
    prompt = dict(DEFAULT_PROMPT)
    prompt.update(exact="", own="Your last answer was {own}.", later="{question}\n{own}\n{information}\nAnswer again.",
                  mean="The average of the last answers of your group was {mean}.",
                  all="The last answers of your group were: {values}.",
                  neighbours_mean="The average of the last answers of the people you are connected to was {mean}.",
                  neighbours_all="The last answers of the people you are connected to were: {values}.")  # fmt: skip
    cond = ConditionSpec(name=rule, rule=rule, show=show, network="complete", label=rule)
    return InfluenceSpec(name=name, title=name, description="", rounds=rounds, group_size=2, items=(item,),
                         conditions=(cond,), data=None, prompt=prompt, file=name)  # fmt: skip


def _fail(file: str, key: str, problem: str) -> ScenarioFileError:
    return ScenarioFileError(f"{file}: key {key!r}: {problem}")


def _check_keys(table: Any, allowed: set[str], key: str, file: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise _fail(file, key, f"must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(file, f"{key}.{unknown[0]}" if key else unknown[0], f"unknown key; allowed keys: {sorted(allowed)}")
    return table


def _int(table: dict[str, Any], k: str, key: str, file: str, *, minimum: int, default: int | None = None) -> int:
    if k not in table:
        if default is None:
            raise _fail(file, key, f"missing; add {k} = …")
        return default
    v = table[k]
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise _fail(file, key, f"must be an integer >= {minimum}, got {v!r}")
    return v


def _grid(answers: dict[str, Any], low: float, high: float, key: str, file: str) -> AnswerGrid:
    if not 0 < low < high:
        raise _fail(file, key, f"need 0 < low < high, got low = {low}, high = {high}")
    mode = answers.get("grid", "auto")
    if mode not in ("auto", "exact", "log"):
        raise _fail(file, "answers.grid", f'must be "auto", "exact" or "log", got {mode!r}')
    max_exact = _int(answers, "max_exact", "answers.max_exact", file, minimum=2, default=101)
    exact_ok = float(low).is_integer() and float(high).is_integer() and high - low + 1 <= max_exact
    if mode == "exact" and not exact_ok:
        raise _fail(file, key, f'{low}..{high} is more than max_exact = {max_exact} integers; use grid = "log"')
    if mode == "exact" or (mode == "auto" and exact_ok):
        return AnswerGrid(values=np.arange(int(low), int(high) + 1, dtype=float), kind="exact")
    per_decade = _int(answers, "per_decade", "answers.per_decade", file, minimum=1, default=4)
    return AnswerGrid(values=log_grid(low, high, per_decade), kind="log-grid", per_decade=per_decade)


def _conditions(doc: dict[str, Any], file: str) -> tuple[ConditionSpec, ...]:
    table = doc.get("conditions")
    if not isinstance(table, dict) or not table:
        raise _fail(file, "conditions", 'declare at least one condition, e.g. [conditions.control] rule = "none"')
    out = []
    for name, body in table.items():
        key = f"conditions.{name}"
        body = _check_keys(body, _CONDITION, key, file)
        if "rule" not in body:
            raise _fail(file, f"{key}.rule", f"a condition needs an information rule; add rule = one of {list(RULES)}")
        rule = body["rule"]
        if rule not in RULES:
            raise _fail(file, f"{key}.rule", f"unknown rule {rule!r}; use one of {list(RULES)}")
        show = body.get("show", "mean" if rule in ("mean", "neighbours") else rule)
        if rule == "neighbours" and show not in ("mean", "all"):
            raise _fail(file, f"{key}.show", f'must be "mean" or "all", got {show!r}')
        if rule != "neighbours" and "show" in body:
            raise _fail(file, f"{key}.show", "only a neighbours rule takes show; remove it")
        out.append(ConditionSpec(name=str(name), rule=rule, show=show, network=str(body.get("network", "complete")),
                                 label=str(body.get("label", name))))  # fmt: skip
    return tuple(out)


def _items(doc: dict[str, Any], answers: dict[str, Any], file: str) -> tuple[InfluenceItem, ...]:
    raw = doc.get("items")
    if not isinstance(raw, list) or not raw:
        raise _fail(file, "items", "declare at least one [[items]] with id and text")
    out, seen = [], set()
    for i, it in enumerate(raw):
        key = f"items[{i}]"
        it = _check_keys(it, _ITEM, key, file)
        for k in ("id", "text"):
            if not isinstance(it.get(k), str) or not it[k].strip():
                raise _fail(file, f"{key}.{k}", f'missing or empty; add {k} = "…"')
        if it["id"] in seen:
            raise _fail(file, f"{key}.id", f"duplicate item id {it['id']!r}; ids must be unique")
        seen.add(it["id"])
        low, high = it.get("low", answers.get("low")), it.get("high", answers.get("high"))
        if low is None or high is None:
            raise _fail(file, f"{key}.high", "give the answer range: low and high in [answers] or in the item")
        truth = it.get("truth", math.nan)
        if not isinstance(truth, int | float) or isinstance(truth, bool):
            raise _fail(file, f"{key}.truth", f"must be a number, got {truth!r}")
        out.append(InfluenceItem(id=it["id"], code=str(it.get("code", it["id"])), text=it["text"].strip(),
                                 unit=str(it.get("unit", "")), truth=float(truth),
                                 grid=_grid(answers, low, high, f"{key}.high", file)))  # fmt: skip
    return tuple(out)


def _data(doc: dict[str, Any], file: str, base_dir: Path, rounds: int, items: tuple[InfluenceItem, ...]) -> Any:
    if "data" not in doc:
        return None
    data = dict(_check_keys(doc["data"], _DATA, "data", file))
    given = [k for k in ("path", "url", "dataset") if k in data]
    if len(given) != 1:
        raise _fail(file, "data", f"give exactly one of path, url or dataset (got {given or 'none'})")
    if "dataset" in data and "file" not in data:
        raise _fail(file, "data.file", 'a dataset reference needs the file inside it; add file = "data.csv"')
    if "path" in data and not Path(data["path"]).is_absolute():
        data["path"] = str((base_dir / data["path"]).resolve())
    cols = data.get("rounds")
    if not isinstance(cols, list) or len(cols) != rounds or not all(isinstance(c, str) for c in cols):
        raise _fail(file, "data.rounds", f'list the {rounds} round columns in order, e.g. ["E1", …, "E{rounds}"]')
    for k in ("condition", "groups"):
        if k not in data:
            raise _fail(file, f"data.{k}", "missing; name the column(s) of the human file")
    if isinstance(data["groups"], str):
        data["groups"] = [data["groups"]]
    if "truth" not in data and any(math.isnan(it.truth) for it in items):
        raise _fail(file, "data.truth", "name the truth column, or give truth = … in every [[items]]")
    return data


def spec_from_influence_document(doc: dict[str, Any], *, file: str, base_dir: Path) -> InfluenceSpec:
    """Validate a parsed ``kind = "influence"`` document (see the module docstring).

    Raises:
        ScenarioFileError: one line naming the file, the key and the fix.
    """
    _check_keys(doc, _TOP, "", file)
    if doc.get("kind") != "influence":
        raise _fail(file, "kind", 'a social-influence scenario has kind = "influence"')
    name = doc.get("name")
    if not isinstance(name, str) or not name or any(ch in name for ch in ":@ "):
        raise _fail(file, "name", 'give a name without ":", "@" or spaces, e.g. name = "my_influence"')
    rounds = _int(doc, "rounds", "rounds", file, minimum=2)
    group_size = _int(doc, "group_size", "group_size", file, minimum=2)
    answers = _check_keys(doc.get("answers", {}), _ANSWERS, "answers", file)
    kind = answers.get("type", "numeric")
    if kind not in ("numeric", "ordinal"):
        raise _fail(file, "answers.type", f'must be "numeric" or "ordinal", got {kind!r}')
    if kind == "ordinal" and answers.get("grid", "exact") != "exact":
        raise _fail(file, "answers.grid", "an ordinal answer is asked exactly; remove grid")
    items = _items(doc, answers, file)
    prompt = dict(DEFAULT_PROMPT)
    prompt.update({k: str(v) for k, v in _check_keys(doc.get("prompt", {}), _PROMPT, "prompt", file).items()})
    return InfluenceSpec(
        name=name,
        title=str(doc.get("title", name)),
        description=str(doc.get("description", "")).strip(),
        rounds=rounds,
        group_size=group_size,
        items=items,
        conditions=_conditions(doc, file),
        data=_data(doc, file, base_dir, rounds, items),
        prompt=prompt,
        file=file,
    )


def load_influence(path: str | os.PathLike[str]) -> InfluenceSpec:
    """Read and validate a social-influence scenario file.

    Raises:
        ScenarioFileError: a missing or invalid file (one line: file, key, fix).
    """
    p = Path(path)
    if not p.is_file():
        raise ScenarioFileError(f"{p}: no such scenario file; check the path (scenario files end in .toml)")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioFileError(f"{p}: not valid TOML ({exc}); fix the syntax there") from exc
    return spec_from_influence_document(doc, file=str(p), base_dir=p.parent)


def influence_names() -> list[str]:
    """The built-in social-influence scenarios (``scenarios/builtin_influence/*.toml``)."""
    return sorted(influence_files())


def get_influence(name: str) -> InfluenceSpec:
    """A built-in social-influence scenario (``"lorenz2011"``) or a file (``"my.toml"``; ``":ITEM"`` is ignored).

    Raises:
        ScenarioError: an unknown name, listing the built-ins.
    """
    base = name.split("@", 1)[0]
    if ".toml" in base.lower():
        return load_influence(base[: base.lower().rfind(".toml") + 5])
    stem = base.split(":", 1)[0]
    files = influence_files()
    if stem not in files:
        raise ScenarioError(f"no social-influence scenario {stem!r}; built-ins: {sorted(files)} or a FILE.toml")
    return load_influence(Path(str(files[stem])))


def _data_file(spec: InfluenceSpec, source: str | os.PathLike[str] | None) -> Path:
    d = spec.data or {}
    if d.get("url"):
        return fetch_url(d["url"])
    if d.get("dataset"):
        return find_dataset_file(source, d["dataset"], d["file"])
    p = Path(d["path"])
    if not p.is_file():
        raise DataError(f"{spec.file}: data.path {p} does not exist; fix the path")
    return p


def read_human_rounds(spec: InfluenceSpec, source: str | os.PathLike[str] | None = None) -> HumanRounds:
    """Read the human file of ``spec`` (CSV) into groups × members × rounds (see :class:`HumanRounds`).

    Groups are the distinct values of ``data.groups`` (with ``data.item`` when given); rows whose item column
    names no declared item, or whose condition is not declared, are left out.

    Raises:
        ScenarioFileError: a column named in ``[data]`` is missing from the file (naming the fix).
        DataError: the file cannot be found, or an estimate or truth cell is not a number.
    """
    d = spec.data
    assert d is not None
    path = _data_file(spec, source)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    need = {"data.rounds": list(d["rounds"]), "data.condition": [d["condition"]], "data.groups": list(d["groups"])}
    if d.get("item"):
        need["data.item"] = [d["item"]]
    if d.get("truth"):
        need["data.truth"] = [d["truth"]]
    for key, cols in need.items():
        missing = [c for c in cols if c not in header]
        if missing:
            raise ScenarioFileError(
                f"{path}: no column(s) {missing} named in {spec.file} {key}; the file has {header[:20]}; "
                f"fix {key} or the file's header"
            )
    by_code = {it.code: it for it in spec.items}
    conds = {c.name for c in spec.conditions}
    grouped: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for row in rows:
        if d.get("item") and row[d["item"]] not in by_code:
            continue
        if row[d["condition"]] not in conds:
            continue
        key = tuple(row[c] for c in d["groups"]) + ((row[d["item"]],) if d.get("item") else ())
        grouped.setdefault(key, []).append(row)
    if not grouped:
        raise DataError(
            f"{path}: no row has a declared condition {sorted(conds)} and item; check [data] and [conditions]"
        )
    n = max(len(v) for v in grouped.values())
    est = np.full((len(grouped), n, spec.rounds), np.nan)
    truth = np.empty(len(grouped))
    conditions, keys, items = [], [], []
    for g, (key, members) in enumerate(grouped.items()):
        item = by_code[members[0][d["item"]]] if d.get("item") else spec.items[0]
        for j, row in enumerate(members):
            for t, col in enumerate(d["rounds"]):
                try:
                    est[g, j, t] = float(row[col])
                except ValueError:
                    raise DataError(f"{path}: column {col!r} holds {row[col]!r}, not a number") from None
        truth[g] = float(members[0][d["truth"]]) if d.get("truth") else item.truth
        conditions.append(members[0][d["condition"]])
        keys.append("/".join(key))
        items.append(item.id)
    return HumanRounds(estimates=est, conditions=tuple(conditions), truth=truth, groups=tuple(keys), items=tuple(items))
