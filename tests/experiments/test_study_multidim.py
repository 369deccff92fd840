"""``populace compare`` on a multi-dimensional instrument: per-dimension rows plus multivariate scores.

The humans and the fake model share a known structure: two kinds of respondent, one high on items ``a`` and
``b`` and low on ``c``, the other the reverse, so the dimensions are strongly correlated. A population that
mixes both kinds reproduces the correlations; one persona (or a simulation that draws each item from a
different component) does not, and the correlation error shows it.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from experiments.cli import main
from experiments.reporting import write_study
from experiments.study import load_study, plan_study, run_study
from populace_lm.fakes import KnownDistributionModel
from populations.evaluation import VECTOR_METRICS, simulate_score_vectors
from scenarios import get_scenario

HIGH = "You are upbeat and outgoing, and you love company."
LOW = "You are reserved and quiet, and you prefer solitude."

SURVEY = """\
kind = "survey"
name = "moods"
[scale]
type = "range"
low = 0
high = 10
labels = { 0 = "not at all", 10 = "completely" }
[[items]]
id = "a"
text = "I enjoy parties."
[[items]]
id = "b"
text = "I start conversations with strangers."
[[items]]
id = "c"
text = "I like to spend evenings alone."
[data]
path = "moods.csv"
"""


def _write(tmp_path, n=400):
    rng = np.random.default_rng(1)
    kind = rng.integers(0, 2, size=n)  # 1 = outgoing
    hi, lo = rng.integers(7, 11, size=(n, 3)), rng.integers(0, 4, size=(n, 3))
    a = np.where(kind == 1, hi[:, 0], lo[:, 0])
    b = np.where(kind == 1, hi[:, 1], lo[:, 1])
    c = np.where(kind == 1, lo[:, 2], hi[:, 2])
    lines = ["a,b,c"] + [f"{x},{y},{z}" for x, y, z in zip(a, b, c, strict=True)]
    (tmp_path / "moods.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "moods.toml").write_text(SURVEY)
    pool = [{"id": f"p{i}", "text": HIGH if i % 2 else LOW} for i in range(12)]
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pool))


def _weights(messages, answers):
    system = " ".join(m.content for m in messages if m.role == "system")
    question = messages[-1].content
    v = np.asarray(answers.values, dtype=float)
    up = ("alone" in question) != ("outgoing" in system)  # high answers for this persona and item
    if "outgoing" not in system and "reserved" not in system:
        return np.ones_like(v)  # the default prompt: uniform
    return np.where(v >= 7, 1.0, 1e-6) if up else np.where(v <= 3, 1.0, 1e-6)  # as the humans answer


@pytest.fixture
def fake():
    prompts = (HIGH, LOW)
    return KnownDistributionModel(_weights, model_id="moods-fake", generate_fn=lambda r: prompts[r.seed % 2])


STUDY = """\
scenarios = ["moods.toml"]
agents = 100                    # n = half the test half: the sampled AMW of 4 draws of 60 was a seed artefact
repeats = 8
[[constructions]]
name = "fixed"
kind = "fixed"
[[constructions]]
name = "pool"
kind = "pool"
pool = "pool.jsonl"
n_personas = 6
[[constructions]]
name = "em"
kind = "em"
n_components = 2
max_iter = 1
improve_rounds = 0
forbid_target_number = false
[[constructions]]
name = "aligned"
kind = "aligned"
pool = "pool.jsonl"
n_pool = 12
n_select = 6
"""


def test_multidimensional_study_scores_each_dimension_and_the_vectors(tmp_path, fake):
    _write(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    study = load_study(tmp_path / "study.toml")
    result = run_study(study, fake, progress=False)
    name = "moods"  # the file's own name
    dims = [f"{name}:{d}" for d in ("a", "b", "c")]
    assert [r["scenario"] for r in result.scores] == dims * 4
    assert {r["n_test"] for r in result.scores} == {200}
    assert [(v["scenario"], v["construction"]) for v in result.vectors] == [
        (name, c) for c in ("fixed", "pool", "em", "aligned")
    ]
    by = {v["construction"]: v for v in result.vectors}
    for m in VECTOR_METRICS:  # one floor per scenario, the same for every construction
        assert len({by[c][f"{m}_floor_mean"] for c in by}) == 1
    floor = by["fixed"]["corr_mae_floor_mean"]
    # the default prompt answers each item independently of the others: no correlation at all
    assert by["fixed"]["corr_mae_sampled_mean"] > 0.6
    # a mixture of both kinds reproduces the strong correlations between the dimensions
    for c in ("pool", "em", "aligned"):
        assert by[c]["corr_mae_sampled_mean"] < 0.25 + floor, (c, by[c])
    # EM's weights are fitted on the marginals of all dimensions at once: AMW near the floor (a random pool, or a
    # resampled aligned set of 6, need not be balanced, so only EM is held to it)
    assert by["em"]["amw_sampled_mean"] < by["em"]["amw_floor_mean"] + 2 * by["em"]["amw_floor_sd"]
    assert by["em"]["amw_sampled_mean"] < by["fixed"]["amw_sampled_mean"]
    for d in dims:  # the joint weights leave the default prompt (uniform answers) out: no human answers 4..6
        assert result.pmfs[(d, "em")][4:7].sum() < 0.02
        assert result.pmfs[(d, "fixed")][4:7].sum() == pytest.approx(3 / 11, abs=1e-6)
    # the joint EM population holds the components fitted on every dimension, weighted on all of them
    em_row = next(r for r in result.scores if r["construction"] == "em")
    assert em_row["components"] >= 2 and em_row["status"] == "ok"

    out = write_study(tmp_path / "out", result, model_id="moods-fake")
    assert (out / "multivariate.csv").read_text().startswith("scenario,construction,kind,dimensions,n,")
    doc = json.loads((out / "scores.json").read_text())
    assert len(doc["multivariate"]) == 4 and len(doc["scores"]) == 12
    report = (out / "report.md").read_text()
    assert "## Multivariate scores" in report and "corr_mae sampled" in report


def test_plan_counts_every_dimension(tmp_path):
    _write(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    rows = {r["construction"]: r for r in plan_study(load_study(tmp_path / "study.toml"))}
    assert {r["dimensions"] for r in rows.values()} == {3}
    assert rows["fixed"]["est_requests"] == 3
    # EM per dimension (1 item each) then every component (3 x 3) on the 3 questions
    one = 1 + 2 * 2 * (1 + 1)
    assert rows["em"]["components"] == 9 and rows["em"]["est_requests"] == 3 * one + 9 * 3


def test_compare_command_writes_the_multivariate_table(tmp_path, fake, monkeypatch):
    import experiments.common

    _write(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY.split('[[constructions]]\nname = "em"')[0])
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: fake)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    assert main(["compare", str(tmp_path / "study.toml"), "--out", str(tmp_path / "cmp")]) == 0
    md = (tmp_path / "cmp" / "multivariate.md").read_text()
    assert md.count("\n") == 2 + 2  # header, rule, fixed and pool


def test_simulated_vectors_keep_each_agent_on_one_component():
    """Every item of an agent comes from the same component (a per-item component draw would decorrelate)."""
    part = get_scenario("yrbss")
    parts = [get_scenario(f"yrbss:{d}") for d in part.dimensions[:3]]
    probs = []
    for p in parts:
        (q,) = p.questions()
        c = len(q.answers.values)
        x = np.zeros((2, 1, c))
        x[0, 0, 0], x[1, 0, c - 1] = 1.0, 1.0
        probs.append(x)
    v = simulate_score_vectors([0.3, 0.7], parts, probs, 4000, np.random.default_rng(0))
    assert v.shape == (4000, 3)
    low = v[:, 0] == parts[0].support.min()
    assert abs(low.mean() - 0.3) < 0.03
    for j in (1, 2):  # the same agents are low on every dimension
        assert np.array_equal(low, v[:, j] == parts[j].support.min())
    with pytest.raises(ValueError, match="expected"):
        simulate_score_vectors([0.5, 0.5], parts[:1], [np.ones((2, 3, 4))], 10, np.random.default_rng(0))


PARTY = """\
kind = "survey"
name = "vote"
[scale]
type = "categorical"
categories = [{ label = "Red", code = "r" }, { label = "Blue", code = "b" }, { label = "Green", code = "g" }]
[[items]]
id = "party"
text = "Which party did you vote for?"
[data]
path = "vote.csv"
"""


def _vote(tmp_path):
    codes = np.repeat(["r", "b", "g"], [120, 60, 20])
    (tmp_path / "vote.csv").write_text("party\n" + "\n".join(np.random.default_rng(0).permutation(codes)) + "\n")
    (tmp_path / "vote.toml").write_text(PARTY)
    _write(tmp_path)


def test_unordered_scenario_is_scored_with_total_variation(tmp_path, fake):
    _vote(tmp_path)
    (tmp_path / "study.toml").write_text(
        'scenarios = ["vote.toml"]\nagents = 50\nrepeats = 3\n[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
    )
    result = run_study(load_study(tmp_path / "study.toml"), fake, progress=False)
    (row,) = result.scores
    assert row["metric"] == "tv" and "w1_exact" not in row
    # the default prompt is uniform on the three options; the humans are about 0.6 / 0.3 / 0.1
    support, test = result.humans["vote"]
    freq = np.array([(test == v).mean() for v in support])
    assert row["category_gaps_exact"] == pytest.approx(1 / 3 - freq, abs=1e-5)
    assert row["tv_exact"] == pytest.approx(0.5 * np.abs(1 / 3 - freq).sum(), abs=1e-5) and row["tv_exact"] > 0.2
    assert 0 < row["floor_mean"] < row["tv_sampled_mean"]
    out = write_study(tmp_path / "out", result, model_id="moods-fake")
    header = (out / "table.csv").read_text().splitlines()[0].split(",")
    assert header.index("tv_sampled_sd") + 1 == header.index("floor_mean")  # the floor sits beside sampled TV


def test_w1_fitted_kinds_are_refused_on_unordered_categories(tmp_path):
    from experiments.study import StudyError, prepare_study

    _vote(tmp_path)
    (tmp_path / "study.toml").write_text('scenarios = ["vote.toml"]\n[[constructions]]\nname = "em"\nkind = "em"\n')
    with pytest.raises(StudyError, match=r"constructions\.em\.kind: 'em' fits W1, which needs ordered answers"):
        prepare_study(load_study(tmp_path / "study.toml"))


@pytest.mark.model
def test_multidimensional_study_with_a_treatment_on_the_embedded_model(tmp_path, monkeypatch):
    """SmolLM2 through ``populace compare``: per-dimension rows, the vector scores and the treatment; a rerun is free."""
    monkeypatch.setenv("POPULACE_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("POPULACE_QUIET", "1")
    _write(tmp_path)
    (tmp_path / "moods.toml").write_text(SURVEY.replace("\n[scale]", '\n[survey]\nanswer_stem = "Answer: "\n[scale]'))
    (tmp_path / "study.toml").write_text(
        'scenarios = ["moods.toml"]\nagents = 20\nrepeats = 2\n'
        '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
        '[[constructions]]\nname = "pool"\nkind = "pool"\npool = "pool.jsonl"\nn_personas = 2\n'
        '[treatment]\ntext = "You have just won a prize at a party."\nseeds = 2\nagents = 2\n'
    )
    for out in ("a", "b"):
        assert main(["compare", str(tmp_path / "study.toml"), "--out", str(tmp_path / out)]) == 0
    doc = json.loads((tmp_path / "a" / "scores.json").read_text())
    assert [r["scenario"] for r in doc["scores"]] == ["moods:a", "moods:b", "moods:c"] * 2
    assert all(np.isfinite(v["amw_sampled_mean"]) and v["amw_floor_mean"] > 0 for v in doc["multivariate"])
    assert {r["construction"] for r in doc["treatment"]} == {"fixed", "pool"}
    assert (tmp_path / "a" / "scores.json").read_bytes() == (tmp_path / "b" / "scores.json").read_bytes()
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert sum(r["backend_calls"] for r in run["cost"]) == 0


def test_survey_weights_reach_fitting_and_scoring(tmp_path, fake, monkeypatch):
    """A file's ``data.weight``: the builders get the fit half's weights, scores use the test half's."""
    from alignment import wasserstein_1d
    from populations.mixture import PromptMixtureBuilder

    _write(tmp_path)
    csv = (tmp_path / "moods.csv").read_text().splitlines()
    weights = [3 if int(line.split(",")[0]) >= 5 else 1 for line in csv[1:]]  # outgoing rows count three times
    rows = [f"{line},{w}" for line, w in zip(csv[1:], weights, strict=True)]
    (tmp_path / "moods.csv").write_text("a,b,c,w\n" + "\n".join(rows) + "\n")
    (tmp_path / "moods.toml").write_text(SURVEY.replace('path = "moods.csv"', 'path = "moods.csv"\nweight = "w"'))
    seen = []
    original = PromptMixtureBuilder.fit

    def spy(self, scenario, values, sample_weight=None):
        seen.append(sample_weight)
        return original(self, scenario, values, sample_weight=sample_weight)

    monkeypatch.setattr(PromptMixtureBuilder, "fit", spy)
    # a crafter that follows its target (the default fake alternates), so EM can reach the weighted share
    fake.generate_fn = lambda r: (
        HIGH if float(re.findall(r"score about (\d+)", r.messages[-1].content)[-1]) >= 5 else LOW
    )
    (tmp_path / "study.toml").write_text(
        STUDY.replace('"moods.toml"', '"moods.toml:a"').split('[[constructions]]\nname = "aligned"')[0]
    )
    result = run_study(load_study(tmp_path / "study.toml"), fake, progress=False)
    assert len(seen) == 1 and seen[0] is not None and set(np.unique(seen[0])) == {1.0, 3.0}
    fixed = next(r for r in result.scores if r["construction"] == "fixed")
    support, test = result.humans["moods:a"]
    w_test = get_scenario(f"{tmp_path}/moods.toml:a").human_weights("test", seed=0)
    assert fixed["weighted"] is True and np.array_equal(result.human_weights["moods:a"], w_test)
    exact = wasserstein_1d(support, np.repeat(test, w_test.astype(int)), u_weights=result.pmfs[("moods:a", "fixed")])
    assert fixed["w1_exact"] == pytest.approx(exact, abs=1e-5)
    assert fixed["human_test_mean"] == pytest.approx(np.average(test, weights=w_test), abs=1e-5)
    em = result.pmfs[("moods:a", "em")]
    assert em[7:].sum() == pytest.approx(np.average(test >= 7, weights=w_test), abs=0.1)  # the weighted share


def test_compare_prints_tv_for_unordered_categories(tmp_path, fake, monkeypatch, capsys):
    import experiments.common

    _vote(tmp_path)
    (tmp_path / "study.toml").write_text(
        'scenarios = ["vote.toml", "moods.toml:a"]\nagents = 20\nrepeats = 2\n'
        '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
    )
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: fake)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    assert main(["compare", str(tmp_path / "study.toml"), "--out", str(tmp_path / "cmp")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["scenario", "construction", "metric", "exact"]
    assert lines[1].split()[:3] == ["vote", "fixed", "tv"] and lines[2].split()[:3] == ["moods:a", "fixed", "w1"]
