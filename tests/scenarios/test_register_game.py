"""A researcher adds a game from outside the package: one spec (below) plus one ``register_game`` line.

The game is a minimum-effort coordination game in the spirit of Van Huyck, Battalio & Beil (1990), in our own
words: two partners each choose an effort ``0..max_effort``; each earns ``reward × min(own, partner's) − cost ×
own``. Everything in the "the new game" section is all the researcher writes; the rest checks that run, what-if,
the CLI and the registry treat it like a built-in.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel
from populations.persona import Persona, Population
from scenarios import get_scenario
from scenarios.errors import DataError, ScenarioError
from scenarios.games import (
    DICTATOR,
    GAMES,
    ROLES,
    GameSpec,
    Param,
    RoleSpec,
    RoundContext,
    RoundOutcome,
    game_role,
    register_game,
    unregister_game,
)
from simulator import DecisionService, RunConfig, run_simulation, run_whatif


# ----------------------------------------------------------------------------- the new game (spec: 42 lines)
def effort_payoffs(own: np.ndarray, other: np.ndarray, *, reward: int, cost: int) -> np.ndarray:
    """``reward × min(own, other) − cost × own``, shapes ``(n,)``."""
    return reward * np.minimum(own, other) - cost * np.asarray(own, dtype=float)


def _effort_instruction(p: Mapping[str, Any]) -> tuple[str, str]:
    return (
        f"You and a partner each choose an effort level from 0 to {p['max_effort']}. You both earn "
        f"{p['reward']} points per unit of the lower of your two efforts, and each unit of your own effort costs "
        f"you {p['cost']} points. Which effort level do you choose? Answer with a whole number.",
        "My effort level is ",
    )


def _effort_settle(ctx: RoundContext) -> RoundOutcome:
    effort, vm = ctx.decision("effort_worker")
    pay = effort_payoffs(effort, effort[ctx.partner], reward=ctx.params["reward"], cost=ctx.params["cost"])
    ctx.record(agent=np.arange(ctx.n), role="effort_worker", question="effort_worker", decision=effort,
               valid_mass=vm, payoff=pay, partner=ctx.partner)  # fmt: skip
    lines = [
        f"you chose effort {e:.0f}, your partner {o:.0f}" for e, o in zip(effort, effort[ctx.partner], strict=True)
    ]
    return RoundOutcome(payoff=pay, history=lines if ctx.remembers else None)


EFFORT = GameSpec(
    name="effort_game",
    params=(
        Param(name="max_effort", type=int, low=1, high=20, default=7),
        Param(name="reward", type=int, low=0, high=10, default=2),
        Param(name="cost", type=int, low=0, high=10, default=1),
    ),
    human_params={},
    roles=(RoleSpec(name="effort_worker", high=lambda p: p["max_effort"], instruction=_effort_instruction),),
    first_stage=("effort_worker",),
    matching="pair",
    scale="max_effort",
    cooperation=False,
    settle=_effort_settle,
)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def effort_game():
    """Register the game with the one line a researcher writes; restore the registries afterwards."""
    games, roles = dict(GAMES), dict(ROLES)
    try:
        yield register_game(EFFORT)  # the one registration line
    finally:
        GAMES.clear()
        GAMES.update(games)
        ROLES.clear()
        ROLES.update(roles)
    assert "effort_game" not in GAMES and "effort_worker" not in ROLES


# A careful persona always chooses effort 2; a bold one chooses 6 when effort costs 1 point and 3 otherwise
# (the fake reads the rendered instruction, so a parameter what-if moves its answer).
CAREFUL, BOLD = "You are careful with effort.", "You are bold."


def _effort_answers(messages, answers):
    system = " ".join(m.content for m in messages if m.role == "system")
    user = " ".join(m.content for m in messages if m.role == "user")
    choice = 2 if CAREFUL in system else (6 if "costs you 1 points" in user else 3)
    return (np.asarray(answers.values) == choice).astype(float)


@pytest.fixture
def fake():
    return KnownDistributionModel(_effort_answers, model_id="effort-fake")


def _population() -> Population:
    return Population(
        personas=(Persona(id="careful", text=CAREFUL), Persona(id="bold", text=BOLD)),
        weights=np.array([0.5, 0.5]),
        construction="test",
    )


# Payoff by (own effort, partner's effort), worked out by hand from reward × min − cost × own.
BASELINE_PAY = {(2, 2): 2 * 2 - 1 * 2, (2, 6): 2 * 2 - 1 * 2, (6, 2): 2 * 2 - 1 * 6, (6, 6): 2 * 6 - 1 * 6}
COSTLY_PAY = {(2, 2): 2 * 2 - 3 * 2, (2, 3): 2 * 2 - 3 * 2, (3, 2): 2 * 2 - 3 * 3, (3, 3): 2 * 3 - 3 * 3}
EFFORT_OF = {"baseline": {"careful": 2, "bold": 6}, "costly": {"careful": 2, "bold": 3}}


def _check_payoffs(rec: pd.DataFrame, effort_of: dict[str, int], table: dict[tuple[int, int], int]) -> None:
    """Each record's decision is its persona's choice and its payoff the hand table's, given the partner's."""
    for _, one in rec.groupby(["replicate", "round"]):
        one = one.set_index("agent")
        assert one["decision"].tolist() == [effort_of[p] for p in one["persona_id"]]
        pairs = zip(one["decision"].astype(int), one.loc[one["partner"], "decision"].astype(int), strict=True)
        assert one["payoff"].tolist() == [float(table[pair]) for pair in pairs]


# ----------------------------------------------------------------------------- tests
def test_hand_table_matches_the_payoff_function():
    for table, cost in ((BASELINE_PAY, 1), (COSTLY_PAY, 3)):
        own, other = np.array(list(table)).T
        assert effort_payoffs(own, other, reward=2, cost=cost).tolist() == [float(v) for v in table.values()]


def test_registration_makes_the_game_and_role_visible_everywhere(effort_game):
    assert effort_game is EFFORT and GAMES["effort_game"] is EFFORT
    assert ROLES["effort_worker"] == ("effort_game", None)
    import scenarios
    import simulator.runner

    assert simulator.runner.ROLES is ROLES and scenarios.register_game is register_game  # updated in place
    assert "effort_worker" in scenarios.scenario_names()
    role = game_role("effort_worker", cost=3)
    assert role.answers.high == 7 and "costs you 3 points" in role.question().prompt
    with pytest.raises(ScenarioError, match="has no dataset prompt; use wording='own'"):
        game_role("effort_worker", wording="verbatim")


@pytest.mark.parametrize("scenario", ["effort_game", "effort_worker"])
def test_run_simulation_pays_the_hand_computed_payoffs(effort_game, fake, scenario):
    config = RunConfig(scenario=scenario, n_agents=6, seed=4, replicates=2)
    assert not config.is_survey and config.params == {"max_effort": 7, "reward": 2, "cost": 1}
    result = run_simulation(config, _population(), DecisionService(fake))
    rec = result.records
    assert len(rec) == 12 and set(rec["role"]) == {"effort_worker"}
    assert set(rec["persona_id"]) == {"careful", "bold"}  # both kinds of pairs occur with this seed
    _check_payoffs(rec, EFFORT_OF["baseline"], BASELINE_PAY)
    assert result.outcomes["mean_payoff"].tolist() == rec.groupby("replicate")["payoff"].mean().tolist()
    assert fake.calls == 2  # one exact distribution per persona, shared by every agent


def test_whatif_on_a_game_parameter(effort_game, fake):
    config = RunConfig(scenario="effort_worker", n_agents=6, seed=4, replicates=3)
    result = run_whatif(
        config, _population(), DecisionService(fake), baseline={"cost": 1}, intervention={"cost": 3}, n_resamples=99
    )
    rec = result.records
    _check_payoffs(rec[rec["condition"] == "baseline"], EFFORT_OF["baseline"], BASELINE_PAY)
    _check_payoffs(rec[rec["condition"] == "intervention"], EFFORT_OF["costly"], COSTLY_PAY)
    means = rec.groupby(["condition", "replicate"])["payoff"].mean()
    diff = result.differences.set_index("outcome").loc["mean_payoff"]
    assert diff["difference"] == pytest.approx((means["intervention"] - means["baseline"]).mean(), abs=1e-12)
    assert diff["difference"] < 0  # costlier effort: lower pay
    # Paired conditions: the same personas sit at the same agents.
    b, i = (rec[rec["condition"] == c].sort_values(["replicate", "agent"]) for c in ("baseline", "intervention"))
    assert b["persona_id"].tolist() == i["persona_id"].tolist()


def test_cli_run_and_whatif_see_a_game_registered_in_the_process(effort_game, fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: fake)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    pop = str(_population().save(tmp_path / "pop.json"))
    common = ["--population", pop, "--scenario", "effort_worker", "--agents", "6", "--seed", "4"]
    assert main(["run", *common, "--param", "cost=1", "--out", str(tmp_path / "run")]) == 0
    rec = pd.read_parquet(tmp_path / "run" / "records.parquet")
    assert len(rec) == 6
    _check_payoffs(rec, EFFORT_OF["baseline"], BASELINE_PAY)
    args = ["whatif", *common, "--rounds", "1", "--seeds", "2", "--intervention", "cost=3"]
    assert main([*args, "--out", str(tmp_path / "whatif")]) == 0
    assert "mean_payoff" in capsys.readouterr().out
    assert main(["run", *common, "--param", "cost=11", "--out", str(tmp_path / "bad")]) == 2
    assert "effort_game.cost=11 is out of range [0, 10]" in capsys.readouterr().err


def test_a_role_without_human_data_fails_fit_in_one_line(effort_game, fake, tmp_path, monkeypatch, capsys):
    scenario = get_scenario("effort_worker")
    assert scenario.support.tolist() == list(range(8))
    with pytest.raises(DataError, match=r"^game effort_game role effort_worker has no human data; ") as info:
        scenario.human_values("fit")
    assert "\n" not in str(info.value)
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: fake)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    argv = ["fit", "--builder", "em", "--scenario", "effort_worker", "--out", str(tmp_path / "em.json")]
    assert main(argv) == 2 and fake.calls == 0  # refused before any LLM call
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "game effort_game role effort_worker has no human data; " in err


def test_builtin_roles_keep_their_human_columns(effort_game):
    assert ROLES["trust_banker"] == ("trust", "trust_3") and DICTATOR.roles[0].has_human_data
    assert not EFFORT.roles[0].has_human_data


def _variant(**changes: Any) -> GameSpec:
    """The effort game with a changed name and/or role name."""
    role = changes.pop("role", "effort_worker")
    return GameSpec(
        name=changes.pop("name", "effort_game"),
        params=EFFORT.params,
        human_params={},
        roles=(RoleSpec(name=role, high=lambda p: p["max_effort"], instruction=_effort_instruction),),
        first_stage=(role,),
        matching="pair",
        scale="max_effort",
        settle=_effort_settle,
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (lambda: EFFORT, r"game 'effort_game' is already registered; give your GameSpec another name"),
        (lambda: _variant(name="effort_2"), r"role 'effort_worker' of game 'effort_2' is already a role of game "),
        (lambda: _variant(name="e3", role="dictator"), r"role 'dictator' of game 'e3' is already a role of game "),
        (lambda: _variant(name="e4", role="trust"), r"role 'trust' of game 'e4' is the name of game 'trust'"),
        (lambda: _variant(name="trust_banker", role="e5"), r"game name 'trust_banker' is a role of game 'trust'"),
        (lambda: _variant(name="bigfive", role="e6"), r"'bigfive' \(game 'bigfive'\) is already a scenario name"),
        (lambda: _variant(name="e7", role="yrbss"), r"'yrbss' \(game 'e7'\) is already a scenario name"),
        (lambda: _variant(name="e8", role="my-role"), r"role name 'my-role' of game 'e8' must be an identifier"),
    ],
)
def test_collisions_are_one_line_errors_and_change_nothing(effort_game, spec, message):
    games, roles = dict(GAMES), dict(ROLES)
    with pytest.raises(ScenarioError, match=message) as info:
        register_game(spec())
    text = str(info.value)
    assert "\n" not in text and ("rename" in text or "another name" in text)
    assert games == GAMES and roles == ROLES


def test_unregister(effort_game):
    assert unregister_game("effort_game") is EFFORT
    assert "effort_game" not in GAMES and "effort_worker" not in ROLES
    with pytest.raises(ScenarioError, match="'dictator' is a built-in game and cannot be unregistered"):
        unregister_game("dictator")
    assert register_game(EFFORT) is EFFORT  # registering again after removal works


def test_a_plugin_module_registers_its_game_for_every_command(tmp_path, fake, monkeypatch, capsys):
    """``POPULACE_PLUGINS=my_games populace run --scenario effort_worker`` : the user's module, imported first."""
    games, roles = dict(GAMES), dict(ROLES)
    (tmp_path / "my_games.py").write_text(
        "from scenarios.games import register_game\n"
        "from tests.scenarios.test_register_game import EFFORT\n"
        "register_game(EFFORT)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: fake)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    pop = str(_population().save(tmp_path / "pop.json"))
    argv = ["run", "--population", pop, "--scenario", "effort_worker", "--agents", "6", "--seed", "4",
            "--param", "cost=1", "--out", str(tmp_path / "run")]  # fmt: skip
    try:
        assert main(argv) == 2  # without the plugin the role is unknown
        assert "effort_worker" in capsys.readouterr().err
        monkeypatch.setenv("POPULACE_PLUGINS", "my_games")
        assert main(argv) == 0
        _check_payoffs(pd.read_parquet(tmp_path / "run" / "records.parquet"), EFFORT_OF["baseline"], BASELINE_PAY)
        monkeypatch.setenv("POPULACE_PLUGINS", "no_such_games_module")
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "POPULACE_PLUGINS: cannot import plugin module 'no_such_games_module'" in err and "\n" not in err
    finally:
        GAMES.clear()
        GAMES.update(games)
        ROLES.clear()
        ROLES.update(roles)


def test_a_role_label_names_the_decision(effort_game):
    from scenarios import get_scenario

    assert get_scenario("dictator").label == "amount given"  # built-in labels live in their specs
    assert get_scenario("effort_worker").label == "effort worker"  # default: the role name in words
    role = RoleSpec(name="x", high=lambda p: 3, instruction=_effort_instruction, label="effort chosen")
    assert role.label == "effort chosen"


def test_games_and_scenarios_claim_names_in_one_table(effort_game):
    """``register_game`` and ``register_scenario`` share :mod:`scenarios.catalog`: neither takes the other's name."""
    from scenarios import catalog
    from scenarios.registry import register_scenario

    made = get_scenario("dictator")
    assert catalog.GAMES is GAMES and catalog.ROLES is ROLES  # the games' dicts are the table's
    for taken, held in (("effort_game", "the game 'effort_game'"), ("effort_worker", "a role of game 'effort_game'")):
        with pytest.raises(ScenarioError, match=f"scenario name '{taken}' is already registered, as {held}"):
            register_scenario(taken, lambda **_: made)
    register_scenario("coded_task", lambda source=None, wording="own": made)
    try:
        games, roles = dict(GAMES), dict(ROLES)
        for spec in (_variant(name="coded_task", role="e9"), _variant(name="e10", role="coded_task")):
            with pytest.raises(ScenarioError, match="'coded_task' .* the scenario 'coded_task' registered in code"):
                register_game(spec)
        assert games == GAMES and roles == ROLES
        assert get_scenario("coded_task") is made
    finally:
        catalog.FACTORIES.pop("coded_task")


def test_the_games_registry_needs_no_scenario_registry_loaded():
    """In a fresh process, ``scenarios.games`` alone already refuses an instrument's name (no ``sys.modules`` look-up)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from dataclasses import replace\n"
        "from scenarios.games import DICTATOR, register_game\n"
        "from scenarios.errors import ScenarioError\n"
        "assert 'scenarios.registry' not in sys.modules, 'scenarios.games imported the scenario registry'\n"
        "role = replace(DICTATOR.roles[0], name='wvs_poverty')\n"
        "try:\n"
        "    register_game(replace(DICTATOR, name='e11', roles=(role,), first_stage=('wvs_poverty',)))\n"
        "except ScenarioError as exc:\n"
        "    print(exc)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert "'wvs_poverty' (game 'e11') is already a scenario name, the built-in instrument 'wvs_poverty'" in out.stdout
