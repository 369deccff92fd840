"""The study file of ``populace experiment seed002`` (``experiments/configs/seed002.toml``) and its settings.

:func:`load_seed002_study` checks the file against :data:`SCHEMA` (the key tree of :mod:`scenarios.schema`: an
unknown key, a missing key or a wrong type is one line naming the file and the dotted key);
:func:`resolve_settings` applies the command-line options of the same name on top (a flag given wins) and checks
what depends on both (the profile, the item weights against the items). The result, :class:`Seed002Settings`, is
all the pipeline (:mod:`experiments.seed002_pipeline`) reads.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.study import StudyError
from populations.aligned import METHODS as ALIGN_METHODS
from scenarios.errors import ScenarioFileError
from scenarios.schema import Key
from scenarios.schema import _check as _check_key  # the key-tree walk of scenarios.schema (one validator)

__all__ = [
    "DEFAULT_STUDY",
    "SCHEMA",
    "OutOfDomainSurvey",
    "Seed002Error",
    "Seed002Settings",
    "load_seed002_study",
    "resolve_settings",
]

DEFAULT_STUDY = Path(__file__).with_name("configs") / "seed002.toml"


class Seed002Error(StudyError):
    """A seed002 study-file or option problem, as one line naming the file or option and the fix."""


_STR, _INT, _NUM, _BOOL, _LIST = (str,), (int,), (float,), (bool,), (list,)
_STRS = Key(_LIST, each=Key(_STR))
_SURVEY = Key(
    (dict,),
    keys={
        "label": Key(_STR, required=True, hint="the survey's row label in the out-of-domain table, e.g. 'CFCS'"),
        "scenario": Key(_STR, required=True, hint="a survey scenario of the registry, e.g. 'osp_cfcs'"),
        "items": Key(_LIST, required=True, each=Key(_STR), hint="item ids of the scenario"),
    },
)
SCHEMA = Key(
    (dict,),
    keys={
        "seed": Key(_INT, hint="the root seed, an integer >= 0"),
        "profile": Key(_STR, hint="the name of a [profiles.NAME] table"),
        "repeats": Key(_INT, hint="draws of each sampled score and of the floor"),
        "eval_humans": Key(_INT, hint="random test humans the metrics use"),
        "workers": Key(_INT, hint="Ray actors answering (1 = this process)"),
        "profiles": Key(
            (dict,),
            required=True,
            each=Key((dict,), keys={"n_select": Key(_INT, required=True, hint="personas per selected set")}),
            hint="[profiles.NAME] tables with n_select",
        ),
        "pool": Key(
            (dict,),
            required=True,
            keys={
                "specs": Key(_LIST, required=True, each=Key(_STR), hint='NAME[:COUNT] specs, e.g. ["personahub:800"]'),
                "n": Key(_INT, hint="the first n of the shuffled combined pool"),
            },
        ),
        "in_domain": Key(
            (dict,),
            required=True,
            keys={
                "scenario": Key(_STR, required=True, hint="the survey scenario aligned to, e.g. 'bigfive'"),
                "items": Key(_LIST, required=True, each=Key(_STR), hint="item ids asked of the pool"),
                "draws": Key(_INT, hint="integer answer vectors per persona"),
                "expected": Key(_BOOL, hint="expected answers instead of integer draws"),
                "item_weights": Key(_LIST, each=Key(_NUM), hint="OT item weights, one per item"),
            },
        ),
        "out_of_domain": Key(
            (dict,),
            required=True,
            keys={
                "n": Key(_INT, hint="personas of each set asked the out-of-domain items"),
                "surveys": Key(_LIST, required=True, each=_SURVEY, hint="[[out_of_domain.surveys]] tables"),
            },
        ),
        "constructions": Key(
            _LIST,
            required=True,
            each=Key(
                (dict,),
                keys={
                    "name": Key(_STR, required=True, hint="the row label, e.g. 'Resample'"),
                    "method": Key(_STR, required=True, choices=ALIGN_METHODS, hint="an AlignedPersonaBuilder method"),
                },
            ),
            hint="[[constructions]] tables with name and method",
        ),
        "subgroups": Key(
            (dict,),
            required=True,
            keys={
                "k": Key(_INT, hint="personas retrieved per query"),
                "min_score": Key(_NUM, hint="cosine similarity floor of a retrieved persona"),
                "min_humans": Key(_INT, hint="test humans a group needs"),
                "wvs": Key(_BOOL, hint="run the WVS poverty check"),
                "wvs_scenario": Key(_STR, hint="the WVS scenario asked as NAME@COUNTRY"),
                "country": Key((dict,), each=Key(_STR), hint="COUNTRY_CODE = query"),
                "age": Key(
                    _LIST,
                    each=Key(
                        (dict,),
                        keys={
                            "label": Key(_STR, required=True, hint="the group label"),
                            "query": Key(_STR, required=True, hint="the retrieval query"),
                            "low": Key(_INT, required=True, hint="youngest age in the group"),
                            "high": Key(_INT, required=True, hint="oldest age in the group"),
                        },
                    ),
                ),
                "wvs_countries": Key((dict,), each=Key(_STR), hint="WVS_GROUP = query"),
            },
        ),
    },
)
_REQUIRED_ROWS = ("Raw", "Resample")  # written as pool_raw.jsonl and aligned_resample.jsonl


@dataclass(frozen=True, kw_only=True)
class OutOfDomainSurvey:
    """One out-of-domain survey: its table label, registry scenario and the items asked."""

    label: str
    scenario: str
    items: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Seed002Settings:
    """Everything one seed002 run reads: the study file with the command-line options applied.

    Attributes:
        study: the study file.
        seed: root seed of every random choice.
        data: human data source (``--data``) or None.
        profile: the profile name; ``n_select`` its set size unless ``--n-select`` is given.
        pools: ``NAME[:COUNT]`` pool specs; ``n_pool`` the optional cut of the shuffled pool.
        scenario: the in-domain survey scenario; ``items`` its items, ``item_weights`` the OT item weights.
        draws: integer answer vectors per persona; ``expected`` the expected-value variant instead.
        repeats: draws of each sampled score and of the floor; ``eval_humans`` the metrics' human subsample.
        ood_n: personas per set asked the out-of-domain surveys ``out_of_domain``.
        methods: ``(row label, AlignedPersonaBuilder method)`` pairs, the table rows.
        subgroup_k, min_score, min_humans: retrieval size, similarity floor, humans a group needs.
        country_queries: country code → query; ``age_queries``: ``(label, query, low, high)``.
        wvs: run the WVS check; ``wvs_scenario`` and ``wvs_queries`` (group → query) define it.
        workers: Ray actors answering (1 = this process); ``matrix_dir`` where response matrices are stored.
    """

    study: Path
    seed: int
    data: str | None
    profile: str
    n_select: int
    pools: tuple[str, ...]
    n_pool: int | None
    scenario: str
    items: tuple[str, ...]
    item_weights: tuple[float, ...] | None
    draws: int
    expected: bool
    repeats: int
    eval_humans: int
    ood_n: int
    out_of_domain: tuple[OutOfDomainSurvey, ...]
    methods: tuple[tuple[str, str], ...]
    subgroup_k: int
    min_score: float
    min_humans: int
    country_queries: tuple[tuple[str, str], ...]
    age_queries: tuple[tuple[str, str, int, int], ...]
    wvs: bool
    wvs_scenario: str
    wvs_queries: tuple[tuple[str, str], ...]
    workers: int
    matrix_dir: str

    @property
    def draws_per_persona(self) -> int:
        """R: rows per persona in the persona vectors (1 for the expected-value variant)."""
        return 1 if self.expected else self.draws

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON settings for ``results.json``."""
        return {
            "study": self.study.name,
            "seed": self.seed,
            "profile": self.profile,
            "n_select": self.n_select,
            "pools": list(self.pools),
            "n_pool": self.n_pool,
            "scenario": self.scenario,
            "items": list(self.items),
            "item_weights": None if self.item_weights is None else list(self.item_weights),
            "draws": self.draws,
            "expected": self.expected,
            "repeats": self.repeats,
            "eval_humans": self.eval_humans,
            "ood_n": self.ood_n,
            "out_of_domain": [
                {"label": s.label, "scenario": s.scenario, "items": list(s.items)} for s in self.out_of_domain
            ],
            "methods": [list(m) for m in self.methods],
            "subgroup_k": self.subgroup_k,
            "wvs": self.wvs,
        }


