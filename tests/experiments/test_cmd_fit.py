"""``populace fit`` writes one population file; ``experiment seed000`` scores with the one evaluation module."""

import json

import numpy as np
import pytest

from experiments import cmd_fit
from experiments.cli import build_parser, main
from populations.io import load_population_file
from populations.persona import Population
from scenarios.registry import get_scenario
from tests.populations.mixture_fakes import make_models


def _rule_following_models():
    """(crafter, respondent): the crafter aims half a point off, so no prompt names its integer target."""
    crafter, respondent = make_models()
    original = crafter.replies

    def reply(request):
        text = original(request)
        value = float(text.rsplit("about ", 1)[1].rstrip("."))
        return text.replace(f"about {value:g}", f"about {value + 0.5:g}")

    crafter.replies = reply
    return crafter, respondent


@pytest.fixture
def models(monkeypatch):
    crafter, respondent = _rule_following_models()
    monkeypatch.setattr(cmd_fit, "model_from_args", lambda args: respondent)
    monkeypatch.setattr(cmd_fit, "crafter_from_args", lambda args: crafter)
    return crafter, respondent


def _argv(builder, out, data_dir, *extra):
    return [
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
        "--n-personas",
        "2",
        "--n-exemplars",
        "1",
        *extra,
    ]


def test_fit_is_listed_in_the_cli():
    assert "fit" in build_parser().format_help()


@pytest.mark.parametrize("builder", ["em", "gb", "mop"])
def test_fit_writes_one_population_file_with_the_fit_record(tmp_path, data_dir, models, builder, capsys):
    out = tmp_path / "pop.json"
    assert main(_argv(builder, out, data_dir)) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["kind"] == "populace.population" and doc["construction"] == builder
    pop = Population.load(out)  # what run / whatif / compare / select read
    assert load_population_file(out).weights.tolist() == pop.weights.tolist()
    fit = doc["fit"]
    assert {"prompts", "weights", "history", "cost", "scores", "split"} <= set(fit)
    assert [p.text for p in pop.personas] == fit["prompts"]
    scores = fit["scores"]
    assert scores["n_sampled"] == scores["floor_n"] == 1000
    assert scores["w1_exact"] >= 0 and scores["floor_mean"] > 0
    assert "W1 sampled" in printed and "human floor" in printed


@pytest.mark.parametrize("builder", ["em", "gb", "mop"])
def test_fit_sees_only_the_fit_half(tmp_path, data_dir, models, builder, monkeypatch):
    from populations.mixture import PromptMixtureBuilder
    from populations.mop import MixtureOfPersonasBuilder

    seen = []
    cls = MixtureOfPersonasBuilder if builder == "mop" else PromptMixtureBuilder
    original = cls.fit

    def spy(self, scenario, values, sample_weight=None):
        seen.append(np.asarray(values))
        return original(self, scenario, values, sample_weight=sample_weight)

    monkeypatch.setattr(cls, "fit", spy)
    assert main(_argv(builder, tmp_path / "p.json", data_dir, "--seed", "5")) == 0
    scenario = get_scenario("dictator", source=str(data_dir))
    fit, test = (scenario.human_values(h, seed=5, source=str(data_dir)) for h in ("fit", "test"))
    np.testing.assert_array_equal(seen[0], fit)
    assert seen[0].size != test.size or not np.array_equal(seen[0], test)


