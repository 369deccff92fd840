"""``populace align`` and ``experiment seed002`` pick surveys only through the one scenario registry (issue 12, item 1).

A user's survey TOML + CSV (written here) is aligned to end to end with a fake model; unknown scenarios, decision
tasks and category items get one-line errors; the built-in IPIP-50, CFCS and Grit questions (and so the response
cache and the stored response matrices) are the ones the hand-written surveys asked.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments import cli
from experiments.cmd_align import align_target
from populace_lm.fakes import KnownDistributionModel
from populations.aligned import load_weighted_jsonl
from populations.response_matrix import scenario_key
from scenarios.split import split_indices

SURVEY = """\
kind = "survey"
name = "outlook"
[survey]
instructions = "How much do you agree, from {low} to {high} ({scale})? Reply with the number only."
item_label = "Statement"
[scale]
type = "range"
low = 0
high = 4
labels = { 0 = "not at all", 4 = "completely" }
[[items]]
id = "hope"
text = "Things will get better for people like me."
dimension = "optimism"
[[items]]
id = "doom"
text = "The future looks grim."
dimension = "optimism"
reverse = true
[[items]]
id = "plans"
text = "I make plans for the next ten years."
dimension = "planning"
[dimensions.optimism]
scoring = "sum"
[dimensions.planning]
scoring = "item"
[data]
path = "humans.csv"
missing = [9]
"""
DECISION = """\
kind = "decision"
name = "gift"
[decision]
instruction = "You have 10 tokens. How many do you give away, from 0 to 10?"
low = 0
high = 10
[data]
path = "humans.csv"
column = "hope"
"""
CATEGORIES = """\
kind = "survey"
name = "transport"
[scale]
type = "categorical"
categories = [{ label = "car" }, { label = "bus" }, { label = "bike" }]
[[items]]
id = "mode"
text = "How do you usually get to work?"
[data]
path = "modes.csv"
"""
N_HUMANS = 80


ASKED: list[str] = []  # user messages the fake was asked (reset per test)


def _weights(messages, answers):
    """Optimists answer like the humans (agree, but disagree that the future looks grim), worriers the reverse."""
    ASKED.extend(m.content for m in messages if m.role == "user")
    system = " ".join(m.content for m in messages if m.role == "system")
    z = np.arange(answers.size) / (answers.size - 1)
    up = ("optimist" in system) != ("grim" in messages[-1].content)
    return np.exp(6 * z) if up else np.exp(-6 * z)


@pytest.fixture
def fake(monkeypatch):
    ASKED.clear()
    model = KnownDistributionModel(_weights, model_id="align-registry-fake")
    monkeypatch.setattr("experiments.cmd_align.model_from_args", lambda args: model)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    return model


@pytest.fixture
def files(tmp_path):
    """humans.csv (mostly high answers, a missing code and a blank), the TOMLs and a 40-persona pool."""
    rng = np.random.default_rng(5)
    answers = rng.integers(3, 5, size=(N_HUMANS, 3)).astype(object)
    answers[:, 1] = 4 - answers[:, 1]  # "doom" is reverse-keyed: optimists disagree
    answers[3, 0], answers[7, 2], answers[11, 1] = 9, "", 9  # three incomplete respondents
    lines = ["hope,doom,plans"] + [",".join(str(v) for v in row) for row in answers]
    (tmp_path / "humans.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "modes.csv").write_text("mode\ncar\nbus\nbike\ncar\n")
    (tmp_path / "outlook.toml").write_text(SURVEY)
    (tmp_path / "gift.toml").write_text(DECISION)
    (tmp_path / "transport.toml").write_text(CATEGORIES)
    pool = [
        {"id": f"p{i}", "text": f"You are an {'optimist' if i % 2 else 'worrier'} and person number {i}."}
        for i in range(40)
    ]
    (tmp_path / "pool.jsonl").write_text("\n".join(json.dumps(p) for p in pool) + "\n")
    return tmp_path


def _argv(tmp_path, scenario, *extra):
    return ["align", "--pool", str(tmp_path / "pool.jsonl"), "--scenario", scenario, "--out",
            str(tmp_path / "aligned.jsonl"), "--matrix-dir", str(tmp_path / "m"), *extra]  # fmt: skip


def test_align_to_a_user_survey_file(files, fake, capsys):
    assert cli.main(_argv(files, f"{files}/outlook.toml", "--n-select", "10", "--seed", "3")) == 0
    pop = load_weighted_jsonl(files / "aligned.jsonl")
    assert len(pop) == 10 and pop.construction == "aligned"
    # the humans answer high, so the aligned set is made of optimists (a random or wrong-column set is not)
    assert sum("optimist" in p.text for p in pop.personas) >= 9
    meta = pop.metadata
    assert meta["items"] == ["hope", "doom", "plans"] and meta["scenario"].startswith("outlook[hope,doom,plans]#")
    # the fit half of the one split over all 80 rows, then complete cases (rows 3, 7, 11 are incomplete)
    fit, _ = split_indices(N_HUMANS, seed=3)
    assert meta["n_humans"] == len(set(fit.tolist()) - {3, 7, 11}) and meta["humans"] == "fit half"
    assert fake.calls == 40 * 3
    assert "warning" not in capsys.readouterr().err  # the file declares no survey weights
    assert cli.main(_argv(files, f"{files}/outlook.toml", "--n-select", "10", "--seed", "3")) == 0
    assert fake.calls == 40 * 3  # the stored response matrix is reused


def test_align_a_dimension_and_an_item_subset_of_a_user_file(files, fake):
    assert cli.main(_argv(files, f"{files}/outlook.toml:optimism", "--n-select", "5")) == 0
    meta = load_weighted_jsonl(files / "aligned.jsonl").metadata
    assert meta["items"] == ["hope", "doom"] and meta["scenario_name"] == "outlook:optimism"
    assert cli.main(_argv(files, f"{files}/outlook.toml", "--items", "plans,hope", "--n-select", "5")) == 0
    meta = load_weighted_jsonl(files / "aligned.jsonl").metadata
    assert meta["items"] == ["plans", "hope"] and meta["scenario"].startswith("outlook[plans,hope]#")
    # the file's own wording: instruction first, then the statement; the subset asks only its items
    assert ASKED[-1].startswith("How much do you agree, from 0 to 4 (0 = not at all, 4 = completely)?")
    assert {a.rsplit("\n", 1)[1] for a in ASKED[-80:]} == {
        'Statement: "I make plans for the next ten years."',
        'Statement: "Things will get better for people like me."',
    }


@pytest.mark.parametrize(
    ("scenario", "extra", "expected"),
    [
        ("no_such_survey", (), "unknown scenario 'no_such_survey'"),
        ("{d}/gift.toml", (), 'is a decision (a task or game role) with one answer; align on its score with a kind = "aligned"'),
        ("dictator", (), "'dictator' is a decision"),
        ("{d}/outlook.toml", ("--items", "hope,nope"), "has no item 'nope'"),
        ("{d}/outlook.toml:nope", (), "has no dimension 'nope'"),
        ("{d}/transport.toml", (), "one integer answer range"),
    ],
)  # fmt: skip
def test_align_refuses_in_one_line(files, fake, capsys, scenario, extra, expected):
    assert cli.main(_argv(files, scenario.format(d=files), *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("populace: error: ") and err.count("\n") == 1
    assert expected in err
    assert fake.calls == 0 and not (files / "aligned.jsonl").exists()


@pytest.mark.parametrize("name", ["bigfive", "osp_cfcs", "osp_grit"])
def test_builtin_questions_and_matrix_keys_are_the_hand_written_ones(data_dir, name):
    """The prompts and keys frozen from the code-defined instruments (tests/scenarios/golden) before they went."""
    from pathlib import Path

    from experiments.exp_seed002 import _questions

    golden = Path(__file__).resolve().parents[1] / "scenarios" / "golden" / "builtin_instruments.json"
    before = json.loads(golden.read_text(encoding="utf-8"))[name]
    target = align_target(name, str(data_dir))
    ids = [q["id"] for q in before["questions"]]
    assert list(target.item_ids) == ids
    for frozen, q, asked in zip(
        before["questions"], target.scenario.questions(), _questions(name, ids, str(data_dir)), strict=True
    ):
        for question in (q, target.survey.question(frozen["id"]), asked):  # the registry's, the matrix's, seed002's
            assert (question.id, question.prompt, question.answer_prefix) == (
                frozen["id"],
                frozen["prompt"],
                frozen["answer_prefix"],
            )
            assert [question.answers.low, question.answers.high] == frozen["answers"]
    assert [target.survey.item(i).reverse for i in ids] == [before["items"][i]["reverse"] for i in ids]
    subset = ids[::3]
    assert (
        scenario_key(align_target(name, str(data_dir), subset).survey, subset) == before["matrix_keys"]["every_third"]
    )
    assert scenario_key(target.survey, ids) == before["matrix_keys"]["all"]


def test_bigfive_humans_are_the_old_split_and_match_the_registry_scores(data_dir):
    from scenarios.big5 import ITEM_IDS, load_big5
    from scenarios.registry import get_scenario

    items = ["E1", "E2", "N1", "O10"]
    target = align_target("bigfive", str(data_dir), items, split="fit", seed=11)
    big5 = load_big5(str(data_dir))
    fit, _ = split_indices(big5.n, seed=11)
    old = big5.items[fit][:, [ITEM_IDS.index(i) for i in items]]
    np.testing.assert_array_equal(target.human, old[~np.isnan(old).any(axis=1)])
    # the same respondents `fit` and `compare` use: every item of a scenario scores to its human values
    for name in ("bigfive:E", "osp_cfcs"):
        t = align_target(name, str(data_dir), split="test", seed=11)
        expected = get_scenario(name, source=str(data_dir)).human_values("test", seed=11)
        np.testing.assert_array_equal(t.scenario.scores(t.human), expected)


def test_survey_weights_and_expected_answers_reach_the_alignment(files, fake, capsys, monkeypatch):
    # the features of `compare`'s aligned kind: expected answers under each persona's pmf, humans weighted
    from populations.aligned import AlignedPersonaBuilder

    rows = (files / "humans.csv").read_text().splitlines()
    weighted = [rows[0] + ",w"] + [f"{r},{1 + i % 3}" for i, r in enumerate(rows[1:])]
    (files / "humans.csv").write_text("\n".join(weighted) + "\n")
    (files / "weighted.toml").write_text(SURVEY.replace("missing = [9]", 'missing = [9]\nweight = "w"'))
    seen: dict = {}
    original = AlignedPersonaBuilder.fit_vectors

    def spy(self, x, y, **kw):
        seen.update(x=np.asarray(x), y=np.asarray(y), w=kw.get("sample_weight"))
        return original(self, x, y, **kw)

    monkeypatch.setattr(AlignedPersonaBuilder, "fit_vectors", spy)
    assert cli.main(_argv(files, f"{files}/weighted.toml", "--n-select", "5")) == 0
    assert "declares survey weights" not in capsys.readouterr().err
    target = align_target(f"{files}/weighted.toml", split="fit", seed=0)
    np.testing.assert_array_equal(seen["y"], target.human)
    np.testing.assert_array_equal(seen["w"], target.weights)
    assert seen["w"] is not None and len(set(seen["w"].tolist())) == 3
    assert not np.array_equal(seen["x"], np.rint(seen["x"]))  # expected answers, not one integer draw
    assert load_weighted_jsonl(files / "aligned.jsonl").metadata["human_weights"] == "survey weights"
