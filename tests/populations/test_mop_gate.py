"""The context-aware MoP gate (Bui et al. 2025, arXiv:2504.05019) on a known-distribution fake.

Two item types: humans answer type-A items (economy questions) around 30 and type-B items (religion questions)
around 70. Persona Alpha answers type A like the humans (and B wrongly, around 15); persona Beta answers type B
like the humans (and A wrongly, around 85). One weight vector cannot serve both types; a gate on the question can.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from populace_lm.types import IntegerAnswers
from populations.evaluation import human_floor, score_distribution, split_humans
from populations.mop import MixtureOfPersonasBuilder
from populations.mop_context import ItemSet
from populations.mop_gate import ContextGate, dimension_weights, gate_weights_for
from scenarios.question import Question
from tests.populations.encoders import HashEncoder
from tests.populations.mixture_fakes import FakeScenario

A_WORDS = "Thinking about the economy, taxes and jobs"
B_WORDS = "Thinking about religion, faith and prayer"
HUMAN = {"A": 30.0, "B": 70.0}
ANSWERS = {("alpha", "A"): 30.0, ("alpha", "B"): 15.0, ("beta", "A"): 85.0, ("beta", "B"): 70.0}


@dataclass(frozen=True)
class FakeItem(FakeScenario):
    """One survey item: FakeScenario with its own question wording."""

    prompt: str = ""

    def questions(self):
        return (Question(id=self.name, prompt=self.prompt, answers=IntegerAnswers(low=self.low, high=self.high)),)


def item(kind: str, i: int) -> FakeItem:
    words = A_WORDS if kind == "A" else B_WORDS
    return FakeItem(name=f"{kind}{i}", dimensions=(f"{kind}{i}",), prompt=f"{words}: how much do you back plan {i}?")


def item_type(text: str) -> str | None:
    return "A" if "economy" in text else "B" if "religion" in text else None


def gauss(v: np.ndarray, centre: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((v - centre) / sd) ** 2) + 1e-12


def respond(messages, answers):
    """Alpha/Beta answer by item type (the question is the last message); anyone else answers broadly."""
    system = messages[0].content if messages[0].role == "system" else ""
    who = "alpha" if "Alpha" in system else "beta" if "Beta" in system else None
    kind = item_type(messages[-1].content)
    v = np.asarray(answers.values, dtype=float)
    if who is None or kind is None:
        return gauss(v, 50.0, 15.0)
    return gauss(v, ANSWERS[(who, kind)], 6.0)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool") / "twins"
    folder.mkdir()
    rows = [
        {"id": "alpha", "text": "I am Alpha, a market trader."},
        {"id": "beta", "text": "I am Beta, a village priest."},
    ]
    (folder / "personas.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def make_data():
    """Four fit items and two held-out items of each type; 1,600 humans per item, split into fit and test halves."""
    rng = np.random.default_rng(7)
    fit_items = [item("A", i) for i in range(4)] + [item("B", i) for i in range(4)]
    held_out = [item("A", i) for i in range(4, 6)] + [item("B", i) for i in range(4, 6)]
    humans = {}
    for it in fit_items + held_out:
        x = np.clip(np.rint(rng.normal(HUMAN[it.name[0]], 6.0, 1600)), 0, 100)
        humans[it.name] = split_humans(x, seed=1)
    fit = np.stack([humans[it.name][0] for it in fit_items], axis=1)
    return fit_items, held_out, humans, fit


@pytest.fixture(scope="module")
def data():
    """:func:`make_data`, once per module."""
    return make_data()


def build(pool, fit_items, fit, *, gate, encoder=None, seed=0):
    return MixtureOfPersonasBuilder(
        KnownDistributionModel(respond),
        pool=pool,
        n_personas=2,
        n_exemplars=2,
        gate=gate,
        encoder=encoder,
        progress=False,
        random_state=seed,
    ).fit(ItemSet("survey", tuple(fit_items)), fit)


def held_out_scores(builder, held_out, humans, weights_of):
    """Per held-out item: (sampled W1 of the MoP at the floor's n, the sampled floor)."""
    model = KnownDistributionModel(respond)
    from populations.crafting import PromptEvaluator

    out = []
    for it in held_out:
        test = humans[it.name][1]
        evaluate = PromptEvaluator(model, it)
        pmfs = np.stack([evaluate(p).pmf for p in builder.prompts_])
        pmf = weights_of(it) @ pmfs
        n = test.size // 2
        s = score_distribution(pmf, it.support, test, n=n, repeats=20, rng=3)["w1_sampled_mean"]
        f = human_floor(test, n=n, repeats=20, rng=4).mean
        out.append((s, f))
    return out


def check_gated_reaches_the_floor(pool, data, encoder):
    """The acceptance check of issue 19 item 2; returns the gated builder."""
    fit_items, held_out, humans, fit = data
    gated = build(pool, fit_items, fit, gate="context", encoder=encoder)
    for (s, f), it in zip(held_out_scores(gated, held_out, humans, gated.weights_for), held_out, strict=True):
        assert s <= 1.5 * f, f"{it.name}: gated sampled W1 {s:.3f} > 1.5 x floor {f:.3f}"
    return gated


def test_gated_mop_reaches_the_floor_on_held_out_items_and_the_ungated_cannot(pool, data):
    fit_items, held_out, humans, fit = data
    gated = check_gated_reaches_the_floor(pool, data, HashEncoder())
    # the ungated LP on the same components: one weight vector fitted on the fit items fails every held-out item
    u_scores = held_out_scores(gated, held_out, humans, lambda it: gated.lp_weights_)
    assert all(s > 10 * f for s, f in u_scores), u_scores
    assert gated.lp_fit_w1_ > 5 * gated.fit_loss_
    # the gate puts Alpha's components on economy items and Beta's on religion items
    ids = np.array([p.attributes.get("persona_id") for p in gated.population_.personas])
    for it in held_out:
        w = gated.weights_for(it)
        assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
        assert w[ids == ("alpha" if it.name[0] == "A" else "beta")].sum() > 0.9
    meta = gated.population_.metadata["gate"]
    assert meta["kind"] == "context" and meta["encoder"] == "hash-bow"
    assert set(meta["weights"]) == {it.name for it in fit_items}
    assert gated.to_dict()["gate"] == "context"


def test_a_gate_on_a_constant_context_fails_the_check(pool, data, monkeypatch):
    import populations.mop_context as mop_context
    import populations.mop_gate as mop_gate

    monkeypatch.setattr(mop_gate, "context_text", lambda scenario: "a question")
    monkeypatch.setattr(mop_context, "context_text", lambda scenario: "a question")
    with pytest.raises(AssertionError, match="gated sampled W1"):
        check_gated_reaches_the_floor(pool, data, HashEncoder())


def test_the_gate_is_seeded_and_round_trips_through_the_population_file(pool, data, tmp_path):
    from populations.io import load_population_file

    fit_items, held_out, _, fit = data
    a = build(pool, fit_items, fit, gate="context", encoder=HashEncoder())
    b = build(pool, fit_items, fit, gate="context", encoder=HashEncoder())
    assert a.prompts_ == b.prompts_ and np.array_equal(a.item_weights_, b.item_weights_)
    path = tmp_path / "mop.json"
    a.population_.save(path)
    pop = load_population_file(path)
    for it in held_out:
        np.testing.assert_allclose(gate_weights_for(pop, it, HashEncoder()), a.weights_for(it), atol=1e-5)
    np.testing.assert_allclose(dimension_weights(pop, fit_items[0]), a.item_weights_[0], atol=1e-6)
    assert np.array_equal(dimension_weights(pop, held_out[0]), pop.weights)  # not built on it: the one vector
    with pytest.raises(ValueError, match="fitted with encoder 'hash-bow'"):
        gate_weights_for(pop, held_out[0], type("E", (), {"model_id": "other"})())


def test_gate_bad_input(pool, data):
    fit_items, _, _, fit = data
    with pytest.raises(ValueError, match="has one item"):
        build(pool, fit_items[:1], fit[:, :1], gate="context", encoder=HashEncoder())
    with pytest.raises(ValueError, match="gate must be 'lp' or 'context'"):
        build(pool, fit_items, fit, gate="soft")
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        build(pool, fit_items, fit[:, :3], gate="context", encoder=HashEncoder())
    with pytest.raises(ValueError, match="shapes disagree"):
        ContextGate().fit(np.ones((2, 4)), np.ones((1, 4)), np.ones((2, 4)), [0, 0], np.ones((2, 3, 5)), np.arange(5),
                          np.ones((2, 5)))  # fmt: skip
    with pytest.raises(ValueError, match="every persona"):
        ContextGate().fit(np.ones((2, 4)), np.ones((2, 4)), np.ones((2, 4)), [0, 0], np.ones((2, 2, 5)), np.arange(5),
                          np.ones((2, 5)))  # fmt: skip


def test_two_level_weights_are_on_the_simplex_and_follow_the_groups():
    rng = np.random.default_rng(0)
    gate = ContextGate(n_steps=1, random_state=3)
    k, q, s = 5, 3, 4
    pmfs = rng.dirichlet(np.ones(s), size=(k, q))
    gate.fit(rng.normal(size=(q, 6)), rng.normal(size=(2, 6)), rng.normal(size=(k, 6)), [0, 0, 1, 1, 1], pmfs,
             np.arange(s), rng.dirichlet(np.ones(s), size=q))  # fmt: skip
    w = gate.weights(rng.normal(size=(7, 6)))
    assert w.shape == (7, k) and np.allclose(w.sum(axis=1), 1.0) and (w > 0).all()
    again = ContextGate.from_dict(json.loads(json.dumps(gate.to_dict())))
    x = rng.normal(size=(2, 6))
    np.testing.assert_allclose(again.weights(x), gate.weights(x), atol=1e-6)


@pytest.mark.slow
def test_the_real_minilm_gate_reaches_the_floor(pool, data):
    from populations.subgroups import MiniLMEncoder

    check_gated_reaches_the_floor(pool, data, MiniLMEncoder())


def test_the_mop_kind_builds_both_gates_through_the_registry_and_scores_per_dimension(pool, data, monkeypatch):
    from populations.constructions import BuildContext, build_construction, get_construction
    from populations.evaluation import score_dimension, seeded_floor

    monkeypatch.setattr("populations.subgroups.MiniLMEncoder", HashEncoder)  # the kind's default encoder
    fit_items, _, humans, fit = data
    model = KnownDistributionModel(respond)
    ctx = BuildContext(scenario=FakeItem(name="survey"), parts=tuple(fit_items), fit=fit, model=model, seed=0)
    kind = get_construction("mop")
    rows = {}
    for gate in ("lp", "context"):
        params = kind.defaults(pool=str(pool / "personas.jsonl"), n_personas=2, n_exemplars=2, gate=gate)
        pop = build_construction(kind, ctx, params).population
        assert (pop.metadata.get("gate") or {}).get("kind", "lp") == gate
        w1 = []
        for it in fit_items:
            test = humans[it.name][1]
            floor = seeded_floor(it, test, seed=0, n=400)
            rec, _, _ = score_dimension(model, pop, it, test, floor=floor, seed=0, construction=gate, progress=False)
            w1.append(rec["w1_sampled_mean"] / rec["floor_mean"])
        rows[gate] = float(np.mean(w1))
    assert rows["context"] < 1.5 < 10 < rows["lp"], rows
