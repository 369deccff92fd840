"""Issue 18 item 7: the compare report names why crafting fell back and what its failed jobs were, also for a
construction fitted per dimension of a multi-dimensional file."""

from __future__ import annotations

import numpy as np

from experiments.reporting import write_study
from experiments.study import load_study, run_study
from populace_lm.fakes import KnownDistributionModel
from tests.experiments.test_study_multidim import _write


def test_report_gives_fallback_and_failure_reasons(tmp_path):
    _write(tmp_path, n=120)
    (tmp_path / "study.toml").write_text(
        'scenarios = ["moods.toml"]\nagents = 20\nrepeats = 2\n[[constructions]]\nname = "em"\nkind = "em"\n'
        "n_components = 2\nmax_iter = 1\nimprove_rounds = 0\nforbid_target_number = false\n"
    )
    refusing = KnownDistributionModel(
        lambda m, a: np.ones(a.size), model_id="refuser", generate_fn=lambda r: "I cannot help with that."
    )
    result = run_study(load_study(tmp_path / "study.toml"), refusing, progress=False)
    rows = [r for r in result.scores if r["construction"] == "em"]
    assert all(r["n_failed"] and r["failure_reasons"] for r in rows), rows  # summed over the dimensions
    report = (write_study(tmp_path / "out", result, model_id="refuser") / "report.md").read_text()
    crafting = report.split("## Crafting per row")[1].split("##")[0]
    assert "crafting jobs failed" in crafting and "crafting attempts" not in crafting
    assert "yes: a: no usable crafted prompt" in crafting
    assert "no 'You are …' prompt in the reply" in crafting or "refusal" in crafting


def test_crafting_table_without_a_status_still_says_it_fell_back():
    from experiments.reporting import crafting_table

    md = crafting_table([{"scenario": "s", "construction": "em", "n_crafted": 0, "n_failed": 2, "fallback": True}])
    assert "yes: no usable crafted prompt" in md
