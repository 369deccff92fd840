import json

import pytest

from experiments import cmd_fit  # noqa: E402
from experiments.cli import build_parser, main  # noqa: E402
from tests.populations.mixture_fakes import make_models


@pytest.fixture
def fake_models(monkeypatch):
    crafter, respondent = make_models()
    monkeypatch.setattr(cmd_fit, "model_from_args", lambda args: respondent)
    return crafter, respondent


def test_fit_is_listed_in_the_cli():
    assert "fit" in build_parser().format_help()


@pytest.mark.parametrize("builder", ["em", "gb", "mop"])
def test_fit_writes_prompts_weights_history_and_cost(tmp_path, data_dir, fake_models, builder, capsys):
    out = tmp_path / "mixture.json"
    argv = [
        "fit",
        "--builder",
        builder,
        "--scenario",
        "dictator",
        "--out",
        str(out),
        "--data",
        str(data_dir),
        "--n-components",
        "2",
        "--max-iter",
        "1",
        "--rounds",
        "2",
        "--n-personas",
        "2",
        "--n-exemplars",
        "1",
    ]
    rc = main(argv)
    printed = capsys.readouterr()
    if builder == "mop":
        assert rc == 0, printed.err
    else:
        # Without --crafter-*, the respondent crafts; this fake answers bare numbers, never a "You are" prompt:
        # every draft fails and the command ends with a one-line error instead of a silently defaulted prompt.
        assert rc == 2
        assert "could not craft any" in printed.err and "no 'You are" in printed.err
        return
    data = json.loads(out.read_text())
    assert {"prompts", "weights", "history", "cost", "test_scores", "split", "population"} <= set(data)
    assert len(data["prompts"]) == len(data["weights"])
    assert data["split"]["n_fit"] > 0 and data["test_scores"]["w1_exact"] >= 0
    assert "test W1" in printed.out


@pytest.mark.parametrize("builder", ["em", "gb"])
def test_fit_with_a_crafter_that_follows_the_rules(tmp_path, data_dir, monkeypatch, builder):
    crafter, respondent = make_models()
    original = crafter.replies

    def reply(request):  # aim half a point off: the prompt never names the integer target itself
        text = original(request)
        value = float(text.rsplit("about ", 1)[1].rstrip("."))
        return text.replace(f"about {value:g}", f"about {value + 0.5:g}")

    crafter.replies = reply
    monkeypatch.setattr(cmd_fit, "model_from_args", lambda args: respondent)
    import experiments.exp_seed000 as exp

    monkeypatch.setattr(exp, "crafter_from_args", lambda args: crafter)
    out = tmp_path / "m.json"
    rc = main(
        [
            "fit",
            "--builder",
            builder,
            "--scenario",
            "dictator",
            "--out",
            str(out),
            "--data",
            str(data_dir),
            "--n-components",
            "3",
            "--max-iter",
            "2",
            "--rounds",
            "3",
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["params"]["method"] == builder
    assert data["fit_w1"] <= data["baseline_w1"] + 1e-9
    assert data["cost"]["crafter"]["requests"] > 0
    assert len(data["history"]) >= 2


def test_fit_bad_scenario_is_a_one_line_error(tmp_path, capsys):
    rc = main(["fit", "--builder", "em", "--scenario", "bigfive:X", "--out", str(tmp_path / "x.json")])
    assert rc == 2
    assert "unknown Big Five trait 'X'" in capsys.readouterr().err


def test_seed000_fit_rows_and_experiment_with_fakes(tmp_path, data_dir, personas_dir, monkeypatch):
    import experiments.exp_seed000 as exp

    crafter, respondent = make_models()
    original = crafter.replies
    crafter.replies = lambda r: original(r).replace(".", ".5.", 1) if "about" in original(r) else original(r)
    small = {**exp.PROFILES["fast"], "n_personas": 2, "mop_personas": 2, "mop_exemplars": 1}
    monkeypatch.setitem(exp.PROFILES, "fast", small)
    monkeypatch.setenv("POPULACE_PERSONAS", str(personas_dir))
    rows = exp.fit_rows(respondent, "dictator", source=str(data_dir), seed=0, crafter=crafter)
    keys = {"scenario", "population", "metric", "value", "n_agents", "valid_mass", "parse_failure_rate", "llm_calls"}
    assert all(keys <= set(r) for r in rows)
    assert {r["population"] for r in rows} == {"em", "gb"}
    w1 = {r["population"]: r["value"] for r in rows if r["metric"] == "w1"}
    assert all(v >= 0 for v in w1.values())
    payload = exp.run_seed000(
        respondent,
        tmp_path,
        scenarios=["dictator"],
        source=str(data_dir),
        crafter=crafter,
        repeats=3,
        log=lambda *_: None,
    )
    table = (tmp_path / "table.md").read_text()
    for row in ("human_1000", "fixed_prompt", "random_persona:personahub", "demographic_persona", "mop", "em", "gb"):
        assert f"| {row} |" in table
    assert (tmp_path / "hist_dictator.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "seed000.json").read_text())
    assert saved["records"] == json.loads(json.dumps(payload["records"]))
    fit_w1 = {r["population"]: r["value"] for r in saved["records"] if r["metric"] == "w1_fit"}
    assert fit_w1["em"] <= fit_w1["fixed_prompt"] + 1e-6 and fit_w1["gb"] <= fit_w1["fixed_prompt"] + 1e-6


def test_demo_row_producer_fits_on_the_demo_split(data_dir):
    import numpy as np

    import experiments.exp_seed000 as exp
    from experiments.demo import ScenarioData
    from scenarios.registry import get_scenario

    crafter, respondent = make_models()
    original = crafter.replies
    crafter.replies = lambda r: original(r).replace(".", ".5.", 1)
    values = get_scenario("dictator", source=str(data_dir)).human_values(str(data_dir))
    data = ScenarioData(scenario=get_scenario("dictator"), fit=values[::2], test=values[1::2])
    label, result = exp.demo_row("gb", crafter=crafter)(respondent, data, np.random.default_rng(0))
    assert label == "gb" and result.pmf.shape == (101,)
    assert {r["metric"] for r in result.records} >= {"w1", "mean", "sd"}
    with pytest.raises(ValueError, match="method must be 'em' or 'gb'"):
        exp.demo_row("mop")
