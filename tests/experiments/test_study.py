"""The study file of ``populace compare``: validation, every construction kind, held-out humans, determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import experiments.study as study_mod
from alignment import wasserstein_1d
from experiments.reporting import write_study
from experiments.study import StudyError, load_study, plan_study, run_study
from populace_lm.cache import CachedModel
from populace_lm.fakes import KnownDistributionModel
from populations.constructions import construction_kinds
from populations.constructions.baselines import big5_fit_rows
from populations.persona import Persona, Population
from scenarios.registry import get_scenario
from scenarios.split import split_indices
from tests.populations.mixture_fakes import TARGET, crafter_reply, peaked

REPO = Path(__file__).resolve().parents[2]

ALL_KINDS = """
[[constructions]]
name = "fixed"
kind = "fixed"

[[constructions]]
name = "pool"
kind = "pool"
pool = "personachat"
n_personas = 5

[[constructions]]
name = "demo"
kind = "demographic"
n_personas = 5

[[constructions]]
name = "em"
kind = "em"
n_components = 2
max_iter = 1
improve_rounds = 0
forbid_target_number = false

[[constructions]]
name = "gb"
kind = "gb"
n_rounds = 2
improve_rounds = 0
forbid_target_number = false

[[constructions]]
name = "mop"
kind = "mop"
pool = "personachat"
n_personas = 2
n_exemplars = 2

[[constructions]]
name = "aligned"
kind = "aligned"
pool = "personachat"
n_pool = 12
n_select = 4

