"""The one scenario registry: built-in instruments (TOML files), game roles, and a user's TOML file.

Names ``get_scenario`` resolves::

    bigfive:E            a dimension of a built-in instrument (scenarios/builtin/bigfive.toml)
    bigfive              every dimension of it (a multi-dimensional scenario)
    wvs_poverty@USA      the respondents whose data.group column equals USA
    dictator             a game role (``scenarios.games.ROLES``), our own wording or ``wording="verbatim"``
    my_survey.toml       a user's file (every dimension, or the only one)
    my_survey.toml:trust one dimension of it; ``my_survey.toml:trust@GB`` one group

Built-in instruments go through exactly the loader a user's file goes through (:func:`scenarios.loader.load_spec`).
Every scenario satisfies :class:`scenarios.base.Scenario`. Every name lives in the one table of
:mod:`scenarios.catalog`, which :func:`register_scenario` and :func:`scenarios.games.register_game` both claim
names in.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from scenarios.base import Scenario
from scenarios.catalog import FACTORIES, ROLES, builtin_files, holder, influence_files
from scenarios.errors import ScenarioError
from scenarios.file_scenarios import DecisionScenario, DecisionWords, SurveyScenario, split_rows
from scenarios.games import GameRole, game_role, role_spec
from scenarios.loader import load_spec
from scenarios.moblab import human_decisions
from scenarios.question import Question
from scenarios.spec import SurveySpec

__all__ = [
    "GameScenario",
    "Scenario",
    "builtin_path",
    "dimension_scenarios",
    "get_scenario",
    "load_scenario",
    "register_scenario",
    "scenario_names",
]


@dataclass(frozen=True, kw_only=True)
class GameScenario(DecisionWords):
    """One game decision (a MobLab role) as a scenario.

    Attributes:
        name: the role name.
        role: the role spec (game parameters, wording).
        source: default data source of the human decisions.
    """

    name: str
    role: GameRole
    source: str | None = None

    @property
    def topic(self) -> str:  # type: ignore[override]
        """Where the decision is taken."""
        return "an economic game"

    @property
    def label(self) -> str:
        """What the number is (``"amount given"``)."""
        return role_spec(self.role.role)[1].label

    @property
    def support(self) -> np.ndarray:
        """Valid decisions, shape ``(S,)``."""
        return np.asarray(self.role.answers.values, dtype=float)

    def questions(self) -> tuple[Question, ...]:
        """The single decision question."""
        return (self.role.question(),)

    def human_values(
        self,
        split: str = "all",
        *,
        seed: int = 0,
        source: str | os.PathLike[str] | None = None,
        fit_fraction: float = 0.5,
    ) -> np.ndarray:
        """Human first-round decisions of one half of the players, rounded to the integer support, ``(n,)``.

        Raises:
            ScenarioError: the game parameters differ from those the humans played under, or an unknown split.
        """
        if not self.role.game.matches_human_data:
            raise ScenarioError(f"{self.name}: no human data for parameters {self.role.game.params}")
        values = np.rint(human_decisions(self.role.role, source if source is not None else self.source))
        return values[split_rows(values.size, split, seed, fit_fraction)]

    def human_weights(
        self,
        split: str = "all",
        *,
        seed: int = 0,
        source: str | os.PathLike[str] | None = None,
        fit_fraction: float = 0.5,
    ) -> None:
        """None: the MobLab players are unweighted."""
        return None


def builtin_path(name: str) -> Path:
    """The TOML file of a built-in instrument (``"bigfive"``).

    Raises:
        ScenarioError: an unknown name, listing the built-ins.
    """
    files = builtin_files()
    if name not in files:
        raise ScenarioError(f"no built-in instrument {name!r}; built-ins: {sorted(files)}")
    return Path(str(files[name]))


def _dimension_ids(doc: dict[str, Any]) -> list[str]:
    """Dimension ids of a parsed file in order (without validating it or reading its codebook)."""
    return list(dict.fromkeys(it.get("dimension", it.get("id")) for it in doc.get("items", [])))


def scenario_names() -> list[str]:
    """Every built-in name: instruments, their dimensions (``bigfive:E``), registered names and game roles.

    Subgroups (``wvs_poverty@USA``) and user files (``FILE.toml:DIMENSION``) resolve too but are not listed.
    """
    names: list[str] = []
    for stem, path in sorted(builtin_files().items()):
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        dims = _dimension_ids(doc) if doc.get("kind") == "survey" else []
        names.append(stem)
        if len(dims) > 1:
            names += [f"{stem}:{d}" for d in dims]
    return names + sorted(FACTORIES) + sorted(ROLES)


def register_scenario(name: str, factory: Callable[..., Scenario]) -> None:
    """Register a scenario made in code (``factory(source=…, wording=…)`` returns it).

    Raises:
        ScenarioError: the name is taken (by an instrument, another scenario, a game or a game role).
    """
    held = holder(name)
    if held is not None:
        raise ScenarioError(f"scenario name {name!r} is already registered, as {held}; choose another")
    FACTORIES[name] = factory


def _pick_dimension(spec: SurveySpec, wanted: str, ref: str) -> str:
    ids = [d.id for d in spec.dimensions]
    if wanted in ids:
        return wanted
    folded = [d for d in ids if d.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    raise ScenarioError(f"unknown scenario '{ref}:{wanted}': {ref} has no dimension {wanted!r}; dimensions: {ids}")


def _from_spec(spec: Any, display: str, dimension: str | None, group: str, source: Any) -> Scenario:
    src = None if source is None else str(source)
    suffix = f"@{group}" if group else ""
    if isinstance(spec, SurveySpec):
        if dimension is not None:
            dims: tuple[str, ...] = (_pick_dimension(spec, dimension, display),)
            name = f"{display}:{dims[0]}{suffix}"
        else:
            dims = tuple(d.id for d in spec.dimensions)
            name = f"{display}{suffix}"
        return SurveyScenario(name=name, spec=spec, dimensions=dims, group=group, source=src)
    if dimension is not None:
        raise ScenarioError(f"{display}: a decision task has no dimensions; drop ':{dimension}'")
    return DecisionScenario(name=f"{display}{suffix}", spec=spec, group=group, source=src)


def load_scenario(
    path: str | os.PathLike[str],
    *,
    dimension: str | None = None,
    group: str = "",
    source: str | os.PathLike[str] | None = None,
) -> Scenario:
    """A scenario from a TOML file.

    Args:
        path: the ``.toml`` file (format: ``docs/scenario_files.md``).
        dimension: one dimension id (None = all of them).
        group: a value of the file's ``data.group`` column ("" = every respondent).
        source: data source for ``dataset`` references.

    Raises:
        ScenarioFileError: an invalid file (one line: file, key, fix).
        ScenarioError: an unknown dimension.
    """
    spec = load_spec(path, source=source)
    return _from_spec(spec, spec.name, dimension, group, source)


def get_scenario(
    name: str,
    *,
    source: str | os.PathLike[str] | None = None,
    wording: Literal["own", "verbatim"] = "own",
) -> Scenario:
    """Resolve a scenario name (see the module docstring for the forms).

    Args:
        name: ``bigfive:E``, ``dictator``, ``wvs_poverty@USA``, ``FILE.toml`` or ``FILE.toml:DIMENSION``.
        source: data source (``--data``): codebooks and human data of built-ins, verbatim game prompts.
        wording: game roles only: ``"own"`` or ``"verbatim"``.

    Raises:
        ScenarioError: an unknown name, listing the known ones.
        ScenarioFileError: an invalid scenario file.
    """
    base, _, group = name.partition("@")
    lowered = base.lower()
    if ".toml" in lowered:
        cut = lowered.rfind(".toml") + len(".toml")
        path, rest = base[:cut], base[cut:]
        if rest and not rest.startswith(":"):
            raise ScenarioError(f"cannot read {name!r}; write FILE.toml, FILE.toml:DIMENSION or FILE.toml@GROUP")
        return load_scenario(path, dimension=rest[1:] or None, group=group, source=source)
    stem, _, dimension = base.partition(":")
    if stem in builtin_files():
        spec = load_spec(builtin_path(stem), source=source)
        return _from_spec(spec, stem, dimension or None, group, source)
    if stem in influence_files():
        raise ScenarioError(
            f"{stem!r} is a social-influence scenario (rounds of estimates); use populace influence --scenario {stem}"
        )
    if group or dimension:
        raise ScenarioError(f"unknown scenario {name!r}; scenarios: {scenario_names()}")
    if name in FACTORIES:
        return FACTORIES[name](source=source, wording=wording)
    if name in ROLES:
        role = game_role(name, wording=wording, source=None if source is None else str(source))
        return GameScenario(name=name, role=role, source=None if source is None else str(source))
    raise ScenarioError(f"unknown scenario {name!r}; scenarios: {scenario_names()}")


def dimension_scenarios(scenario: Scenario | SurveyScenario) -> tuple[Scenario, ...]:
    """One one-dimensional scenario per dimension, in order: the scenario itself when it has one dimension.

    Only a survey instrument can select several dimensions (``bigfive``, ``my.toml``); its parts are
    ``name:DIMENSION`` scenarios over the same human rows, so a row split is the same split for every part.
    """
    if len(scenario.dimensions) == 1:
        return (scenario,)
    if not isinstance(scenario, SurveyScenario):
        raise ScenarioError(f"scenario {scenario.name!r} has several dimensions but is not a survey instrument")
    return scenario.by_dimension()
