"""Issue 18 item 7: ``populace describe`` prints the loaded human statistics (n, mean, sd per item, dimension and
group), checked against statistics computed by hand from the CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import experiments.common
from experiments.cli import main

SURVEY = """\
kind = "survey"
name = "civic"
[scales.agree]
type = "range"
low = 1
high = 5
labels = { 1 = "no", 5 = "yes" }
[scales.freq]
type = "ordinal"
categories = [{ label = "never", code = "N", value = 0 }, { label = "often", code = "O", value = 3 }]
[[items]]
id = "t1"
text = "I trust my neighbours."
dimension = "trust"
scale = "agree"
[[items]]
id = "t2"
text = "People look out for themselves."
dimension = "trust"
scale = "agree"
reverse = true
[[items]]
id = "vol"
text = "Do you volunteer?"
scale = "freq"
[dimensions.trust]
scoring = "sum"
[data]
path = "civic.csv"
group = "region"
weight = "w"
"""

CSV = "region,w,t1,t2,vol\nN,1,1,5,N\nN,2,2,4,O\nS,1,5,1,O\nS,1,4,,N\nS,0.5,3,3,O\n"


@pytest.fixture(autouse=True)
def no_model(monkeypatch):
    monkeypatch.setattr(experiments.common, "model_from_args", lambda *a: (_ for _ in ()).throw(AssertionError()))


def test_describe_prints_item_dimension_and_group_statistics(tmp_path, capsys):
    (tmp_path / "civic.toml").write_text(SURVEY)
    (tmp_path / "civic.csv").write_text(CSV)
    out = tmp_path / "stats.csv"
    assert main(["describe", "--scenario", str(tmp_path / "civic.toml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("civic: 5 rows read from") and "column t2: missing 1" in printed
    t = pd.read_csv(out).set_index("name")
    assert t.loc["t1", "n"] == 5 and t.loc["t1", "mean"] == pytest.approx(3.0)
    assert t.loc["t1", "sd"] == pytest.approx(np.std([1, 2, 5, 4, 3], ddof=1))
    assert t.loc["vol", "mean"] == pytest.approx(9 / 5)  # value units: N = 0, O = 3 (not option numbers 1, 2)
    assert t.loc["t1", "weighted_mean"] == pytest.approx((1 + 4 + 5 + 4 + 1.5) / 5.5)
    # trust = t1 + (6 − t2): 2, 4, 10, —, 6 — the respondent who skipped t2 drops out of trust only
    assert t.loc["civic:trust", "n"] == 4 and t.loc["civic:trust", "mean"] == pytest.approx(5.5)
    assert t.loc["civic:vol", "n"] == 5
    assert t.loc["civic:trust@N", "mean"] == pytest.approx(3.0) and t.loc["civic:trust@S", "n"] == 2
    assert set(t["level"]) == {"item", "dimension", "group"}


def test_describe_a_split_half_and_a_decision_task(tmp_path, capsys):
    (tmp_path / "civic.toml").write_text(SURVEY)
    (tmp_path / "civic.csv").write_text(CSV)
    assert main(["describe", "--scenario", str(tmp_path / "civic.toml") + ":trust", "--split", "fit"]) == 0
    printed = capsys.readouterr().out
    assert "describing the fit half" in printed and "vol" not in printed.split("kept")[1]
    (tmp_path / "d.toml").write_text(
        'kind = "decision"\nname = "d"\n[decision]\ninstruction = "Give 0 to 10."\nlow = 0\nhigh = 10\n'
        '[data]\npath = "d.csv"\ncolumn = "g"\n'
    )
    (tmp_path / "d.csv").write_text("g\n0\n5\n10\n")
    assert main(["describe", "--scenario", str(tmp_path / "d.toml")]) == 0
    assert "5.000" in capsys.readouterr().out
    assert main(["describe", "--scenario", "dictator"]) == 2