def test_fit_builds_aligned_as_compare_does(tmp_path, data_dir, personas_dir, models, capsys):
    """``fit --builder aligned`` goes through the registry: the same population as the study's aligned kind."""
    from populations.constructions import BuildContext, build_construction, get_construction
    from populations.evaluation import human_halves

    out = tmp_path / "aligned.json"
    argv = ["fit", "--builder", "aligned", "--scenario", "dictator", "--out", str(out), "--data", str(data_dir),
            "--pool", "personachat", "--n-pool", "12", "--n-select", "4", "--seed", "3"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    pop = load_population_file(out)
    assert pop.construction == "aligned" and json.loads(out.read_text())["fit"]["construction"]["n_pool"] == 12
    scenario = get_scenario("dictator", source=str(data_dir))
    halves = human_halves(scenario, seed=3, source=str(data_dir))
    kind = get_construction("aligned")
    params = kind.defaults(pool=str(personas_dir / "personachat" / "personas.jsonl"), n_pool=12, n_select=4)
    ctx = BuildContext(scenario=scenario, fit=halves.fit, model=models[1], seed=3, split_seed=3)
    again = build_construction(kind, ctx, params).population
    assert [p.id for p in again.personas] == [p.id for p in pop.personas]
    assert main([*argv, "--n-select", "40"]) == 2
    assert "n_select = 40 exceeds n_pool = 12" in capsys.readouterr().err


def test_fit_validates_options_with_the_kind_schema(tmp_path, data_dir, models, capsys):
    argv = _argv("em", tmp_path / "p.json", data_dir, "--weight-method", "magic")
    assert main(argv) == 2
    assert "populace fit: weight_method = 'magic' must be one of lp, slsqp" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_fit_bad_scenario_is_a_one_line_error(tmp_path, capsys):
    rc = main(["fit", "--builder", "em", "--scenario", "bigfive:X", "--out", str(tmp_path / "x.json")])
    assert rc == 2
    assert "unknown scenario 'bigfive:X'" in capsys.readouterr().err


def small_seed000_study(path, data_dir, *, repeats=3, scenarios=("dictator",)):
    """The shipped fast seed000 study at tiny sizes (same rows and kinds), written to ``path``."""
    import tomllib

    import experiments.exp_seed000 as exp

    shipped = tomllib.loads(exp.STUDIES["fast"].read_text())
    small = {"n_personas": 2, "n_exemplars": 1, "n_components": 2, "max_iter": 1, "n_rounds": 2}
    lines = [
        f"seed = 0\nscenarios = {list(scenarios)!r}\ndata = {str(data_dir)!r}\nagents = 1000\nrepeats = {repeats}\n"
    ]
    import fnmatch

    for c in shipped["constructions"]:
        if c.get("scenarios") and not any(fnmatch.fnmatchcase(s, p) for s in scenarios for p in c["scenarios"]):
            continue  # limited to other scenarios (demographic: only scenarios that declare demographics)
        lines.append("[[constructions]]")
        lines += [f"{k} = {small.get(k, v)!r}" for k, v in c.items()]
        lines.append("")
    path.write_text("\n".join(lines).replace("'", '"'))
    return path


def test_seed000_fits_on_the_fit_half_and_sets_the_floor_beside_sampled_w1(
    tmp_path, data_dir, personas_dir, monkeypatch
):
    import experiments.exp_seed000 as exp
    from populations.mixture import PromptMixtureBuilder
    from populations.mop import MixtureOfPersonasBuilder

    crafter, respondent = _rule_following_models()
    monkeypatch.setenv("POPULACE_PERSONAS", str(personas_dir))
    seen: dict[str, list[np.ndarray]] = {"mixture": [], "mop": []}
    for key, cls in (("mixture", PromptMixtureBuilder), ("mop", MixtureOfPersonasBuilder)):
        original = cls.fit

        def spy(self, scenario, values, sample_weight=None, _orig=original, _key=key):
            seen[_key].append(np.asarray(values))
            return _orig(self, scenario, values, sample_weight=sample_weight)

        monkeypatch.setattr(cls, "fit", spy)
    study = exp.load_seed000(study=small_seed000_study(tmp_path / "s.toml", data_dir), seed=3)
    result = exp.run_seed000(respondent, tmp_path / "out", study, crafter=crafter, log=lambda *_: None)
    fit = get_scenario("dictator", source=str(data_dir)).human_values("fit", seed=3, source=str(data_dir))
    assert len(seen["mixture"]) == 2 and len(seen["mop"]) == 1
    for v in [*seen["mixture"], *seen["mop"]]:
        np.testing.assert_array_equal(v, fit)
    labels = {r["construction"] for r in result.scores}
    assert labels == {"fixed", "pool:personahub", "pool:personachat", "mop", "em", "gb"}  # dictator: no demographics
    assert all(r["n_sampled"] == r["floor_n"] for r in result.scores)
    assert len(crafter.requests) > 0  # the separate crafter wrote the mixtures' prompts
    table = (tmp_path / "out" / "seed000.md").read_text()
    sampled = table.split("## W1 sampled")[1].split("## W1 exact")[0]
    exact = table.split("## W1 exact")[1].split("##")[0]
    assert "**human floor**" in sampled and "**human floor**" not in exact
    assert "| EM K (dictator) | 2 | 50 | yes |" in table  # this study's difference from the paper is printed
    saved = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert saved["scores"] == json.loads(json.dumps(result.scores))
    assert (tmp_path / "out" / "grid.png").stat().st_size > 1000
    details = json.loads((tmp_path / "out" / "details.json").read_text())
    assert set(details) == {f"dictator/{name}" for name in labels}