[[constructions]]
name = "file"
kind = "file"
path = "pop.json"
"""

#: Every kind that builds on a game: ``demographic`` needs declared demographics, which the games lack.
GAME_KINDS = ALL_KINDS.replace('[[constructions]]\nname = "demo"\nkind = "demographic"\nn_personas = 5\n\n', "")

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def crafter(request) -> str:
    """Write "You are a person who would answer about X" for the target X the crafter was asked for.

    The target is the "about X" of the crafting request when its wording says so, else its last number.
    """
    text = request.messages[-1].content
    if TARGET.search(text):
        return crafter_reply(request)
    return f"You are a person who would answer about {float(_NUMBER.findall(text)[-1]):g}."


def fake_model() -> KnownDistributionModel:
    """Answers peaked at X for a system prompt saying "answer about X" (50 otherwise); crafts such prompts."""
    return KnownDistributionModel(peaked(sd=3.0, default=50.0), generate_fn=crafter)


def write_pop(path: Path, centres=(20, 80), weights=(0.25, 0.75)) -> Path:
    pop = Population(
        personas=tuple(Persona(id=f"p{c}", text=f"You are a person who would answer about {c}.") for c in centres),
        weights=np.asarray(weights),
        construction="test",
    )
    return pop.save(path)


def write_study_file(tmp_path: Path, body: str, *, head: str | None = None) -> Path:
    head = head if head is not None else 'seed = 0\nscenarios = ["dictator"]\nagents = 200\nrepeats = 3\n'
    p = tmp_path / "study.toml"
    p.write_text(head + body)
    return p


@pytest.fixture
def pools(personas_dir, data_dir):
    return personas_dir


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('scenarios = ["dictator"]\nagents = "ten"\n', r"study\.toml: agents: expected an integer, got a string 'ten'"),
        ('scenarios = "bigfive:E"\n', r"study\.toml: scenarios: expected a non-empty list of strings, got a string"),
        (
            'scenarios = ["dictator"]\ncolour = 1\n',
            r"study\.toml: colour: unknown key\(s\) \['colour'\] .*allowed keys: agents, data",
        ),
        ('scenarios = ["dictator"]\nrepeats = true\n', r"repeats: expected an integer, got a boolean"),
        ('scenarios = ["dictator"]\n[split]\nfit_fraction = 1.5\n', r"split\.fit_fraction = 1\.5 must be strictly"),
        (
            'scenarios = ["dictator"]\n[split]\nratio = 0.5\n',
            r"split\.ratio: unknown key\(s\) \['ratio'\] for \[split\]",
        ),
        ('scenarios = ["dictator"]\n', r"constructions: missing; add \[\[constructions\]\]"),
        ('scenarios = ["my.toml"]\n', r"scenarios: scenario file .*my\.toml does not exist"),
    ],
)
def test_bad_top_level_values_give_one_line_errors(tmp_path, text, match):
    p = tmp_path / "study.toml"
    p.write_text(
        text + ('[[constructions]]\nname = "f"\nkind = "fixed"\n' if "constructions: missing" not in match else "")
    )
    with pytest.raises(StudyError, match=match) as info:
        load_study(p)
    assert "\n" not in str(info.value) and str(p) in str(info.value)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            '[[constructions]]\nname = "x"\nkind = "magic"\n',
            r"constructions\.x\.kind: unknown kind 'magic'; valid kinds: "
            r"aligned, demographic, em, file, fixed, gb, mop, pool",
        ),
        ('[[constructions]]\nname = "x"\n', r"constructions\.x\.kind: missing; valid kinds"),
        (
            '[[constructions]]\nname = "x"\nkind = "em"\nn_components = 2.5\n',
            r"constructions\.x\.n_components: expected an integer, got a number 2\.5",
        ),
        (
            '[[constructions]]\nname = "x"\nkind = "em"\ncolour = 1\n',
            r"constructions\.x\.colour: unknown key\(s\) \['colour'\] for kind 'em'; allowed keys: .*n_components",
        ),
        (
            '[[constructions]]\nname = "x"\nkind = "file"\npath = "nope/pop.json"\n',
            r"constructions\.x\.path: population file .*nope/pop\.json does not exist \(relative paths resolve against",
        ),
        ('[[constructions]]\nname = "x"\nkind = "file"\n', r"constructions\.x\.path: missing required key"),
        (
            '[[constructions]]\nname = "x"\nkind = "pool"\npool = "no_such_pool"\n',
            r"constructions\.x\.pool: persona pool 'no_such_pool' not found",
        ),
        (
            '[[constructions]]\nname = "x"\nkind = "fixed"\n[[constructions]]\nname = "x"\nkind = "fixed"\n',
            r"constructions\.x\.name: 'x' is used twice",
        ),
        (
            '[[constructions]]\nname = "x"\nkind = "aligned"\npool = "personachat"\nn_pool = 5\nn_select = 9\n',
            r"n_select = 9 exceeds n_pool = 5",
        ),
        (
            '[[constructions]]\nname = "x"\nkind = "em"\nweight_method = "magic"\n',
            r"weight_method = 'magic' must be one of lp",
        ),
    ],
)
def test_bad_constructions_give_one_line_errors(tmp_path, pools, body, match):
    p = write_study_file(tmp_path, body)
    with pytest.raises(StudyError, match=match) as info:
        load_study(p)
    assert "\n" not in str(info.value)


def test_missing_study_file_and_invalid_toml(tmp_path):
    with pytest.raises(StudyError, match=r"study file .*nope\.toml does not exist"):
        load_study(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("scenarios = [\n")
    with pytest.raises(StudyError, match=r"bad\.toml: invalid TOML"):
        load_study(bad)


def test_every_kind_has_documented_parameters():
    names = {k.name for k in construction_kinds()}
    assert {"fixed", "pool", "demographic", "em", "gb", "mop", "aligned", "file"} <= names
    assert all(k.help and all(p.help for p in k.params.values()) for k in construction_kinds())


# ------------------------------------------------------------------------------------------ building
def test_every_construction_kind_builds_and_scores(tmp_path, pools, data_dir):
    write_pop(tmp_path / "pop.json")
    study = load_study(write_study_file(tmp_path, GAME_KINDS))
    result = run_study(study, fake_model(), progress=False)
    rows = {r["construction"]: r for r in result.scores}
    assert set(rows) == {"fixed", "pool", "em", "gb", "mop", "aligned", "file"}
    assert all(r["status"] == "ok" for r in rows.values())
    # the known distribution: the default prompt answers around 50; the file population is 0.25×N(20) + 0.75×N(80)
    assert rows["fixed"]["mean_exact"] == pytest.approx(50.0, abs=0.01)
    assert rows["file"]["mean_exact"] == pytest.approx(0.25 * 20 + 0.75 * 80, abs=0.01)
    # scores are against the test half of the split, exactly
    humans = get_scenario("dictator", source=str(data_dir)).human_values(source=str(data_dir))
    _, test_idx = split_indices(humans.size, seed=0, fit_fraction=0.5)
    support = np.arange(101.0)
    pmf = result.pmfs[("dictator", "file")]
    assert rows["file"]["w1_exact"] == pytest.approx(wasserstein_1d(support, humans[test_idx], u_weights=pmf), abs=1e-6)
    assert rows["file"]["n_test"] == test_idx.size
    # sampled scores sit beside a floor of the same n
    assert all(r["floor_n"] == r["n_sampled"] == 200 and r["repeats"] == 3 for r in rows.values())
    # EM/GB fit towards the humans beat the single default prompt on W1
    assert rows["em"]["w1_exact"] < rows["fixed"]["w1_exact"]
    assert rows["gb"]["components"] >= 2
    assert rows["aligned"]["components"] <= 4
    cost = {c["construction"]: c for c in result.cost}
    assert cost["em"]["requests"] > cost["fixed"]["requests"] >= 1


def test_crafting_failure_is_recorded_and_the_run_goes_on(tmp_path, pools):
    body = '[[constructions]]\nname = "em"\nkind = "em"\nn_components = 2\nmax_iter = 1\nimprove_rounds = 0\n'
    body += '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
    study = load_study(write_study_file(tmp_path, body))
    model = KnownDistributionModel(peaked(), generate_fn=lambda r: "I cannot help with that.")
    result = run_study(study, model, progress=False)
    em, fixed = result.scores
    assert fixed["status"] == "ok" and fixed["w1_exact"] > 0
    assert em["status"].startswith(("failed: ", "fallback: ")), em["status"]
    if em["status"].startswith("failed: "):  # builders that raise when nothing could be crafted
        assert em.get("w1_exact") is None
    else:  # builders that fall back to the fixed-prompt population and say so
        assert em["w1_exact"] == fixed["w1_exact"]


class _CodedScenario:
    """The dictator decision with 101 humans whose answers 0..100 each identify one human (for leak checks)."""

    def __init__(self, inner):
        self._inner = inner
        self.name = "coded"
        self.support = inner.support
        self.dimensions = inner.dimensions
        self.ordered = inner.ordered
        self.label = inner.label

    def questions(self):
        return self._inner.questions()

    def pmfs(self, item_probs):
        return self._inner.pmfs(item_probs)

    def describe(self):
        return self._inner.describe()

    def human_weights(self, split="all", *, seed=0, source=None, fit_fraction=0.5):
        return None

    def describe_target(self, x):
        return self._inner.describe_target(x)

    def describe_exemplar(self, x):
        return self._inner.describe_exemplar(x)

    def human_values(self, split="all", *, seed=0, source=None, fit_fraction=0.5):
        values = np.arange(101.0)  # value i is respondent row i, so the rows a fit saw are visible
        if split == "all":
            return values
        fit_idx, test_idx = split_indices(values.size, seed=seed, fit_fraction=fit_fraction)
        return values[fit_idx if split == "fit" else test_idx]


def test_held_out_humans_never_reach_any_fit(tmp_path, pools, monkeypatch):
    from populations.aligned import AlignedPersonaBuilder
    from populations.mixture import PromptMixtureBuilder
    from populations.mop import MixtureOfPersonasBuilder

    inner = get_scenario("dictator")
    monkeypatch.setattr(study_mod, "_load_scenario", lambda spec, source: _CodedScenario(inner))
    seen: dict[str, set[float]] = {}

    def spy(cls, label, arg):
        original = cls.fit

        def fit(self, *args, **kw):
            values = np.asarray(args[arg], dtype=float).ravel()
            seen.setdefault(label, set()).update(values.tolist())
            return original(self, *args, **kw)

        monkeypatch.setattr(cls, "fit", fit)

    spy(PromptMixtureBuilder, "mixture", 1)
    spy(MixtureOfPersonasBuilder, "mop", 1)
    spy(AlignedPersonaBuilder, "aligned", 1)
    body = GAME_KINDS.split('[[constructions]]\nname = "file"')[0]
    study = load_study(write_study_file(tmp_path, body, head='scenarios = ["dictator"]\nagents = 20\nrepeats = 2\n'))
    result = run_study(study, fake_model(), progress=False)
    fit_idx, test_idx = split_indices(101, seed=0, fit_fraction=0.5)
    assert set(seen) == {"mixture", "mop", "aligned"}
    for label, values in seen.items():
        assert values <= set(fit_idx.astype(float).tolist()), label
        assert not values & set(test_idx.astype(float).tolist()), label
    # and the scores use exactly the test half
    support, test = result.humans["coded"]
    assert sorted(test.tolist()) == test_idx.astype(float).tolist()


def test_demographic_personas_come_from_fit_half_respondents_for_big_five(data_dir):
    scenario = get_scenario("bigfive:E", source=str(data_dir))
    rows = big5_fit_rows(scenario, seed=0, fit_fraction=0.5, source=str(data_dir))
    fit = scenario.human_values("fit", seed=0, source=str(data_dir))
    test = scenario.human_values("test", seed=0, source=str(data_dir))
    n_rows = fit.size + test.size  # every BIG5 row holds a complete Extraversion score
    fit_rows, test_rows = split_indices(n_rows, seed=0)
    np.testing.assert_array_equal(rows, fit_rows)  # the same rows as the scenario's fit half
    assert not set(rows.tolist()) & set(test_rows.tolist())
    assert big5_fit_rows(get_scenario("dictator"), seed=0, fit_fraction=0.5, source=str(data_dir)) is None


# ------------------------------------------------------------------------------------------ files and plan
def _mixture_record(tmp_path: Path) -> Path:
    from populations.mixture import PromptMixtureBuilder

    scenario = get_scenario("dictator")
    m = fake_model()
    b = PromptMixtureBuilder(
        method="em", n_components=2, max_iter=1, crafter=m, respondent=m, forbid_target_number=False, random_state=0
    ).fit(scenario, np.array([10.0, 12.0, 90.0, 88.0, 50.0]))
    p = tmp_path / "em.json"
    p.write_text(json.dumps({**b.to_dict(), "scenario": "dictator"}))
    return p


def test_a_fit_record_and_a_population_json_load_as_kind_file(tmp_path, pools):
    rec = _mixture_record(tmp_path)
    write_pop(tmp_path / "pop.json")
    body = '[[constructions]]\nname = "fitted"\nkind = "file"\npath = "em.json"\n'
    body += '[[constructions]]\nname = "pop"\nkind = "file"\npath = "pop.json"\n'
    study = load_study(write_study_file(tmp_path, body))
    result = run_study(study, fake_model(), progress=False)
    fitted, pop = result.scores
    doc = json.loads(rec.read_text())
    # fitted on dictator without a recorded split in its population: flagged, still scored
    assert fitted["status"].startswith("ok; caution: ") and fitted["components"] == len(doc["population"]["personas"])
    expected = np.asarray(doc["weights"]) @ np.asarray(doc["component_pmfs"]) @ np.arange(101.0)
    assert fitted["mean_exact"] == pytest.approx(expected, abs=1e-4)
    assert pop["mean_exact"] == pytest.approx(65.0, abs=0.01)


def test_plan_lists_sizes_and_estimates(tmp_path, pools):
    write_pop(tmp_path / "pop.json")
    rows = plan_study(load_study(write_study_file(tmp_path, GAME_KINDS)))
    by = {r["construction"]: r for r in rows}
    assert by["fixed"]["est_requests"] == 1 and by["pool"]["est_requests"] == 5
    assert by["file"]["components"] == 2 and by["aligned"]["est_requests"] == 12
    assert by["em"]["est_requests"] == 1 + 2 * 2 * 2  # default + K × (1 + max_iter) crafts × (craft + evaluation)


def test_demographic_on_a_scenario_without_demographics_is_refused_before_the_model(tmp_path, pools):
    """The plan (and so the run, before its model loads) refuses ``demographic`` on a game, in one line."""
    write_pop(tmp_path / "pop.json")
    study = load_study(write_study_file(tmp_path, ALL_KINDS))
    with pytest.raises(StudyError, match=r"constructions.demo: scenario dictator declares no data.demographics") as e:
        plan_study(study)
    assert "\n" not in str(e.value) and "limit the construction with scenarios = [...]" in str(e.value)


def test_shipped_study_builds_the_required_constructions(pools):
    study = load_study(REPO / "experiments" / "configs" / "study_small.toml")
    kinds = {c.kind for c in study.constructions}
    assert {"fixed", "pool", "demographic", "em", "aligned"} <= kinds
    assert len(study.scenarios) == 2
    assert sum(r["est_requests"] for r in plan_study(study)) < 3000


# ------------------------------------------------------------------------------------------ rerun
def test_rerun_makes_no_backend_call_and_writes_identical_tables(tmp_path, pools):
    write_pop(tmp_path / "pop.json")
    study = load_study(write_study_file(tmp_path, GAME_KINDS))
    outs, calls = [], []
    for i in range(2):
        fake = fake_model()
        model = CachedModel(fake, tmp_path / "cache.sqlite")
        result = run_study(study, model, progress=False)
        outs.append(write_study(tmp_path / f"out{i}", result, model_id=model.model_id))
        model.close()
        calls.append(fake.calls)
        if i == 1:
            assert all(c["backend_calls"] == 0 and c["cached"] == c["requests"] > 0 for c in result.cost)
    assert calls[0] > 0 and calls[1] == 0
    for name in ("table.csv", "table.md", "scores.json", "report.md"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    for name in ("cost.csv", "cost.md", "grid.png", "run.json"):
        assert (outs[1] / name).stat().st_size > 100


@pytest.mark.parametrize(
    ("metadata", "caution"),
    [
        ({}, None),
        ({"scenario": "bigfive:E", "split": {"seed": 7}}, None),
        ({"scenario": "dictator", "split": {"seed": 0, "fit_fraction": 0.5}}, None),
        ({"scenario": "dictator", "split": {"seed": 7, "fit_fraction": 0.5}}, "fitted with split seed 7"),
        ({"scenario": "dictator"}, "unrecorded split"),
    ],
)
def test_a_file_fitted_on_another_split_of_the_scenario_is_flagged(tmp_path, pools, metadata, caution):
    Population(
        personas=(Persona(id="a", text="You are a person who would answer about 30."),),
        weights=np.ones(1),
        construction="em",
        metadata=metadata,
    ).save(tmp_path / "pop.json")
    study = load_study(write_study_file(tmp_path, '[[constructions]]\nname = "f"\nkind = "file"\npath = "pop.json"\n'))
    (row,) = run_study(study, fake_model(), progress=False).scores
    if caution is None:
        assert row["status"] == "ok"
    else:
        assert row["status"].startswith("ok; caution: ") and caution in row["status"]


def test_narrowing_a_study_leaves_out_constructions_limited_to_other_scenarios():
    """``--scenarios dictator`` on study_small: its demographic row (limited to bigfive:*) is left out, not an error."""
    from pathlib import Path

    from experiments.study import load_study, with_scenarios

    study = load_study(Path(__file__).resolve().parents[2] / "experiments" / "configs" / "study_small.toml")
    names = {c.name for c in study.constructions}
    assert "demographic_20" in names
    games = with_scenarios(study, ["dictator"])
    assert {c.name for c in games.constructions} == names - {"demographic_20"}
    assert {c.name for c in with_scenarios(study, ["bigfive:E"]).constructions} == names
