"""``--plan`` of the long commands, and the paper profile of seed000 checked setting by setting against the issue."""

from __future__ import annotations

import pytest

from experiments.cli import main


@pytest.fixture
def no_model(monkeypatch):
    def refuse(args):
        raise AssertionError("--plan must not load a model")

    monkeypatch.setattr("experiments.common.model_from_args", refuse)


def test_paper_profile_is_the_papers_protocol():
    import experiments.exp_seed000 as exp

    for name, k in (("bigfive:E", 10), ("bigfive:O", 10), ("public_goods", 10)):
        assert exp.scenario_settings("paper", name)["em_k"] == k
    for name in (
        "dictator",
        "ultimatum_proposer",
        "ultimatum_responder",
        "trust_investor",
        "trust_banker",
        "bomb_risk",
    ):
        assert exp.scenario_settings("paper", name)["em_k"] == 50
    s = exp.scenario_settings("paper", "dictator")
    assert s["em_iter"] == 20 and s["gb_rounds"] == 200 and s["gb_patience"] >= 200  # GB is not stopped early
    assert s["n_personas"] == 1000 and s["fixed_prompt"] == "You are a helpful assistant." and not s["demographic"]
    b5 = exp.scenario_settings("paper", "bigfive:E")
    assert b5["fixed_prompt"] == "Imagine you are a human taking a personality test" and b5["demographic"]
    assert exp.PAPER["eval_prompts"] == exp.FLOOR_N == 1000


@pytest.mark.parametrize(("scenario", "k"), [("public_goods", 10), ("dictator", 50)])
def test_seed000_paper_plan_prints_settings_and_an_estimate(no_model, capsys, scenario, k):
    assert main(["experiment", "seed000", "--profile", "paper", "--scenarios", scenario, "--plan"]) == 0
    out = capsys.readouterr().out
    assert f"| EM K ({scenario}) | {k} | {k} |  |" in out
    assert "| GB rounds (max K) | 200 | 200 |  |" in out
    assert "| EM iterations (stop when no prompt changed) | 20 | 20 |  |" in out
    assert "| respondent / crafter model | SmolLM2-135M (embedded) | the paper's API models | yes |" in out
    assert f"| {scenario} | em | {k} |" in out and "LLM requests" in out and "tokens" in out
    assert "demographic_persona" not in out  # Big Five only


def test_seed000_fast_plan_marks_differences(no_model, capsys):
    assert main(["experiment", "seed000", "--scenarios", "bigfive:E", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "| EM K (bigfive:E) | 3 | 10 | yes |" in out and "| bigfive:E | demographic_persona |" in out


def test_unknown_profile_or_scenario_is_a_one_line_error(no_model, capsys):
    assert main(["experiment", "seed000", "--profile", "huge", "--plan"]) == 2
    err = capsys.readouterr().err
    assert "unknown profile 'huge'; profiles: ['fast', 'paper']" in err and len(err.strip().splitlines()) == 1
    assert main(["experiment", "seed000", "--scenarios", "chess", "--plan"]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'chess'" in err and len(err.strip().splitlines()) == 1
    assert main(["experiment", "seed002", "--profile", "huge", "--plan"]) == 2
    assert "unknown profile 'huge'" in capsys.readouterr().err


def test_seed002_plan(no_model, capsys):
    assert main(["experiment", "seed002", "--profile", "paper", "--plan", "--item-weights", "1,1,1,1,1,1,1,1,1,2"]) == 0
    out = capsys.readouterr().out
    assert "| persona set size | 5000 | 5000 |" in out and "IS then OT" in out and "1,1,1,1,1,1,1,1,1,2" in out
    assert "LLM requests" in out
    assert main(["experiment", "seed002", "--plan", "--item-weights", "1,2"]) == 2
    assert "--item-weights needs 10 non-negative numbers" in capsys.readouterr().err
