"""A user's own survey and decision task (TOML + CSV written here) through fit → run → whatif → compare → select.

One population file, written by ``populace fit``, is read by every other command (issue 12, items 2-4).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import experiments.cmd_fit
import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel
from populations import subgroups
from tests.experiments.test_cmd_sim import TREATMENT, _user_files
from tests.populations.encoders import HashEncoder

PROMPTS = (
    "You are a generous, trusting neighbour who helps everyone and gives freely.",
    "You are a wary, private person who keeps to yourself and holds on to what you have.",
)


def _weights(messages, answers):
    system = " ".join(m.content for m in messages if m.role == "system")
    v = np.asarray(answers.values, dtype=float)
    z = (v - v.min()) / max(v.max() - v.min(), 1.0)
    w = np.exp(4 * z) if "trusting" in system else np.exp(-4 * z) if "wary" in system else np.ones_like(z)
    if any(TREATMENT in m.content for m in messages):
        w = w * np.exp(2 * z)  # the treatment moves answers up
    return w


@pytest.fixture
def model(monkeypatch):
    fake = KnownDistributionModel(
        _weights, model_id="chain-fake", generate_fn=lambda request: PROMPTS[request.seed % 2]
    )
    for module in (experiments.common, experiments.cmd_fit):  # cmd_fit binds model_from_args at import
        monkeypatch.setattr(module, "model_from_args", lambda args: fake)
    monkeypatch.setattr(subgroups, "MiniLMEncoder", HashEncoder)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    return fake


@pytest.mark.parametrize(("spec", "n_items"), [("civic.toml:trust", 2), ("donation.toml", 1)])
def test_fit_file_feeds_run_whatif_compare_and_select(tmp_path, model, capsys, spec, n_items):
    _user_files(tmp_path)
    scenario = f"{tmp_path}/{spec}"
    pop_file = tmp_path / "em.json"
    argv = ["fit", "--builder", "em", "--scenario", scenario, "--n-components", "2", "--max-iter", "2",
            "--improve-rounds", "0", "--out", str(pop_file)]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(pop_file.read_text())
    assert doc["kind"] == "populace.population" and doc["fit"]["n_crafted"] >= 1
    assert {p["text"] for p in doc["personas"]} & set(PROMPTS)  # the crafted prompts are the population

    out = tmp_path / "run"
    assert main(["run", "--population", str(pop_file), "--scenario", scenario, "--agents", "6", "--out", str(out)]) == 0
    records = pd.read_parquet(out / "records.parquet")
    assert len(records) == 6 * n_items

    out = tmp_path / "whatif"
    argv = ["whatif", "--population", str(pop_file), "--scenario", scenario, "--treatment", TREATMENT,
            "--seeds", "3", "--agents", "8", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    diff = pd.read_csv(out / "differences.csv")
    assert (diff["kind"] == "item").sum() == n_items and (diff[diff["kind"] == "item"]["ci_low"] > 0).all()

    study = tmp_path / "study.toml"
    study.write_text(
        f'scenarios = ["{scenario}"]\nagents = 10\nrepeats = 3\n'
        '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
        '[[constructions]]\nname = "fitted"\nkind = "file"\npath = "em.json"\n'
        '[[constructions]]\nname = "em"\nkind = "em"\nn_components = 2\nmax_iter = 1\n'
    )
    out = tmp_path / "compare"
    assert main(["compare", str(study), "--out", str(out)]) == 0
    table = pd.read_csv(out / "table.csv")
    assert list(table["construction"]) == ["fixed", "fitted", "em"]
    assert (table["floor_n"] == 10).all() and table["floor_mean"].notna().all() and table["w1_exact"].notna().all()
    assert table.set_index("construction").loc["fitted", "components"] == len(doc["personas"])  # the same file

    out = tmp_path / "trusting.jsonl"
    argv = ["select", "--population", str(pop_file), "--query", "trusting neighbour", "--k", "1", "--min-score",
            "-1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["text"] in {p["text"] for p in doc["personas"]}


@pytest.mark.parametrize("scenario", ["yrbss:helmet_12m", "wvs_poverty@USA"])
def test_builtin_survey_files_fit_and_compare_like_any_user_file(tmp_path, model, data_dir, scenario):
    # YRBSS (ordinal categories) and the WVS poverty item ship as TOML files read by the user's loader
    pop_file = tmp_path / "em.json"
    argv = ["fit", "--builder", "em", "--scenario", scenario, "--n-components", "2", "--max-iter", "1",
            "--improve-rounds", "0", "--data", str(data_dir), "--out", str(pop_file)]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(pop_file.read_text())["fit"]["n_crafted"] >= 1
    study = tmp_path / "study.toml"
    study.write_text(
        f'scenarios = ["{scenario}"]\ndata = "{data_dir}"\nagents = 50\nrepeats = 3\n'
        '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
        '[[constructions]]\nname = "fitted"\nkind = "file"\npath = "em.json"\n'
    )
    assert main(["compare", str(study), "--out", str(tmp_path / "compare")]) == 0
    table = pd.read_csv(tmp_path / "compare" / "table.csv")
    assert list(table["construction"]) == ["fixed", "fitted"] and table["w1_sampled_mean"].notna().all()


@pytest.mark.model
@pytest.mark.parametrize("spec", ["civic.toml:trust", "donation.toml"])
def test_user_files_through_every_command_with_the_embedded_model(tmp_path, monkeypatch, spec):
    # the real SmolLM2 on tiny settings: the pipeline runs end to end (the scores say nothing about calibration)
    monkeypatch.setenv("POPULACE_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("POPULACE_QUIET", "1")
    _user_files(tmp_path)
    scenario, pop_file = f"{tmp_path}/{spec}", tmp_path / "em.json"
    argv = ["fit", "--builder", "em", "--scenario", scenario, "--n-components", "1", "--max-iter", "1",
            "--improve-rounds", "0", "--out", str(pop_file)]  # fmt: skip
    assert main(argv) == 0
    assert main(["run", "--population", str(pop_file), "--scenario", scenario, "--agents", "4",
                 "--out", str(tmp_path / "run")]) == 0  # fmt: skip
    assert main(["whatif", "--population", str(pop_file), "--scenario", scenario, "--treatment", TREATMENT,
                 "--seeds", "2", "--agents", "4", "--out", str(tmp_path / "whatif")]) == 0  # fmt: skip
    study = tmp_path / "study.toml"
    study.write_text(
        f'scenarios = ["{scenario}"]\nagents = 10\nrepeats = 3\n'
        '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
        '[[constructions]]\nname = "fitted"\nkind = "file"\npath = "em.json"\n'
    )
    assert main(["compare", str(study), "--out", str(tmp_path / "compare")]) == 0
    table = pd.read_csv(tmp_path / "compare" / "table.csv")
    # the parse-failure rate is reported, whatever it is (it is data, never replaced by a default answer; with the
    # default answer stem SmolLM2 gives the civic items ~0.07, with answer_stem = "" ~0.93)
    assert table["w1_exact"].notna().all() and table["parse_failure_rate"].between(0, 1).all()
    assert (tmp_path / "whatif" / "differences.csv").is_file() and (tmp_path / "run" / "records.parquet").is_file()
