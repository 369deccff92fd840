"""``--plan`` of the long commands, and the paper profile of seed000 checked setting by setting against the issue."""

from __future__ import annotations

import pytest

from experiments.cli import main


@pytest.fixture
def no_model(monkeypatch):
    def refuse(args):
        raise AssertionError("--plan must not load a model")

    monkeypatch.setattr("experiments.common.model_from_args", refuse)


GAMES_K50 = ("dictator", "ultimatum_proposer", "ultimatum_responder", "trust_investor", "trust_banker", "bomb_risk")


def _row(study, kind, scenario):
    (c,) = [c for c in study.constructions if c.kind == kind and c.applies_to(scenario)]  # one entry per scenario
    return c


def test_paper_study_file_is_the_papers_protocol():
    """experiments/configs/seed000_paper.toml holds the paper's settings for every scenario it lists."""
    import experiments.exp_seed000 as exp

    study = exp.load_seed000("paper", seed=None)
    for name, k in [("bigfive:E", 10), ("bigfive:O", 10), ("public_goods", 10), *((g, 50) for g in GAMES_K50)]:
        assert name in study.scenarios
        em = _row(study, "em", name)
        assert em.name == "em" and em.params["n_components"] == k == exp.paper_setting(name)["em_k"]
        assert em.params["max_iter"] == 20 and em.params["improve_rounds"] == 2
        assert em.params["default_prompt"] == _row(study, "fixed", name).params["system_prompt"]
        gb = _row(study, "gb", name)
        assert gb.params["n_rounds"] == 200 and gb.params["patience"] >= 200  # GB is not stopped early
        pools = [c for c in study.constructions if c.kind == "pool" and c.applies_to(name)]
        assert [c.params["n_personas"] for c in pools] == [1000, 1000]
    assert _row(study, "fixed", "dictator").params["system_prompt"] == "You are a helpful assistant."
    assert _row(study, "fixed", "bigfive:E").params["system_prompt"] == exp.BIG_FIVE_PROMPT
    assert [c for c in study.constructions if c.kind == "demographic" and c.applies_to("dictator")] == []
    assert _row(study, "demographic", "bigfive:N").params["n_personas"] == 1000
    assert study.agents == exp.PAPER["eval_prompts"] == 1000 and study.repeats == exp.PAPER["eval_repeats"]


@pytest.mark.parametrize(("scenario", "k"), [("public_goods", 10), ("dictator", 50)])
def test_seed000_paper_plan_prints_settings_and_an_estimate(no_model, capsys, scenario, k):
    assert main(["experiment", "seed000", "--profile", "paper", "--scenarios", scenario, "--plan"]) == 0
    out = capsys.readouterr().out
    assert f"| EM K ({scenario}) | {k} | {k} |  |" in out
    assert "| GB rounds (max K) | 200 | 200 |  |" in out
    assert "| GB early stop (rounds without improvement) | none | none |  |" in out
    assert "| EM iterations (stop when no prompt changed) | 20 | 20 |  |" in out
    assert "| respondent / crafter model | SmolLM2-135M (embedded) | the paper's API models | yes |" in out
    assert f"| em | em | {scenario} | 1 |" in out and "LLM requests" in out and "tokens" in out
    assert f"| demographic | demographic | {scenario} |" not in out  # Big Five only
    assert f"| demographic baseline ({scenario}) | no | no |  |" in out


def test_seed000_fast_plan_marks_differences(no_model, capsys):
    assert main(["experiment", "seed000", "--scenarios", "bigfive:E", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "| EM K (bigfive:E) | 3 | 10 | yes |" in out and "| demographic | demographic | bigfive:E |" in out
    assert "| GB early stop (rounds without improvement) | 2 | none | yes |" in out


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
