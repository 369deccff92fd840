"""Issue 18 item 2: a respondent missing an item drops out of that dimension's score only.

The file has two dimensions; a fifth of the respondents skipped item ``b1`` (dimension ``b``). Loaded as a whole
(``compare``), dimension ``a`` must keep every respondent, exactly as ``file.toml:a`` loaded alone does; only the
score vectors need rows complete on both.
"""

from __future__ import annotations

import numpy as np

from experiments.study import load_study, prepare_study, run_study
from populace_lm.fakes import KnownDistributionModel
from scenarios import get_scenario

SURVEY = """\
kind = "survey"
name = "two"
[scale]
type = "range"
low = 1
high = 5
labels = { 1 = "no", 5 = "yes" }
[[items]]
id = "a1"
text = "I like tea."
dimension = "a"
[[items]]
id = "a2"
text = "I like coffee."
dimension = "a"
[[items]]
id = "b1"
text = "I like rain."
dimension = "b"
[data]
path = "two.csv"
weight = "w"
"""

STUDY = """\
scenarios = ["two.toml"]
agents = 20
repeats = 2
[[constructions]]
name = "fixed"
kind = "fixed"
[[constructions]]
name = "em"
kind = "em"
n_components = 2
max_iter = 1
improve_rounds = 0
forbid_target_number = false
"""


def _write(tmp_path, n=300):
    rng = np.random.default_rng(3)
    a = rng.integers(1, 6, size=(n, 3))
    skip = rng.random(n) < 0.2
    w = rng.uniform(0.5, 2.0, size=n)
    lines = ["a1,a2,b1,w"] + [f"{x},{y},{'' if s else z},{v:.3f}" for (x, y, z), s, v in zip(a, skip, w, strict=True)]
    (tmp_path / "two.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "two.toml").write_text(SURVEY)
    (tmp_path / "study.toml").write_text(STUDY)
    return int(skip.sum())


def test_missing_item_drops_a_respondent_from_its_own_dimension_only(tmp_path):
    skipped = _write(tmp_path)
    assert skipped > 30
    study = load_study(tmp_path / "study.toml")
    (ps,) = prepare_study(study)
    alone_a = get_scenario(str(tmp_path / "two.toml") + ":a")
    alone_b = get_scenario(str(tmp_path / "two.toml") + ":b")
    for j, alone in enumerate((alone_a, alone_b)):
        for split in ("fit", "test"):
            mine = getattr(ps.halves(j), split)
            np.testing.assert_array_equal(mine, alone.human_values(split, seed=study.split_seed))
            np.testing.assert_array_equal(
                getattr(ps.halves(j), f"{split}_weights"), alone.human_weights(split, seed=study.split_seed)
            )
    assert ps.halves(0).test.shape[0] > ps.test.shape[0]  # dimension a keeps the respondents who skipped b1
    assert ps.halves(1).test.shape[0] == ps.test.shape[0]  # the score vectors: complete on both

    fake = KnownDistributionModel(lambda m, a: np.ones(a.size), model_id="flat", generate_fn=lambda r: "You like tea.")
    result = run_study(study, fake, progress=False)
    n_test = {(r["scenario"], r["construction"]): r["n_test"] for r in result.scores}
    n_fit = {(r["scenario"], r["construction"]): r["n_fit"] for r in result.scores}
    for c in ("fixed", "em"):
        assert n_test[("two:a", c)] == alone_a.human_values("test", seed=study.split_seed).size
        assert n_test[("two:b", c)] == alone_b.human_values("test", seed=study.split_seed).size
        assert n_fit[("two:a", c)] == alone_a.human_values("fit", seed=study.split_seed).size
    assert result.humans["two:a"][1].size == n_test[("two:a", "fixed")]
    assert result.vectors[0]["n_test"] == ps.test.shape[0]


def test_per_dimension_kinds_fit_each_dimension_on_its_own_respondents(tmp_path):
    from experiments.study import _context

    _write(tmp_path)
    study = load_study(tmp_path / "study.toml")
    (ps,) = prepare_study(study)
    ctx = _context(study, ps, study.constructions[1], None, progress=False)
    for j in (0, 1):
        own = ctx.dimension(j)
        np.testing.assert_array_equal(own.fit, ps.halves(j).fit)
        np.testing.assert_array_equal(own.fit_weights, ps.halves(j).fit_weights)
    assert ctx.dimension(0).fit.size > ctx.fit.shape[0]
