"""The schema of scenario TOML files and a validator that explains each problem in one line.

The schema is a small JSON-schema-like tree of :class:`Key` nodes: each names the accepted types, whether the key
is required, the allowed values and a hint. :func:`validate_document` walks a parsed document against it and raises
:class:`~scenarios.errors.ScenarioFileError` at the first unknown key, missing key, wrong type or disallowed value,
naming the file, the dotted key (``items[3].reverse``) and the fix. Cross-key rules (a dimension that names an
unknown scale, a reverse key outside the scale, …) are checked by :mod:`scenarios.loader` after this pass.

Flat parameter tables (a study file's keys, each construction kind's parameters) use the typed :class:`Param`
and the one validator :func:`read_table`, which fills defaults, runs checks, resolves relative values and raises
the same kind of one-line error.

The file format is documented with examples in ``docs/scenario_files.md``.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.errors import ScenarioFileError

__all__ = [
    "REQUIRED",
    "SCHEMA",
    "Key",
    "Param",
    "at_least",
    "describe_value",
    "example_line",
    "one_of",
    "open_unit",
    "params_markdown",
    "read_table",
    "scenario_schema_markdown",
    "unit",
    "validate_document",
]

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}


@dataclass(frozen=True)
class Key:
    """One node of the schema.

    Attributes:
        types: accepted Python types after TOML parsing (``int`` is accepted where ``float`` is).
        required: the key must be present.
        hint: how to fix a wrong or missing value.
        choices: allowed values, if restricted.
        keys: the fixed sub-keys of a table.
        each: the schema of every element of an array, or of every value of a free-keyed table.
    """

    types: tuple[type, ...]
    required: bool = False
    hint: str = ""
    choices: tuple[Any, ...] = ()
    keys: dict[str, Key] = field(default_factory=dict)
    each: Key | None = None


_STR = (str,)
_SOURCE_KEYS = {
    "path": Key(_STR, hint="a file path, relative to the TOML file"),
    "url": Key(_STR, hint="an http(s) URL"),
    "dataset": Key(_STR, hint="a dataset folder in the data source (--data / $POPULACE_DATA), e.g. 'big5_osp'"),
    "file": Key(_STR, hint="the file inside the dataset folder, e.g. 'data.csv'"),
}
_CATEGORY = Key(
    (dict,),
    keys={
        "label": Key(_STR, required=True, hint="the words shown to the respondent"),
        "code": Key((str, int), hint="the category as written in the data (default: the label)"),
        "value": Key((float,), hint="the scored value (ordinal scales only)"),
    },
)
_SCALE = Key(
    (dict,),
    keys={
        "type": Key(_STR, required=True, choices=("range", "ordinal", "categorical"), hint="the kind of answer scale"),
        "low": Key((int,), hint="smallest answer of a range scale"),
        "high": Key((int,), hint="largest answer of a range scale"),
        "labels": Key((dict,), each=Key(_STR), hint='labels of range points, e.g. { 1 = "disagree", 5 = "agree" }'),
        "categories": Key((list,), each=_CATEGORY, hint="an array of { label, code, value } tables"),
    },
)
_ITEM = Key(
    (dict,),
    keys={
        "id": Key(_STR, required=True, hint="a unique item id, e.g. 'E1'"),
        "text": Key(_STR, hint="the item wording (may come from [codebook] instead)"),
        "dimension": Key(_STR, hint="the dimension the item scores (default: its own id)"),
        "reverse": Key((bool, int), hint="true to mirror the scale, or an integer R to score R − answer"),
        "scale": Key(_STR, hint="the name of a table in [scales] (needed when there are several)"),
        "column": Key(_STR, hint="the human-data column (default: the item id)"),
    },
)
_DATA = Key(
    (dict,),
    keys={
        **_SOURCE_KEYS,
        "format": Key(_STR, choices=("csv", "tsv", "parquet"), hint="the file format (default: from the extension)"),
        "separator": Key(_STR, hint='the CSV field separator, e.g. "\\t"'),
        "missing": Key((list,), each=Key((str, int)), hint='codes that mean "no answer", e.g. [0, "NA"]'),
        "filters": Key(
            (dict,),
            each=Key((str, int, list)),
            hint='keep rows whose column equals a value (or one of a list), e.g. { country = "GB" }',
        ),
        "weight": Key(_STR, hint="a column of non-negative survey weights"),
        "demographics": Key((list,), each=Key(_STR), hint="columns describing respondents, e.g. ['age', 'gender']"),
        "demographic_labels": Key(
            (dict,),
            each=Key((dict,), each=Key(_STR)),
            hint='labels of a demographic column\'s codes, e.g. region = { "1" = "London", "2" = "the North East" }',
        ),
        "persona_template": Key(
            _STR,
            hint="how a demographic persona reads, with {column} placeholders of data.demographics, e.g. "
            "'You are a respondent aged {age_band} living in {region}.'",
        ),
        "group": Key(_STR, hint="a column whose values select subgroups with NAME@VALUE"),
        "column": Key(_STR, hint="the answer column of a decision task (default: the task name)"),
        "drop_empty_rows": Key((bool,), hint="drop rows where every item is missing (default true)"),
        "files": Key(
            (list,),
            each=Key(
                (dict,),
                keys={**_SOURCE_KEYS, "group": Key(_STR, required=True, hint="the group its rows form (NAME@GROUP)")},
            ),
            hint='several files, one group each: [{ path = "students.csv", group = "students" }, …]',
        ),
    },
)
SCHEMA = Key(
    (dict,),
    keys={
        "kind": Key(_STR, required=True, choices=("survey", "decision"), hint="'survey' or 'decision'"),
        "name": Key(_STR, hint="the scenario name (default: the file name without .toml)"),
        "description": Key(_STR, hint="situation text shown to prompt writers before the generated description"),
        "topic": Key(_STR, hint="what the respondent fills in or takes part in, e.g. 'health survey'"),
        "survey": Key(
            (dict,),
            keys={
                "instructions": Key(_STR, hint="the instruction before each item; may use {low}, {high}, {scale}"),
                "item_label": Key(_STR, hint="the word before the item text, e.g. 'Statement' or 'Question'"),
                "answer_stem": Key(_STR, hint="text the answer starts with, e.g. 'Rating: '"),
            },
        ),
        "scale": _SCALE,
        "scales": Key((dict,), each=_SCALE, hint="named scales: [scales.NAME]"),
        "items": Key((list,), each=_ITEM, hint="an array of [[items]] tables"),
        "dimensions": Key(
            (dict,),
            each=Key(
                (dict,),
                keys={
                    "label": Key(_STR, hint="the readable name, e.g. 'Extraversion'"),
                    "scoring": Key(_STR, choices=("item", "sum", "mean", "mean_answered"), hint="how items combine"),
                    "min_answered": Key(
                        (int,), hint='fewest answered items for a score (scoring = "mean_answered"; default 1)'
                    ),
                },
            ),
            hint="[dimensions.ID] tables",
        ),
        "codebook": Key(
            (dict,),
            keys={
                **_SOURCE_KEYS,
                "pattern": Key(
                    _STR, required=True, hint="a regular expression with groups (?P<id>…) and (?P<text>…) per line"
                ),
            },
        ),
        "decision": Key(
            (dict,),
            keys={
                "instruction": Key(_STR, required=True, hint="the task text the respondent reads"),
                "answer_stem": Key(_STR, hint="text the answer starts with, e.g. 'I give $'"),
                "low": Key((int,), required=True, hint="smallest allowed answer (an integer >= 0)"),
                "high": Key((int,), required=True, hint="largest allowed answer"),
                "label": Key(_STR, hint="what the number is, e.g. 'amount given'"),
                "bins": Key((list,), each=Key((float,)), hint="the values humans were recorded in, e.g. [0, 10, 20]"),
                "bin_rule": Key(
                    _STR, choices=("nearest", "floor"), hint="an answer goes to the nearest bin or the one below"
                ),
            },
        ),
        "keys": Key(
            (dict,),
            keys={
                **_SOURCE_KEYS,
                "separator": Key(_STR, hint='the CSV field separator, e.g. ";"'),
                "item": Key(_STR, hint="the column of item ids (default 'item')"),
                "key": Key(_STR, hint="the column of keys (default 'key'): -1/R/reverse or 1/+/forward"),
                "reverse_values": Key((list,), each=Key((str, int)), hint="key values meaning reverse-keyed"),
                "forward_values": Key((list,), each=Key((str, int)), hint="key values meaning forward-keyed"),
            },
        ),
        "data": _DATA,
    },
)


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def _types_text(types: tuple[type, ...]) -> str:
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def _check(value: Any, node: Key, path: str, file: str) -> None:
    if not _type_ok(value, node.types):
        fix = f"; {node.hint}" if node.hint else ""
        raise ScenarioFileError(
            f"{file}: key {path!r} must be {_types_text(node.types)}, got {type(value).__name__} {value!r}{fix}"
        )
    if node.choices and value not in node.choices:
        raise ScenarioFileError(f"{file}: key {path!r} must be one of {list(node.choices)}, got {value!r}")
    if isinstance(value, dict):
        if node.keys:
            for k, v in value.items():
                sub = f"{path}.{k}" if path else k
                if k not in node.keys:
                    close = difflib.get_close_matches(k, list(node.keys), n=1)
                    guess = f"did you mean {close[0]!r}? " if close else ""
                    raise ScenarioFileError(
                        f"{file}: unknown key {sub!r}; {guess}allowed keys here: {sorted(node.keys)}"
                    )
                _check(v, node.keys[k], sub, file)
            for k, sub_node in node.keys.items():
                if sub_node.required and k not in value:
                    sub = f"{path}.{k}" if path else k
                    raise ScenarioFileError(f"{file}: missing required key {sub!r}; add it ({sub_node.hint})")
        elif node.each is not None:
            for k, v in value.items():
                _check(v, node.each, f"{path}.{k}", file)
    elif isinstance(value, list) and node.each is not None:
        for i, v in enumerate(value):
            _check(v, node.each, f"{path}[{i}]", file)


def validate_document(doc: dict[str, Any], file: str) -> None:
    """Check a parsed TOML document against :data:`SCHEMA`.

    Args:
        doc: the output of ``tomllib.load``.
        file: the file name used in messages.

    Raises:
        ScenarioFileError: one line naming the file, the dotted key and the fix.

    Example:
        >>> validate_document({"kind": "survey", "nmae": "x"}, "s.toml")
        Traceback (most recent call last):
        ...
        scenarios.errors.ScenarioFileError: s.toml: unknown key 'nmae'; did you mean 'name'? allowed keys here: ['codebook', 'data', 'decision', 'description', 'dimensions', 'items', 'keys', 'kind', 'name', 'scale', 'scales', 'survey', 'topic']
    """
    _check(doc, SCHEMA, "", file)


def _schema_rows(node: Key, path: str) -> list[tuple[str, Key]]:
    rows: list[tuple[str, Key]] = []
    for k, sub in node.keys.items():
        dotted = f"{path}.{k}" if path else k
        rows.append((dotted, sub))
        if sub.keys:
            rows += _schema_rows(sub, dotted)
        elif sub.each is not None and sub.each.keys:
            inner = f"{dotted}[]" if list in sub.types else f"{dotted}.NAME"
            rows += _schema_rows(sub.each, inner)
    return rows


def scenario_schema_markdown() -> str:
    """Every key of a scenario file as one Markdown table (the end of ``docs/scenario_files.md``), from :data:`SCHEMA`.

    ``tests/scenarios/test_scenario_docs.py`` checks the documentation ends with exactly this text.
    """
    lines = [
        "## Every key",
        "",
        'Generated from `scenarios.schema.SCHEMA` (`python -c "from scenarios.schema import '
        'scenario_schema_markdown as m; print(m())"`); `[]` is an element of an array, `NAME` a key you choose.',
        "",
        "| key | type | required | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    for dotted, node in _schema_rows(SCHEMA, ""):
        allowed = ", ".join(f"`{c}`" for c in node.choices)
        req = "yes" if node.required else ""
        lines.append(f"| `{dotted}` | {_types_text(node.types)} | {req} | {allowed} | {node.hint} |")
    return "\n".join(lines) + "\n"


# ==================================================================================== typed parameter tables
#: The default of a :class:`Param` that must be given.
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()

_PARAM_TYPES = ("int", "float", "str", "bool", "str_list", "int_list")
_TOML_TYPE = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}


@dataclass(frozen=True)
class Param:
    """One typed key of a flat parameter table (a study file's top level, ``[split]``, a construction kind).

    Attributes:
        type: ``"int"``, ``"float"``, ``"str"`` (non-empty), ``"bool"``, ``"str_list"`` (non-empty list of
            non-empty strings) or ``"int_list"`` (non-empty list of integers).
        default: the value when the key is absent; :data:`REQUIRED` makes the key mandatory.
        check: an extra rule on a well-typed value, returning the problem (``"must be >= 1"``) or None.
        help: one line for the generated documentation.
        resolve: turns a written value into the one used, given the folder of the file (a relative path, a pool
            name); it raises ``ValueError`` whose message names the fix. The written value is kept by the caller.
    """

    type: str
    default: Any = REQUIRED
    check: Callable[[Any], str | None] | None = None
    help: str = ""
    resolve: Callable[[Any, Path], Any] | None = None

    def __post_init__(self) -> None:
        if self.type not in _PARAM_TYPES:
            raise ValueError(f"Param type must be one of {_PARAM_TYPES}, got {self.type!r}")

    @property
    def required(self) -> bool:
        """True when the key has no default."""
        return self.default is REQUIRED

    def default_text(self) -> str:
        """The default as shown in documentation: ``required``, ``–`` (None) or the JSON value."""
        if self.required:
            return "required"
        return "–" if self.default is None else f"`{json.dumps(self.default)}`"


def at_least(lo: float) -> Callable[[Any], str | None]:
    """A :attr:`Param.check`: the value is >= ``lo``."""
    return lambda v: None if v >= lo else f"must be >= {lo:g}"


def open_unit(v: float) -> str | None:
    """A :attr:`Param.check`: the value is in (0, 1)."""
    return None if 0.0 < v < 1.0 else "must be strictly between 0 and 1"


def unit(v: float) -> str | None:
    """A :attr:`Param.check`: the value is in (0, 1]."""
    return None if 0.0 < v <= 1.0 else "must be in (0, 1]"


def one_of(*choices: str) -> Callable[[Any], str | None]:
    """A :attr:`Param.check`: the value is one of ``choices``."""
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def describe_value(value: Any) -> str:
    """``an integer 3``, ``a string 'x'``: a parsed TOML value as an error message names it."""
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"


def example_line(key: str, typ: str, value: Any = None) -> str:
    """A TOML line the user can copy to fix ``key`` (``key = 10``, ``key = ["..."]``)."""
    if typ == "str_list":
        return f"{key} = [{json.dumps(value)}]" if isinstance(value, str) else f'{key} = ["..."]'
    if typ == "int_list":
        return f"{key} = [{value}]" if isinstance(value, int) and not isinstance(value, bool) else f"{key} = [50, 100]"
    return {"int": f"{key} = 10", "float": f"{key} = 0.5", "bool": f"{key} = true"}.get(typ, f'{key} = "..."')


def _param_value(key: str, spec: Param, value: Any, *, file: Any, where: str, error: type[Exception]) -> Any:
    if spec.type == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif spec.type == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    elif spec.type == "str":
        ok = isinstance(value, str) and bool(value.strip())
    elif spec.type == "bool":
        ok = isinstance(value, bool)
    elif spec.type == "int_list":
        ok = (
            isinstance(value, list)
            and bool(value)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
    else:  # str_list
        ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)
    if not ok:
        want = {"str_list": "a non-empty list of strings", "int_list": "a non-empty list of integers"}.get(
            spec.type, _TOML_TYPE.get(spec.type, spec.type)
        )
        if spec.type == "str" and isinstance(value, str):
            want = "a non-empty string"
        raise error(
            f"{file}: {where}{key}: expected {want}, got {describe_value(value)}; write e.g. "
            f"{example_line(key, spec.type, value)}"
        )
    if spec.check is not None and (problem := spec.check(value)) is not None:
        raise error(f"{file}: {where}{key} = {value!r} {problem}")
    return value


def read_table(
    table: Any,
    keys: Mapping[str, Param],
    *,
    file: Any,
    where: str = "",
    what: str = "this table",
    base: Path | None = None,
    error: type[Exception] = ScenarioFileError,
) -> dict[str, Any]:
    """Validate a flat table against typed :class:`Param` keys; return every key's value, defaults filled in.

    Args:
        table: the parsed TOML table (anything else is reported).
        keys: key → :class:`Param`, in documentation order.
        file: the file named in messages.
        where: the dotted prefix of the table's keys (``"constructions.em."``), empty at the top level.
        what: what the table is, for the unknown-key message (``"kind 'em'"``).
        base: the folder relative values resolve against (``Param.resolve``); None leaves values unresolved.
        error: the exception type raised (a project error type subclassing ``ValueError``).

    Returns:
        ``{key: value}`` for every key of ``keys`` (ints given for floats become floats; resolved values).

    Raises:
        error: one line naming the file, the dotted key and the fix (unknown key, missing required key, wrong
            type, a failed check or resolution).

    Example:
        >>> read_table({"n": 0}, {"n": Param("int", 1, at_least(1))}, file="s.toml", error=ValueError)
        Traceback (most recent call last):
        ...
        ValueError: s.toml: n = 0 must be >= 1
    """
    if not isinstance(table, dict):
        raise error(f"{file}: {where.rstrip('.') or 'top level'}: expected a table, got {describe_value(table)}")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(keys), n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise error(
            f"{file}: {where}{unknown[0]}: unknown key(s) {unknown} for {what}; {guess}allowed keys: "
            f"{', '.join(sorted(keys))}"
        )
    out: dict[str, Any] = {}
    for key, spec in keys.items():
        if key in table:
            value = _param_value(key, spec, table[key], file=file, where=where, error=error)
            if spec.resolve is not None and base is not None:
                try:
                    value = spec.resolve(value, base)
                except ValueError as exc:
                    raise error(f"{file}: {where}{key}: {exc}") from exc
            out[key] = value
        elif spec.required:
            raise error(f"{file}: {where}{key}: missing required key for {what}; add {example_line(key, spec.type)}")
        else:
            value = spec.default
            if spec.resolve is not None and base is not None and value is not None:
                try:
                    value = spec.resolve(value, base)
                except ValueError as exc:
                    raise error(f"{file}: {where}{key}: {exc}") from exc
            out[key] = value
    return out


def params_markdown(title: str, keys: Mapping[str, Param]) -> str:
    """A Markdown table of typed keys (key, type, default, meaning) under a ``####`` title."""
    rows = [f"| `{k}` | {p.type.replace('_', ' ')} | {p.default_text()} | {p.help} |" for k, p in keys.items()]
    return "\n".join([f"#### {title}", "", "| key | type | default | meaning |", "|---|---|---|---|", *rows, ""])
