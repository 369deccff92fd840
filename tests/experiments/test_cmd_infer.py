"""``populace infer`` (issue 20): a user's survey with demographic columns (TOML + CSV written here) → twins → PPI.

The fake respondent answers from its persona's region, the way the planted humans do, but one scale point too
high: the twins' predictions correlate with the humans' answers (so PPI beats human-only) and are biased (so the
simulation-only interval misses the test half).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel

SURVEY = """\
kind = "survey"
name = "civic"
[scale]
type = "range"
low = 1
high = 5
labels = { 1 = "disagree", 5 = "agree" }
[[items]]
id = "t1"
text = "I trust my neighbours."
dimension = "trust"
[[items]]
id = "t2"
text = "People here help each other."
dimension = "trust"
[dimensions.trust]
scoring = "sum"
[data]
path = "answers.csv"
demographics = ["region", "age_band"]
group = "region"
[data.demographic_labels]
region = { "1" = "London", "2" = "the North East" }
"""


def _files(tmp_path, n: int = 600) -> None:
    rng = np.random.default_rng(7)
    region = rng.integers(1, 3, size=n)
    age = rng.choice(["18-34", "35-64", "65+"], size=n)
    centre = np.where(region == 1, 4.0, 2.0)
    t1 = np.clip(np.rint(centre + rng.normal(0, 0.8, n)), 1, 5).astype(int)
    t2 = np.clip(np.rint(centre + rng.normal(0, 0.8, n)), 1, 5).astype(int)
    pd.DataFrame({"region": region, "age_band": age, "t1": t1, "t2": t2}).to_csv(tmp_path / "answers.csv", index=False)
    (tmp_path / "civic.toml").write_text(SURVEY)
    (tmp_path / "plain.toml").write_text(SURVEY.split("demographics = ")[0] + "\n")


def _weights(messages, answers):
    """Answers near 5 for a London persona, near 3 otherwise: the humans' pattern shifted up by one point."""
    system = " ".join(m.content for m in messages if m.role == "system")
    v = np.asarray(answers.values, dtype=float)
    centre = 5.0 if "London" in system else 3.0
    return np.exp(-((v - centre) ** 2) / 0.5)


@pytest.fixture
def model(monkeypatch):
    fake = KnownDistributionModel(_weights, model_id="infer-fake")
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: fake)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    return fake


def test_twins_then_ppi_on_a_user_survey(tmp_path, model, capsys):
    _files(tmp_path)
    out = tmp_path / "inf"
    assert main(["infer", "--scenario", f"{tmp_path}/civic.toml", "--humans", "40,120", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("inference.csv", "inference.md", "power.csv", "power.md", "inference.png", "report.md", "run.json"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run["twins"]["civic"]["profiles"] == 6  # 2 regions × 3 age bands
    assert run["twins"]["civic"]["requests"] == 6 * 2  # each twin answers each item once
    df = pd.read_csv(out / "inference.csv", keep_default_na=False)
    score = df[(df.kind == "score") & (df.group == "") & (df.estimand == "mean") & (df.n == 120)]
    by = score.set_index("method")
    truth = by.loc["classical", "truth"]
    # the twins' regions carry the signal: PPI++ is narrower than human-only; the simulation alone is 2 points high
    assert by.loc["ppipp", "rho"] > 0.6
    assert by.loc["ppipp", "width"] < 0.85 * by.loc["classical", "width"]
    assert by.loc["naive", "estimate"] - truth == pytest.approx(2.0, abs=0.35)
    assert not by.loc["naive", "covers"]
    assert by.loc["ppipp", "ess"] > 120
    # items, medians and the declared subgroups are estimated too
    assert {"t1", "t2"} <= set(df.target) and "median" in set(df.estimand)
    assert {"London (1)", "the North East (2)"} <= set(df.group.astype(str))  # labelled as the file says
    assert "PPI++" in printed and "humans needed" in (out / "report.md").read_text()


def test_prompts_are_the_rows_demographics(tmp_path, model):
    from populations.twin_inference import InferenceSettings, prepare_inference
    from populations.twins import build_twins
    from scenarios import get_scenario

    _files(tmp_path)
    scenario = get_scenario(f"{tmp_path}/civic.toml")
    p = prepare_inference(scenario, InferenceSettings(humans=(40,)), seed=0, split_seed=0)
    twins = build_twins(scenario, p.profiles)
    rows = scenario.rows()
    for i in (0, 1, 2, 100):  # each row's twin is written from that row's own demographics
        text = twins.personas[p.row_profile[i]].text
        region = {"1": "London", "2": "the North East"}[str(rows.demographics.loc[i, "region"])]
        assert region in text and str(rows.demographics.loc[i, "age_band"]) in text


def test_labelled_from_fit_half_and_unlabelled_disjoint(tmp_path):
    from populations.twin_inference import InferenceSettings, prepare_inference
    from scenarios import get_scenario

    _files(tmp_path)
    scenario = get_scenario(f"{tmp_path}/civic.toml")
    p = prepare_inference(scenario, InferenceSettings(humans=(40, 120)), seed=3, split_seed=3)
    for n, lab in p.labelled.items():
        assert lab.size == n and set(lab) <= set(p.fit_idx) and not set(lab) & set(p.test_idx)
        unl = p.unlabelled(n)
        assert not set(unl) & set(lab) and len(unl) + n == p.n_rows
    again = prepare_inference(scenario, InferenceSettings(humans=(40, 120)), seed=3, split_seed=3)
    assert all(np.array_equal(again.labelled[n], p.labelled[n]) for n in p.labelled)


def test_plan_counts_the_twins(tmp_path, capsys):
    _files(tmp_path)
    assert main(["infer", "--scenario", f"{tmp_path}/civic.toml", "--humans", "50", "--plan"]) == 0
    printed = capsys.readouterr().out
    assert "6 distinct profiles" in printed and "estimated distinct LLM requests: 12" in printed


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--scenario", "{d}/plain.toml"], "declares no demographic columns"),
        (["--scenario", "{d}/civic.toml", "--humans", "5000"], "larger than the fit half"),
        (["--scenario", "{d}/civic.toml", "--frame", "{d}/frame.csv"], "frame.csv"),
        (["--scenario", "{d}/civic.toml", "--columns", "income"], "'income' is not a demographic column"),
        (["--scenario", "{d}/civic.toml", "--humans", "ten"], "--humans"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, model, capsys, argv, needle):
    _files(tmp_path)
    pd.DataFrame({"region": [1, 2], "income": [3, 4]}).to_csv(tmp_path / "frame.csv", index=False)
    out = tmp_path / "never"
    args = ["infer", *[a.format(d=tmp_path) for a in argv], "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not out.exists()
    assert model.calls == 0  # every check runs before the first LLM call