def load_seed002_study(path: str | Path = DEFAULT_STUDY) -> dict[str, Any]:
    """Read and check a seed002 study file.

    Returns:
        The parsed document (checked against :data:`SCHEMA`).

    Raises:
        Seed002Error: a missing file, bad TOML, an unknown key, a missing key or a wrong type (one line).
    """
    p = Path(path)
    if not p.is_file():
        raise Seed002Error(f"seed002 study file {p} does not exist; pass --study FILE.toml (see {DEFAULT_STUDY.name})")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise Seed002Error(f"{p}: not valid TOML ({exc})") from None
    try:
        _check_key(doc, SCHEMA, "", str(p))
    except ScenarioFileError as exc:
        raise Seed002Error(str(exc)) from None
    names = [c["name"] for c in doc["constructions"]]
    for label in _REQUIRED_ROWS:
        if label not in names:
            raise Seed002Error(f"{p}: constructions has no row named {label!r}; add [[constructions]] name = {label!r}")
    if len(set(names)) != len(names):
        raise Seed002Error(f"{p}: constructions names must be unique, got {names}")
    return doc


def _split(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _item_weights(given: Any, items: tuple[str, ...], where: str) -> tuple[float, ...] | None:
    if given is None:
        return None
    if isinstance(given, str):
        try:
            given = [float(v) for v in _split(given)]
        except ValueError:
            raise Seed002Error(f"{where} {given!r}: not comma-separated numbers") from None
    w = tuple(float(v) for v in given)
    if len(w) != len(items) or any(v < 0 for v in w) or sum(w) <= 0:
        raise Seed002Error(f"{where} needs {len(items)} non-negative numbers (one per --items entry), got {list(w)}")
    return w


def _pick(flag: Any, default: Any) -> Any:
    """A command-line option wins over the study file when it is given (not None)."""
    return default if flag is None else flag


def _at_least(value: int, lo: int, name: str) -> int:
    if value < lo:
        raise Seed002Error(f"{name} must be >= {lo}, got {value}")
    return value


def resolve_settings(args: argparse.Namespace) -> Seed002Settings:
    """The study file named by ``--study`` with every given option applied on top.

    Raises:
        Seed002Error: an unknown profile, bad item weights, an out-of-range size, or an option the file cannot take.
    """
    doc = load_seed002_study(args.study)
    file = Path(args.study)
    profiles = doc["profiles"]
    profile = args.profile or doc.get("profile", "fast")
    if profile not in profiles:
        raise Seed002Error(f"unknown profile {profile!r}; profiles: {sorted(profiles)}")
    dom = doc["in_domain"]
    items = _split(args.items) if args.items else tuple(dom["items"])
    if args.item_weights is not None:
        weights = _item_weights(args.item_weights, items, "--item-weights")
    else:
        weights = _item_weights(dom.get("item_weights"), items, f"{file}: in_domain.item_weights")
    surveys = []
    overrides = {"CFCS": args.cfcs_items, "Grit": args.grit_items}
    for s in doc["out_of_domain"]["surveys"]:
        flag = overrides.pop(s["label"], None)
        surveys.append(
            OutOfDomainSurvey(
                label=s["label"], scenario=s["scenario"], items=_split(flag) if flag else tuple(s["items"])
            )
        )
    for label, flag in overrides.items():
        if flag:
            raise Seed002Error(f"--{label.lower()}-items: the study {file.name} has no out-of-domain survey {label!r}")
    sub = doc["subgroups"]
    return Seed002Settings(
        study=file,
        seed=_at_least(_pick(args.seed, doc.get("seed", 0)), 0, "--seed"),
        data=args.data,
        profile=profile,
        n_select=_at_least(_pick(args.n_select, profiles[profile]["n_select"]), 1, "--n-select"),
        pools=_split(args.pools) if args.pools else tuple(doc["pool"]["specs"]),
        n_pool=args.n_pool if args.n_pool is not None else doc["pool"].get("n"),
        scenario=dom["scenario"],
        items=items,
        item_weights=weights,
        draws=_at_least(_pick(args.draws, dom.get("draws", 1)), 1, "--draws"),
        expected=bool(args.expected or dom.get("expected", False)),
        repeats=_at_least(_pick(args.repeats, doc.get("repeats", 5)), 1, "--repeats"),
        eval_humans=_at_least(_pick(args.eval_humans, doc.get("eval_humans", 3000)), 2, "--eval-humans"),
        ood_n=_at_least(_pick(args.ood_n, doc["out_of_domain"].get("n", 100)), 1, "--ood-n"),
        out_of_domain=tuple(surveys),
        methods=tuple((c["name"], c["method"]) for c in doc["constructions"]),
        subgroup_k=_at_least(_pick(args.subgroup_k, sub.get("k", 50)), 1, "--subgroup-k"),
        min_score=float(sub.get("min_score", 0.2)),
        min_humans=int(sub.get("min_humans", 30)),
        country_queries=tuple(sub.get("country", {}).items()),
        age_queries=tuple((a["label"], a["query"], a["low"], a["high"]) for a in sub.get("age", [])),
        wvs=bool(sub.get("wvs", True)) and not args.no_wvs,
        wvs_scenario=sub.get("wvs_scenario", "wvs_poverty"),
        wvs_queries=tuple(sub.get("wvs_countries", {}).items()),
        workers=_at_least(_pick(args.workers, doc.get("workers", 2)), 1, "--workers"),
        matrix_dir=args.matrix_dir,
    )
