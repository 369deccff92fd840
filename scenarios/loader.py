"""Read a scenario TOML file into a :class:`~scenarios.spec.SurveySpec` or :class:`~scenarios.spec.DecisionSpec`.

The file is parsed with :mod:`tomllib`, checked against :data:`scenarios.schema.SCHEMA` (unknown keys, wrong types,
missing keys), then the cross-key rules are checked here (a scale of the right shape, reverse keys inside the
scale, dimensions with items, a codebook line for every item without a text). Every problem raises
:class:`~scenarios.errors.ScenarioFileError` in one line naming the file, the dotted key and the fix. Built-in
instruments (``scenarios/builtin/*.toml``) go through exactly this path. The format: ``docs/scenario_files.md``.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from scenarios.errors import DataError, ScenarioError, ScenarioFileError
from scenarios.scales import Category, Scale
from scenarios.schema import validate_document
from scenarios.sources import fetch_url, find_dataset_file
from scenarios.spec import (
    FILE_GROUP,
    DataSpec,
    DecisionSpec,
    DimensionSpec,
    ItemSpec,
    ScenarioSpec,
    SurveySpec,
    demographic_problem,
    scales_problem,
)

__all__ = ["DEFAULT_SURVEY_INSTRUCTIONS", "load_spec", "spec_from_document"]

DEFAULT_SURVEY_INSTRUCTIONS = "Answer with one of the numbers {low} to {high} ({scale}). Reply with the number only."
#: Text the answer starts with, prefilled in the assistant turn, when a file sets none (``answer_stem = ""`` for
#: no stem). A model's next-token distribution after it is over the answer itself, not over a preamble.
DEFAULT_ANSWER_STEM = "Answer: "
_SURVEY_ONLY = ("survey", "scale", "scales", "items", "dimensions", "codebook", "keys")
_FORBIDDEN_NAME = re.compile(r"[:@\s]")


def load_spec(path: str | os.PathLike[str], *, source: str | os.PathLike[str] | None = None) -> ScenarioSpec:
    """Load and validate a scenario file.

    Args:
        path: the ``.toml`` file.
        source: data source for ``dataset = …`` references of the codebook (default: ``$POPULACE_DATA``).

    Raises:
        ScenarioFileError: a missing or invalid file (one line: file, key, fix).
    """
    p = Path(path)
    if not p.is_file():
        raise ScenarioFileError(f"{p}: no such scenario file; check the path (scenario files end in .toml)")
    try:
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioFileError(f"{p}: not valid TOML ({exc}); fix the syntax there") from exc
    return spec_from_document(doc, file=str(p), base_dir=p.parent, source=source)


def _fail(file: str, key: str, problem: str) -> ScenarioFileError:
    return ScenarioFileError(f"{file}: key {key!r}: {problem}")


def _resolve(table: dict[str, Any], key: str, file: str, base_dir: Path) -> dict[str, str]:
    """The source keys of a [data] or [codebook] table with a relative path made absolute."""
    given = [k for k in ("path", "url", "dataset") if k in table]
    if len(given) != 1:
        raise _fail(file, key, f"give exactly one of path, url or dataset (got {given or 'none'})")
    if "dataset" in table and "file" not in table:
        raise _fail(file, f"{key}.file", 'a dataset reference needs the file inside it; add file = "data.csv"')
    if "file" in table and "dataset" not in table:
        raise _fail(file, f"{key}.file", "'file' goes with 'dataset'; use path = \"…\" for a file of your own")
    out = {k: str(table.get(k, "")) for k in ("path", "url", "dataset", "file")}
    if out["path"]:
        out["path"] = str((base_dir / out["path"]).resolve()) if not Path(out["path"]).is_absolute() else out["path"]
    return out


def open_source(ref: dict[str, str], source: str | os.PathLike[str] | None) -> Path:
    """The local file of a resolved ``path``/``url``/``dataset`` reference (downloads a URL once)."""
    if ref.get("url"):
        return fetch_url(ref["url"])
    if ref.get("dataset"):
        return find_dataset_file(source, ref["dataset"], ref["file"])
    return Path(ref["path"])


def _scale(table: dict[str, Any], key: str, file: str) -> Scale:
    kind = table["type"]
    if kind == "range":
        for k in ("low", "high", "labels"):
            if k not in table:
                hint = 'labels = { 1 = "disagree", 5 = "agree" }' if k == "labels" else f"{k} = …"
                raise _fail(file, f"{key}.{k}", f"a range scale needs {k}; add {hint}")
        if "categories" in table:
            raise _fail(file, f"{key}.categories", 'a range scale has no categories; use type = "ordinal"')
        labels: dict[int, str] = {}
        for k, v in table["labels"].items():
            try:
                labels[int(k)] = v
            except ValueError:
                raise _fail(file, f"{key}.labels.{k}", 'label keys are answer numbers, e.g. 1 = "disagree"') from None
        lo, hi = table["low"], table["high"]
        if not 0 <= lo < hi:
            raise _fail(file, f"{key}.high", f"need 0 <= low < high, got low = {lo}, high = {hi}")
        outside = sorted(v for v in labels if not lo <= v <= hi)
        if outside:
            raise _fail(file, f"{key}.labels", f"labels {outside} lie outside {lo}..{hi}; label points of the scale")
        for end in (lo, hi):
            if end not in labels:
                raise _fail(file, f"{key}.labels", f'label both ends of the scale; add {end} = "…"')
        return Scale(kind="range", low=lo, high=hi, labels=labels)
    for k in ("low", "high", "labels"):
        if k in table:
            raise _fail(file, f"{key}.{k}", f"a {kind} scale is given by its categories; remove {k}")
    if "categories" not in table:
        raise _fail(file, f"{key}.categories", 'add categories = [{ label = "…", code = "…" }, …]')
    cats = []
    for i, c in enumerate(table["categories"]):
        ckey = f"{key}.categories[{i}]"
        if kind == "ordinal" and "value" not in c:
            raise _fail(file, f"{ckey}.value", "every ordinal category needs its scored value; add value = …")
        if kind == "categorical" and "value" in c:
            raise _fail(file, f"{ckey}.value", "unordered categories are not scored; remove value or use ordinal")
        cats.append(
            Category(label=c["label"], code=str(c.get("code", c["label"])), value=c.get("value"))  # type: ignore[arg-type]
        )
    try:
        return Scale(kind=kind, categories=tuple(cats))
    except ScenarioError as exc:
        raise _fail(file, f"{key}.categories", str(exc)) from None


def _codebook(doc: dict[str, Any], file: str, base_dir: Path, source: Any) -> dict[str, str]:
    table = doc.get("codebook")
    if table is None:
        return {}
    ref = _resolve(table, "codebook", file, base_dir)
    try:
        pattern = re.compile(table["pattern"])
    except re.error as exc:
        raise _fail(file, "codebook.pattern", f"not a regular expression ({exc})") from None
    if not {"id", "text"} <= set(pattern.groupindex):
        raise _fail(file, "codebook.pattern", "name the groups (?P<id>…) and (?P<text>…)")
    try:
        path = open_source(ref, source)
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except (DataError, OSError) as exc:
        raise _fail(file, "codebook", f"cannot read the codebook: {exc}") from None
    texts: dict[str, str] = {}
    for line in lines:
        m = pattern.match(line)
        if m and m.group("id") not in texts:
            texts[m.group("id")] = m.group("text").strip()
    return texts


def _items(doc: dict[str, Any], scales: dict[str, Scale], texts: dict[str, str], file: str) -> list[ItemSpec]:
    if "items" not in doc or not doc["items"]:
        raise _fail(file, "items", "a survey needs at least one [[items]] table with id and text")
    out: list[ItemSpec] = []
    seen: set[str] = set()
    for i, it in enumerate(doc["items"]):
        key = f"items[{i}]"
        item_id = it["id"]
        if not item_id or _FORBIDDEN_NAME.search(item_id):
            raise _fail(file, f"{key}.id", f"item id {item_id!r} must be non-empty without ':', '@' or spaces")
        if item_id in seen:
            raise _fail(file, f"{key}.id", f"duplicate item id {item_id!r}; item ids must be unique")
        seen.add(item_id)
        if "scale" in it:
            if it["scale"] not in scales:
                raise _fail(file, f"{key}.scale", f"unknown scale {it['scale']!r}; declared scales: {sorted(scales)}")
            scale_name = it["scale"]
        elif len(scales) == 1:
            scale_name = next(iter(scales))
        else:
            raise _fail(file, f"{key}.scale", f"item {item_id!r} must name its scale, one of {sorted(scales)}")
        text = it.get("text", texts.get(item_id, ""))
        if not text.strip():
            where = "the codebook has no line for it" if "codebook" in doc else "there is no [codebook]"
            raise _fail(file, f"{key}.text", f'item {item_id!r} has no text and {where}; add text = "…"')
        reverse = it.get("reverse", False)
        scale = scales[scale_name]
        if reverse is not False:
            if not scale.ordered:
                raise _fail(
                    file, f"{key}.reverse", f"item {item_id!r} is on unordered scale {scale_name!r}; remove reverse"
                )
            if reverse is not True:
                v = scale.values
                lo, hi = float(v.min()), float(v.max())
                mapped = (reverse - hi, reverse - lo)
                if mapped[0] < lo or mapped[1] > hi:
                    raise _fail(
                        file,
                        f"{key}.reverse",
                        f"reverse = {reverse} maps item {item_id!r}'s answers {lo:g}..{hi:g} to "
                        f"{mapped[0]:g}..{mapped[1]:g}, outside the scale; use reverse = true (= {lo + hi:g} − answer)",
                    )
        out.append(
            ItemSpec(
                id=item_id,
                text=text,
                dimension=it.get("dimension", item_id),
                scale=scale_name,
                reverse=reverse,
                column=it.get("column", item_id),
            )
        )
    return out


#: Key-file values that mark an item reverse-keyed, and forward-keyed (``[keys]`` defaults).
REVERSE_MARKS = ("-1", "-", "R", "r", "reverse", "reversed", "true", "True", "TRUE", "yes")
FORWARD_MARKS = ("1", "+1", "+", "F", "f", "forward", "false", "False", "FALSE", "no", "")


def _apply_keys(
    doc: dict[str, Any], items: list[ItemSpec], scales: dict[str, Scale], file: str, base_dir: Path, source: Any
) -> list[ItemSpec]:
    """Items with ``reverse = true`` where the ``[keys]`` file marks them reverse-keyed.

    The keys file (CSV/TSV: ``path``, ``url`` or ``dataset`` + ``file``) has one row per item: its id in column
    ``item`` and its key in column ``key`` (``-1``/``R``/``reverse``… = reverse, ``1``/``+``/``forward``… =
    forward; ``reverse_values``/``forward_values`` override). Every row must name an item of the file, and an
    item's own ``reverse`` must agree with its row.
    """
    from scenarios.tabular import read_table

    table = doc.get("keys")
    if table is None:
        return items
    ref = _resolve(table, "keys", file, base_dir)
    try:
        path = open_source(ref, source)
    except DataError as exc:
        raise _fail(file, "keys", f"cannot open the keys file: {exc}") from None
    fmt = "tsv" if path.suffix.lower() in (".tsv", ".tab") else "csv"
    df = read_table(DataSpec(**ref, format=fmt, separator=table.get("separator", "")), path, file, key="keys")
    item_col, key_col = table.get("item", "item"), table.get("key", "key")
    for k, col in (("keys.item", item_col), ("keys.key", key_col)):
        if col not in df.columns:
            raise _fail(file, k, f"column {col!r} is not in {path} (columns: {list(df.columns)}); set {k}")
    reverse_marks = tuple(str(v) for v in table.get("reverse_values", REVERSE_MARKS))
    forward_marks = tuple(str(v) for v in table.get("forward_values", FORWARD_MARKS))
    by_id = {it.id: i for i, it in enumerate(items)}
    out = list(items)
    declared = doc.get("items", [])
    for row, (item_id, mark) in enumerate(zip(df[item_col].str.strip(), df[key_col].str.strip(), strict=True)):
        where = f"{path} row {row + 2}"
        if item_id not in by_id:
            raise _fail(file, "keys", f"{where}: item {item_id!r} is not an item of the file; items: {list(by_id)}")
        if mark in reverse_marks:
            reverse = True
        elif mark in forward_marks:
            reverse = False
        else:
            raise _fail(
                file,
                "keys.reverse_values",
                f"{where}: key {mark!r} of item {item_id!r} is neither reverse {list(reverse_marks)} nor forward "
                f"{list(forward_marks)}; set keys.reverse_values / keys.forward_values",
            )
        i = by_id[item_id]
        it = out[i]
        if "reverse" in declared[i] and bool(it.reverse) != reverse:
            raise _fail(
                file,
                f"items[{i}].reverse",
                f"item {item_id!r} has reverse = {it.reverse!r} but {where} keys it {mark!r}; remove one of them",
            )
        if reverse and it.reverse is False:
            if not scales[it.scale].ordered:
                raise _fail(file, "keys", f"{where}: item {item_id!r} is on unordered scale {it.scale!r}; unkey it")
            out[i] = ItemSpec(
                id=it.id, text=it.text, dimension=it.dimension, scale=it.scale, reverse=True, column=it.column
            )
    return out


def _dimensions(doc: dict[str, Any], items: list[ItemSpec], scales: dict[str, Scale], file: str) -> list[DimensionSpec]:
    declared = doc.get("dimensions", {})
    members: dict[str, list[str]] = {}
    for it in items:
        members.setdefault(it.dimension, []).append(it.id)
    for dim_id in declared:
        if dim_id not in members:
            raise _fail(
                file, f"dimensions.{dim_id}", f"no item has dimension = {dim_id!r}; assign items to it or remove it"
            )
    out = []
    for dim_id, ids in members.items():
        if _FORBIDDEN_NAME.search(dim_id):
            raise _fail(file, f"dimensions.{dim_id}", "dimension ids must not contain ':', '@' or spaces")
        table = declared.get(dim_id, {})
        scoring = table.get("scoring", "item" if len(ids) == 1 else "sum")
        key = f"dimensions.{dim_id}.scoring"
        if scoring == "item" and len(ids) != 1:
            raise _fail(file, key, f'\'item\' scores one item but {dim_id!r} has {len(ids)}; use "sum" or "mean"')
        names = [next(it.scale for it in items if it.id == i) for i in ids]
        problem = scales_problem([scales[n] for n in names])
        if problem:
            raise _fail(file, f"dimensions.{dim_id}", f"its items use scales {sorted(set(names))} with {problem}")
        if not scales[names[0]].ordered and scoring != "item":
            raise _fail(file, key, "unordered categories cannot be summed; give each item its own dimension")
        min_answered = table.get("min_answered", 1)
        if "min_answered" in table and scoring != "mean_answered":
            raise _fail(file, f"dimensions.{dim_id}.min_answered", 'goes with scoring = "mean_answered"; remove it')
        if not 1 <= min_answered <= len(ids):
            raise _fail(
                file, f"dimensions.{dim_id}.min_answered", f"must be between 1 and the dimension's {len(ids)} items"
            )
        out.append(
            DimensionSpec(
                id=dim_id,
                label=table.get("label", dim_id),
                scoring=scoring,
                items=tuple(ids),
                min_answered=min_answered,
            )
        )
    return out


def _data(doc: dict[str, Any], file: str, base_dir: Path, *, decision_name: str = "") -> DataSpec | None:
    table = doc.get("data")
    if table is None:
        return None
    files: tuple[dict[str, str], ...] = ()
    if "files" in table:
        given = [k for k in ("path", "url", "dataset", "file") if k in table]
        if given:
            raise _fail(file, f"data.{given[0]}", "give the files in data.files, or one path/url/dataset, not both")
        if "group" in table:
            raise _fail(file, "data.group", "with data.files each file names its group; remove data.group")
        if not table["files"]:
            raise _fail(file, "data.files", 'list at least one { path = "…", group = "…" } table')
        parsed = []
        for i, f in enumerate(table["files"]):
            ref_i = _resolve({k: v for k, v in f.items() if k != "group"}, f"data.files[{i}]", file, base_dir)
            parsed.append({**ref_i, "group": f["group"]})
        groups = [f["group"] for f in parsed]
        dup = sorted({g for g in groups if groups.count(g) > 1 or not g.strip()})
        if dup:
            raise _fail(file, "data.files", f"groups {dup} are empty or repeated; give each file its own group")
        files = tuple(parsed)
        ref = {"path": "", "url": "", "dataset": "", "file": ""}
    else:
        ref = _resolve(table, "data", file, base_dir)
    if "column" in table and not decision_name:
        raise _fail(file, "data.column", "a survey reads one column per item; set items[i].column instead")
    filters = {
        k: tuple(str(x) for x in (v if isinstance(v, list) else [v])) for k, v in table.get("filters", {}).items()
    }
    sep = table.get("separator", "")
    demographics = tuple(table.get("demographics", ()))
    labels = {k: {str(c): lab for c, lab in v.items()} for k, v in table.get("demographic_labels", {}).items()}
    template = table.get("persona_template", "")
    problem = demographic_problem(demographics, labels, template)
    if problem is not None:
        raise _fail(file, *problem)
    return DataSpec(
        **ref,
        format=table.get("format", ""),
        separator=sep,
        missing=tuple(str(m) for m in table.get("missing", ())),
        filters=filters,
        weight=table.get("weight", ""),
        demographics=demographics,
        demographic_labels=labels,
        persona_template=template,
        group=FILE_GROUP if files else table.get("group", ""),
        column=table.get("column", decision_name),
        drop_empty_rows=table.get("drop_empty_rows", True),
        files=files,
    )


def spec_from_document(
    doc: dict[str, Any],
    *,
    file: str,
    base_dir: str | os.PathLike[str] = ".",
    source: str | os.PathLike[str] | None = None,
) -> ScenarioSpec:
    """Validate a parsed TOML document and build its spec.

    Args:
        doc: the parsed document.
        file: its file name (for messages and ``origin``).
        base_dir: folder that relative paths are resolved against.
        source: data source for ``dataset`` references.

    Raises:
        ScenarioFileError: one line naming the file, the key and the fix.
    """
    validate_document(doc, file)
    base = Path(base_dir)
    name = doc.get("name", Path(file).stem)
    if not name or _FORBIDDEN_NAME.search(name):
        raise _fail(file, "name", f"scenario name {name!r} must be non-empty without ':', '@' or spaces")
    common = {"topic": doc.get("topic"), "description": doc.get("description", "")}
    if doc["kind"] == "decision":
        for k in _SURVEY_ONLY:
            if k in doc:
                raise _fail(file, k, 'belongs to a survey; remove it or set kind = "survey"')
        if "decision" not in doc:
            raise _fail(file, "decision", "a decision task needs a [decision] table (instruction, low, high)")
        d = doc["decision"]
        if not 0 <= d["low"] < d["high"]:
            raise _fail(file, "decision.high", f"need 0 <= low < high, got low = {d['low']}, high = {d['high']}")
        if not d["instruction"].strip():
            raise _fail(file, "decision.instruction", "the instruction is empty; write the task text")
        try:
            return DecisionSpec(
                name=name,
                instruction=d["instruction"],
                low=d["low"],
                high=d["high"],
                answer_stem=d.get("answer_stem", DEFAULT_ANSWER_STEM),
                label=d.get("label", "answer"),
                topic=common["topic"] or "",
                description=common["description"],
                data=_data(doc, file, base, decision_name=name),
                origin=file,
                bins=tuple(d.get("bins", ())),
                bin_rule=d.get("bin_rule", "nearest"),
            )
        except ScenarioError as exc:
            raise ScenarioFileError(f"{file}: {exc}") from None
    if "decision" in doc:
        raise _fail(file, "decision", 'belongs to a decision task; remove it or set kind = "decision"')
    if "scale" in doc and "scales" in doc:
        raise _fail(file, "scales", "give either one [scale] or named [scales.NAME] tables, not both")
    if "scale" in doc:
        scales = {"default": _scale(doc["scale"], "scale", file)}
    elif doc.get("scales"):
        scales = {k: _scale(v, f"scales.{k}", file) for k, v in doc["scales"].items()}
    else:
        raise _fail(file, "scale", 'a survey needs an answer scale; add a [scale] table (type = "range", …)')
    items = _items(doc, scales, _codebook(doc, file, base, source), file)
    items = _apply_keys(doc, items, scales, file, base, source)
    dims = _dimensions(doc, items, scales, file)
    survey = doc.get("survey", {})
    try:
        return SurveySpec(
            name=name,
            scales=scales,
            items=tuple(items),
            dimensions=tuple(dims),
            topic=common["topic"] or "questionnaire",
            description=common["description"],
            instructions=survey.get("instructions", DEFAULT_SURVEY_INSTRUCTIONS),
            item_label=survey.get("item_label", "Statement"),
            answer_stem=survey.get("answer_stem", DEFAULT_ANSWER_STEM),
            data=_data(doc, file, base),
            origin=file,
        )
    except ScenarioError as exc:
        key = "survey.instructions" if "placeholder" in str(exc) or "template" in str(exc) else "items"
        raise _fail(file, key, str(exc)) from None
