"""Exact-value tests of :mod:`populations.mop` that a wrong implementation fails (mutation-testing targets).

The Mixture-of-Personas builder on a fake scenario, a small persona pool written by the test and known-distribution
respondents (no LLM). The expected components, weights and losses are replayed with the documented protocol: the
builder's seeded generator draws the personas (sorted) and then each persona's exemplars, the components are
evaluated exactly (:class:`populations.crafting.PromptEvaluator`) and weighted by the exact LP weight fit.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from alignment import fit_mixture_weights, pmf_from_samples
from populace_lm.fakes import KnownDistributionModel
from populations.baselines import DEFAULT_SYSTEM_PROMPT
from populations.crafting import PromptEvaluator
from populations.mop import MixtureOfPersonasBuilder, exemplar_text
from tests.populations.mixture_fakes import FakeScenario

SCENARIO = FakeScenario(low=0, high=20)
VALUES = np.array([2.0, 3.0, 3.0, 5.0, 14.0, 15.0, 15.0, 16.0, 9.0, 2.0])


def exemplar_following(messages, answers):
    """Answers near the exemplar in the system prompt ("... they give about X."), near 10 without one."""
    system = messages[0].content if messages and messages[0].role == "system" else ""
    centre = float(system.rsplit("about ", 1)[1].rstrip(".")) if "about " in system else 10.0
    v = np.asarray(answers.values, dtype=float)
    return np.exp(-0.5 * ((v - centre) / 1.5) ** 2) + 1e-12


@pytest.fixture
def pool(tmp_path):
    path = tmp_path / "tiny" / "personas.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps({"id": f"t{i}", "text": f"Person number {i}."}) + "\n" for i in range(6)))
    return path


def replay(
    pool_path, values, *, n_personas, n_exemplars, random_state=0, include_default=True, sw=None, weight_method="lp"
):
    from populations.pools import load_pool

    personas = load_pool(pool_path)
    rng = np.random.default_rng(random_state)
    chosen = [personas[i] for i in np.sort(rng.choice(len(personas), size=n_personas, replace=False))]
    ids, texts, exemplars = [], [], []
    for p in chosen:
        for j, ex in enumerate(rng.choice(values, size=n_exemplars, replace=False, p=sw)):
            ids.append(f"{p.id}-ex{j}")
            texts.append(f"You are the following person. {p.text}\n{exemplar_text(SCENARIO, float(ex))}")
            exemplars.append(float(ex))
    if include_default:
        ids.insert(0, "mop-default")
        texts.insert(0, DEFAULT_SYSTEM_PROMPT)
    evaluate = PromptEvaluator(KnownDistributionModel(exemplar_following), SCENARIO)
    pmfs = np.stack([evaluate(t).pmf for t in texts])
    target = pmf_from_samples(values, SCENARIO.support, sw)
    fit = fit_mixture_weights(pmfs, SCENARIO.support, target, method=weight_method, rng=random_state)
    baseline = fit_mixture_weights(evaluate(DEFAULT_SYSTEM_PROMPT).pmf[None], SCENARIO.support, target).loss
    return {
        "chosen": [p.id for p in chosen],
        "ids": ids,
        "texts": texts,
        "exemplars": exemplars,
        "pmfs": pmfs,
        "fit": fit,
        "baseline": baseline,
    }


def test_mop_needs_a_respondent():
    with pytest.raises(ValueError, match=r"^MixtureOfPersonasBuilder needs a respondent model \(respondent=\.\.\.\)$"):
        MixtureOfPersonasBuilder().fit(SCENARIO, VALUES)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"n_personas": 0}, "n_personas and n_exemplars must be >= 1, got 0, 2"),
        ({"n_exemplars": 0}, "n_personas and n_exemplars must be >= 1, got 8, 0"),
        ({"n_exemplars": 11}, "n_exemplars=11 is larger than the 10 human values"),
    ],
)
def test_mop_count_messages(pool, kw, message):
    b = MixtureOfPersonasBuilder(KnownDistributionModel(exemplar_following), pool=pool, **kw)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        b.fit(SCENARIO, VALUES)


def test_mop_pool_size_message(pool):
    b = MixtureOfPersonasBuilder(KnownDistributionModel(exemplar_following), pool=pool, n_personas=7)
    with pytest.raises(ValueError, match=f"^{re.escape(f'n_personas=7 exceeds the pool size 6 ({pool!r})')}$"):
        b.fit(SCENARIO, VALUES)


def test_mop_edge_counts_are_allowed(pool):
    # every persona of the pool, as many exemplars as values, one of each
    model = KnownDistributionModel(exemplar_following)
    b = MixtureOfPersonasBuilder(model, pool=pool, n_personas=6, n_exemplars=10, progress=False).fit(SCENARIO, VALUES)
    assert len(b.prompts_) == 1 + 60
    b = MixtureOfPersonasBuilder(model, pool=pool, n_personas=1, n_exemplars=1, progress=False).fit(SCENARIO, VALUES)
    assert len(b.prompts_) == 2


@pytest.mark.parametrize("include_default", [True, False])
def test_mop_replays_components_weights_and_losses(pool, include_default):
    model = KnownDistributionModel(exemplar_following)
    b = MixtureOfPersonasBuilder(
        model, pool=pool, n_personas=3, n_exemplars=2, random_state=4, include_default=include_default, progress=False
    ).fit(SCENARIO, VALUES)
    r = replay(pool, VALUES, n_personas=3, n_exemplars=2, random_state=4, include_default=include_default)
    assert b.prompts_ == r["texts"]
    assert [p.id for p in b.population_.personas] == r["ids"]
    assert_allclose(b.component_pmfs_, r["pmfs"], rtol=1e-12)
    assert_allclose(b.weights_, r["fit"].weights, rtol=1e-9, atol=1e-12)
    assert b.fit_loss_ == pytest.approx(r["fit"].loss, rel=1e-9, abs=1e-12)
    assert b.baseline_loss_ == pytest.approx(r["baseline"], rel=1e-12)
    assert b.n_iter_ == r["fit"].n_iter and b.converged_ is r["fit"].converged
    assert_allclose(b.support_, np.arange(21.0))
    assert b.valid_mass_.tolist() == [1.0] * len(r["texts"])
    start = 1 if include_default else 0
    attrs = [p.attributes for p in b.population_.personas[start:]]
    assert [a["exemplar"] for a in attrs] == r["exemplars"]
    assert [a["persona_id"] for a in attrs] == [i.rsplit("-ex", 1)[0] for i in r["ids"][start:]]
    assert {a["pool"] for a in attrs} == {str(pool)}
    if include_default:
        assert b.population_.personas[0].attributes == {"default": True}
        assert b.population_.personas[0].text == DEFAULT_SYSTEM_PROMPT
    # one request per distinct prompt; without the default component the baseline prompt costs one more
    n_requests = len(r["texts"]) + (0 if include_default else 1)
    cost = {
        "requests": n_requests,
        "cached": 0,
        "backend_calls": model.calls,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }
    assert b.cost_["respondent"]["requests"] == n_requests == model.calls
    assert b.cost_ == {"respondent": b.cost_["respondent"], "total": b.cost_["respondent"]}
    assert set(b.cost_["respondent"]) == set(cost)


def test_mop_history_metadata_and_record(pool):
    model = KnownDistributionModel(exemplar_following)
    b = MixtureOfPersonasBuilder(model, pool=pool, n_personas=2, n_exemplars=1, random_state=1, progress=False)
    b.fit(SCENARIO, VALUES)
    r = replay(pool, VALUES, n_personas=2, n_exemplars=1, random_state=1)
    assert b.history_ == [
        {
            "personas": r["chosen"],
            "components": r["ids"],
            "weights": b.weights_.tolist(),
            "fit_w1": b.fit_loss_,
            "baseline_w1": b.baseline_loss_,
        }
    ]
    pop = b.population_
    assert pop.construction == "mop"
    assert pop.metadata == {
        "scenario": "fake_gift",
        "fit_w1": b.fit_loss_,
        "baseline_w1": b.baseline_loss_,
        "cost": b.cost_,
        "pool": str(pool),
        "n_personas": 2,
        "n_exemplars": 1,
        "random_state": 1,
        "gate": {"kind": "lp"},
    }
    d = b.to_dict()
    assert d["kind"] == "populace.mop"
    assert {
        k: d[k]
        for k in (
            "prompts",
            "weights",
            "component_pmfs",
            "support",
            "fit_w1",
            "baseline_w1",
            "n_iter",
            "converged",
            "cost",
            "history",
        )
    } == {
        "prompts": b.prompts_,
        "weights": b.weights_.tolist(),
        "component_pmfs": b.component_pmfs_.tolist(),
        "support": b.support_.tolist(),
        "fit_w1": b.fit_loss_,
        "baseline_w1": b.baseline_loss_,
        "n_iter": b.n_iter_,
        "converged": b.converged_,
        "cost": b.cost_,
        "history": b.history_,
    }


def test_mop_survey_weights_weight_the_target_and_the_exemplar_draw(pool):
    sw = np.array([5.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 5.0])
    model = KnownDistributionModel(exemplar_following)
    b = MixtureOfPersonasBuilder(model, pool=pool, n_personas=3, n_exemplars=2, random_state=2, progress=False)
    b.fit(SCENARIO, VALUES, sample_weight=sw)
    r = replay(pool, VALUES, n_personas=3, n_exemplars=2, random_state=2, sw=sw / sw.sum())
    assert b.prompts_ == r["texts"]
    assert b.fit_loss_ == pytest.approx(r["fit"].loss, rel=1e-9, abs=1e-12)
    assert b.baseline_loss_ == pytest.approx(r["baseline"], rel=1e-12)
    assert 14.0 not in [p.attributes.get("exemplar") for p in b.population_.personas]  # zero weight: never drawn


def test_mop_slsqp_weights_follow_the_seed(pool):
    model = KnownDistributionModel(exemplar_following)
    b = MixtureOfPersonasBuilder(
        model, pool=pool, n_personas=2, n_exemplars=2, random_state=3, weight_method="slsqp", progress=False
    ).fit(SCENARIO, VALUES)
    r = replay(pool, VALUES, n_personas=2, n_exemplars=2, random_state=3, weight_method="slsqp")
    assert_allclose(b.weights_, r["fit"].weights, rtol=1e-12)


def test_mop_default_parameters():
    b = MixtureOfPersonasBuilder(KnownDistributionModel(exemplar_following))
    assert b.get_params() == {
        "respondent": "known",
        "pool": "personahub",
        "n_personas": 8,
        "n_exemplars": 2,
        "weight_method": "lp",
        "gate": "lp",
        "encoder": None,
        "gate_rank": 8,
        "gate_steps": 400,
        "gate_l2": 0.001,
        "include_default": True,
        "progress": True,
        "random_state": 0,
    }


def test_mop_default_pool_and_counts(personas_dir, monkeypatch):
    monkeypatch.setenv("POPULACE_PERSONAS", str(personas_dir))
    b = MixtureOfPersonasBuilder(KnownDistributionModel(exemplar_following), progress=False).fit(SCENARIO, VALUES)
    assert len(b.prompts_) == 1 + 8 * 2
    assert b.population_.metadata["pool"] == "personahub"


def test_mop_where_the_default_prompt_is_already_optimal_fits_without_error(pool):
    # every component answers like the default prompt (exemplars all 10): the fit equals the baseline exactly
    values = np.full(6, 10.0)
    model = KnownDistributionModel(exemplar_following)
    b = MixtureOfPersonasBuilder(model, pool=pool, n_personas=2, n_exemplars=1, progress=False).fit(SCENARIO, values)
    assert b.fit_loss_ == pytest.approx(b.baseline_loss_, abs=1e-12)
    assert b.weights_.sum() == pytest.approx(1.0)
