"""Tests of populations/mixture.py that pin exact values, messages and records (written against mutation survivors).

Every expected value is computed independently here (numpy by hand, the fakes' known distributions, the same seeded
generator replayed), never read back from the builder under test.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

from alignment import fit_mixture_weights, pmf_from_samples
from populace_lm.fakes import KnownDistributionModel, ScriptedModel
from populace_lm.types import IntegerAnswers
from populations.base import WeightSolverError
from populations.baselines import DEFAULT_SYSTEM_PROMPT
from populations.mixture import (
    FALLBACK_NO_CRAFTED,
    PromptMixtureBuilder,
    check_target_values,
    default_temperature,
    e_step,
)
from scenarios.question import Question
from tests.populations.mixture_fakes import FakeScenario, crafter_reply, make_models, noisy_crafter, peaked

SC = FakeScenario()
SUPPORT = np.arange(101.0)


def _peaked_pmf(centre: float, sd: float = 3.0, values: np.ndarray = SUPPORT) -> np.ndarray:
    """The pmf the fake respondent gives a prompt "answer about centre" (mixture_fakes.peaked, normalised)."""
    g = np.exp(-0.5 * ((values - centre) / sd) ** 2) + 1e-12
    return g / g.sum()


def _build(method: str = "em", **kw) -> PromptMixtureBuilder:
    crafter, respondent = make_models()
    params = {"forbid_target_number": False, "random_state": 0, "progress": False, **kw}
    return PromptMixtureBuilder(method, crafter=crafter, respondent=respondent, **params)


def _data(n: int = 40, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(np.where(rng.random(n) < 0.5, rng.normal(20, 4, n), rng.normal(75, 4, n))), 0, 100)


@dataclass(frozen=True)
class StepTwoScenario(FakeScenario):
    """FakeScenario whose answer options 0..50 stand for the support values 0, 2, ..., 100 (answer step 2)."""

    name: str = "step_two"
    high: int = 50

    @property
    def support(self) -> np.ndarray:
        return 2.0 * np.arange(self.low, self.high + 1, dtype=float)

    def questions(self) -> tuple[Question, ...]:
        return (Question(id="gift", prompt="How much?", answers=IntegerAnswers(low=self.low, high=self.high)),)


# ----------------------------------------------------------------------------------------- check_target_values
def test_check_target_values_messages_and_dtype():
    with pytest.raises(ValueError, match=r"with total variation instead$") as err:
        check_target_values(FakeScenario(name="cats", ordered=False), [1.0])
    assert str(err.value).startswith("scenario 'cats' has unordered categories: fitting minimises W1")
    with pytest.raises(ValueError, match=r"^target_values must be one-dimensional, got shape \(1, 2\)$"):
        check_target_values(SC, [[1.0, 2.0]])
    small = FakeScenario(low=3, high=7)
    with pytest.raises(
        ValueError, match=r"^x\[2\] = 9 is not on the answer scale of scenario 'fake_gift' \(integers 3\.\.7\)$"
    ):
        check_target_values(small, [3, 4, 9], name="x")
    out = check_target_values(small, [3, 5, 7])
    assert out.dtype == np.float64 and out.tolist() == [3.0, 5.0, 7.0]
    assert check_target_values(small, np.array(["3", "7"])).tolist() == [3.0, 7.0]  # parsed as numbers


# ----------------------------------------------------------------------------------------- default_temperature
def test_default_temperature_by_hand():
    # two-point support: the step is the gap 3, not one unit
    assert default_temperature([0, 0, 3, 3], [0, 3], 5) == 3.0
    # weighted lower median: cumulative weights [1, 4], half of the total 4 is 2 -> the value 10; MAD = 10 * 1/4
    assert default_temperature([0, 10], SUPPORT[:11], 1, weights=[1, 3]) == pytest.approx(2.5)
    # three values weighted 1, 1, 4: cumulative [1, 2, 6], half is 3 -> median 20; MAD = (20 + 10 + 0) / 6
    assert default_temperature([0, 10, 20], SUPPORT[:21], 1, weights=[1, 1, 4]) == pytest.approx(5.0)
    # integer weights equal the repeated rows
    x = np.array([1.0, 4.0, 9.0, 20.0])
    w = np.array([2, 1, 3, 1])
    assert default_temperature(x, SUPPORT, 2, weights=w) == pytest.approx(
        default_temperature(np.repeat(x, w), SUPPORT, 2)
    )


# ----------------------------------------------------------------------------------------- e_step
def test_e_step_exact_values_and_defaults():
    # default temperature is 1: softmax of [0, -1] with equal priors
    r = e_step([[0.0, 1.0]], [0.5, 0.5])
    assert r[0, 0] == pytest.approx(1 / (1 + np.exp(-1.0)), rel=1e-12)
    # each row is normalised on its own (large distances in one row do not underflow another)
    r = e_step([[0.0, 1.0], [1000.0, 1001.0]], [0.5, 0.5], temperature=1.0)
    expect = 1 / (1 + np.exp(-1.0))
    assert np.isfinite(r).all() and r[:, 0] == pytest.approx([expect, expect], rel=1e-12)
    # prior times kernel by hand
    d = np.array([[2.0, 5.0, 1.0]])
    w = np.array([0.2, 0.0, 0.8])
    num = np.maximum(w, 0.05) * np.exp(-d[0] / 4.0)
    assert e_step(d, w, temperature=4.0, weight_floor=0.05)[0] == pytest.approx(num / num.sum(), rel=1e-12)
    lit = np.exp(-d[0] * w)
    assert e_step(d, w, method="literal")[0] == pytest.approx(lit / lit.sum(), rel=1e-12)
    # a zero weight with a zero floor gives exactly zero responsibility, without a divide warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = e_step([[0.0, 0.0]], [0.0, 1.0], weight_floor=0.0)
    assert r.tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"temperature": -1.0}, r"^temperature must be a positive number, got -1\.0$"),
        ({"temperature": 0.0}, r"^temperature must be a positive number, got 0\.0$"),
        ({"temperature": float("inf")}, r"^temperature must be a positive number, got inf$"),
        ({"weight_floor": -0.1}, r"^weight_floor must be >= 0, got -0\.1$"),
    ],
)
def test_e_step_rejects_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        e_step([[0.0, 1.0]], [0.5, 0.5], **kw)


# ----------------------------------------------------------------------------------------- __init__ / _validate
def test_constructor_defaults():
    assert PromptMixtureBuilder().get_params() == {
        "method": "em",
        "n_components": 5,
        "crafter": None,
        "respondent": None,
        "max_iter": 20,
        "n_rounds": 200,
        "patience": 3,
        "e_step": "posterior",
        "temperature": None,
        "weight_floor": 1e-3,
        "improve_rounds": 1,
        "max_retries": 2,
        "weight_method": "lp",
        "tol": 1e-3,
        "include_default": True,
        "default_prompt": DEFAULT_SYSTEM_PROMPT,
        "forbid_target_number": True,
        "crafter_temperature": 0.8,
        "crafter_max_tokens": 120,
        "progress": True,
        "random_state": 0,
    }


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"n_components": 2.5}, r"^n_components must be a positive integer, got 2\.5$"),
        ({"n_components": 0}, r"^n_components must be a positive integer, got 0$"),
        (
            {"n_components": 4},
            r"^n_components=4 is larger than the 3 human values to fit; use fewer components or more data$",
        ),
        ({"max_iter": 0}, r"^max_iter must be >= 1, got 0$"),
        ({"temperature": -2.0}, r"^temperature must be a positive number or None, got -2\.0$"),
        ({"weight_floor": 1.0}, r"^weight_floor must be in \[0, 1\), got 1\.0$"),
        ({"method": "gb", "n_rounds": 0}, r"^n_rounds must be >= 1, got 0$"),
        ({"weight_method": "SLSQP"}, r"^weight_method must be 'lp' or 'slsqp', got 'SLSQP'$"),
    ],
)
def test_validate_messages(kw, match):
    with pytest.raises(ValueError, match=match):
        _build(**{"n_components": 1, **kw}).fit(SC, [10.0, 20.0, 30.0])


def test_validate_missing_respondent_exact_message():
    with pytest.raises(ValueError, match=r"^PromptMixtureBuilder needs a respondent model \(respondent=\.\.\.\)$"):
        PromptMixtureBuilder("em", n_components=1).fit(SC, [10.0])


def test_validate_boundaries_are_accepted():
    x = np.array([10.0, 30.0, 30.0])
    b = _build(n_components=3, max_iter=1, temperature=0.5, weight_floor=0.0).fit(SC, x)  # K == n is allowed
    assert b.temperature_ == 0.5 and len(b.prompts_) == 4
    assert _build("gb", n_rounds=1).fit(SC, x).n_iter_ == 1
    # survey weights: only the values with a positive weight count towards K
    with pytest.raises(ValueError, match=r"^n_components=2 is larger than the 1 human values"):
        _build(n_components=2).fit(SC, x, sample_weight=[1.0, 0.0, 0.0])


def test_slsqp_weights_use_the_builder_seed():
    # prompts the respondent ignores: every weight vector fits equally well; the exact LP picks a vertex, SLSQP the
    # point its seeded random start converges to
    crafter, respondent = make_models()
    respondent.dist_fn = lambda m, a: np.exp(-0.5 * ((np.asarray(a.values) - 50) / 10.0) ** 2)
    x = _data()
    b = PromptMixtureBuilder(
        "gb", crafter=crafter, respondent=respondent, n_rounds=2, patience=5, weight_method="slsqp",
        forbid_target_number=False, progress=False, random_state=1,
    ).fit(SC, x)  # fmt: skip
    target = pmf_from_samples(x, SUPPORT)
    ref = fit_mixture_weights(b.component_pmfs_, SUPPORT, target, method="slsqp", rng=1).weights
    other = fit_mixture_weights(b.component_pmfs_, SUPPORT, target, method="slsqp", rng=0).weights  # rng=None
    lp = fit_mixture_weights(b.component_pmfs_, SUPPORT, target).weights
    assert b.weights_ == pytest.approx(ref, abs=1e-9)
    assert np.abs(ref - other).max() > 0.1 and np.abs(ref - lp).max() > 0.1  # the seed and the solver matter here


def test_slsqp_weights_are_the_solver_s_own():
    x = _data()
    b = _build("gb", n_rounds=2, weight_method="slsqp").fit(SC, x)
    target = pmf_from_samples(x, SUPPORT)
    ref = fit_mixture_weights(b.component_pmfs_, SUPPORT, target, method="slsqp", rng=0)
    assert b.weights_ == pytest.approx(ref.weights, abs=1e-9) and b.fit_loss_ == pytest.approx(float(ref.loss))
    assert b.weights_.dtype == np.float64


# ----------------------------------------------------------------------------------------- EM records
def _replay_em_iteration(b, x, k_crafted, tau, floor, method="posterior"):
    """Recompute the first EM iteration's responsibility mass and targets independently."""
    rng = np.random.default_rng(0)
    init = rng.choice(x, size=k_crafted, replace=False)
    h0 = b.history_[0]
    assert [c["target"] for c in h0["crafting"]] == init.tolist()
    uniq, counts = np.unique(x, return_counts=True)
    pmfs = np.stack([_peaked_pmf(t) for t in init])
    dist = np.abs(uniq[:, None] - SUPPORT[None, :]) @ pmfs.T
    w = np.asarray(h0["weights"])[1:]  # the default prompt comes first
    literal = method == "literal"
    logits = -dist * w[None, :] if literal else np.log(np.maximum(w, floor))[None, :] - dist / tau
    resp = np.exp(logits - logits.max(axis=1, keepdims=True))
    resp /= resp.sum(axis=1, keepdims=True)
    mass = counts @ resp / counts.sum()
    targets = [float(rng.choice(uniq, p=counts * resp[:, j] / (counts * resp[:, j]).sum())) for j in range(k_crafted)]
    return mass, targets


@pytest.mark.parametrize(
    ("kw", "method"),
    [({"temperature": 7.0, "weight_floor": 0.05}, "posterior"), ({"e_step": "literal"}, "literal")],
)
def test_em_first_iteration_replayed_by_hand(kw, method):
    x = _data()
    b = _build(n_components=3, max_iter=1, **kw).fit(SC, x)
    mass, targets = _replay_em_iteration(b, x, 3, kw.get("temperature"), kw.get("weight_floor"), method)
    h1 = b.history_[1]
    assert h1["iteration"] == 1
    assert np.asarray(h1["responsibility_mass"]) == pytest.approx(mass, abs=1e-9)
    assert [c["target"] for c in h1["crafting"]] == targets
    assert b.temperature_ == (7.0 if method == "posterior" else None)


def test_em_history_records():
    x = _data()
    crafter = noisy_crafter(p_fail=0.2, p_wild=0.3)
    _, respondent = make_models()
    b = PromptMixtureBuilder(
        "em", n_components=3, crafter=crafter, respondent=respondent, max_iter=4, forbid_target_number=False,
        progress=False, max_retries=0, random_state=2,
    ).fit(SC, x)  # fmt: skip
    h0 = b.history_[0]
    assert h0["iteration"] == 0 and set(h0) == {"iteration", "crafting", "prompts", "weights", "fit_w1", "n_failed"}
    assert h0["n_failed"] == sum("failed" in c for c in h0["crafting"])
    assert [c["key"] for c in h0["crafting"]] == [["em", "init", str(k)] for k in range(3)]
    prompts = h0["prompts"]
    assert prompts[0] == DEFAULT_SYSTEM_PROMPT
    n_accept = 0
    for i, h in enumerate(b.history_[1:], start=1):
        assert h["iteration"] == i
        assert h["weight_shift"] == pytest.approx(np.abs(np.subtract(h["weights"], b.history_[i - 1]["weights"])).max())
        assert sum(h["responsibility_mass"]) == pytest.approx(1.0)
        changed = []
        # a failed job does not end the iteration: every crafted component is re-crafted
        assert [c["component"] for c in h["crafting"]] == list(range(1, len(h0["prompts"])))
        for c in h["crafting"]:
            k = c["component"]
            assert c["key"] == ["em", str(i), str(k)]
            old = prompts[k]
            m = re.search(r"about (\d+)", old)
            assert c["old_mean"] == pytest.approx(
                50.0 if m is None else float(_peaked_pmf(float(m.group(1))) @ SUPPORT), abs=1e-6
            )
            if "failed" in c:
                assert set(c) == {"key", "target", "failed", "reason", "attempts", "component", "old_mean"}
                assert c["failed"] and c["failed"] != "None"
                continue
            assert set(c) == {
                "key", "target", "prompt", "mean", "distance", "rounds", "attempts", "component", "old_mean",
                "old_distance", "accepted",
            }  # fmt: skip
            old_d = float(np.abs(SUPPORT - c["target"]) @ _peaked_pmf(float(m.group(1)))) if m else None
            if old_d is not None:
                assert c["old_distance"] == pytest.approx(old_d, abs=1e-6)
            assert c["accepted"] is bool(c["distance"] < c["old_distance"] and c["prompt"] != old)
            if c["accepted"]:
                changed.append(k)
        n_accept += len(changed)
        assert h["changed"] == changed
        prompts = [p for p in prompts]
        for k in changed:
            prompts[k] = next(c["prompt"] for c in h["crafting"] if c.get("component") == k)
        assert h["prompts"] == prompts
    assert n_accept > 0
    failed = [c["component"] for h in b.history_[1:] for c in h["crafting"] if "failed" in c]
    assert any(k < len(h0["prompts"]) - 1 for k in failed)  # some failure was followed by another job
    assert b.n_failed_ == sum("failed" in c for h in b.history_ for c in h["crafting"])
    # the best iteration (first of the smallest fit W1) is returned
    losses = [h["fit_w1"] for h in b.history_]
    best = int(np.argmin(losses))
    assert best > 0  # EM improved on its initial prompts
    assert b.fit_loss_ == losses[best] and b.prompts_ == b.history_[best]["prompts"]
    assert b.weights_.tolist() == b.history_[best]["weights"]
    if b.converged_:
        assert b.history_[-1]["changed"] == [] and b.history_[-1]["weight_shift"] < b.tol
    else:
        assert b.n_iter_ == 4


def test_em_convergence_needs_a_strictly_smaller_shift():
    # one-point data: nothing changes and the weights do not move (shift 0); with tol 0 that is not "< tol"
    values = np.full(20, 30.0)
    b = _build(n_components=2, max_iter=3, tol=0.0).fit(SC, values)
    assert b.n_iter_ == 3 and b.converged_ is False
    assert [h["weight_shift"] for h in b.history_[1:]] == [0.0, 0.0, 0.0]
    b = _build(n_components=2, max_iter=3).fit(SC, values)
    assert b.n_iter_ == 1 and b.converged_ is True


def test_em_converges_only_when_nothing_changed():
    # a large tol makes every weight shift small: convergence must still wait for an iteration without changes
    x = _data()
    crafter = noisy_crafter(p_fail=0.0, p_wild=0.5)
    _, respondent = make_models()
    b = PromptMixtureBuilder(
        "em", n_components=3, crafter=crafter, respondent=respondent, max_iter=6, tol=10.0,
        forbid_target_number=False, progress=False,
    ).fit(SC, x)  # fmt: skip
    changed = [h["changed"] for h in b.history_[1:]]
    first_quiet = next((i for i, c in enumerate(changed, start=1) if not c), None)
    assert b.n_iter_ == (first_quiet if first_quiet is not None else 6)
    assert changed[0]  # the first iteration changed prompts: it must not count as converged


def test_default_temperature_used_with_the_support_step():
    sc = StepTwoScenario()
    values = np.full(10, 40.0)  # MAD 0: tau is one answer step, 2
    b = PromptMixtureBuilder(
        "em", n_components=2, respondent=KnownDistributionModel(peaked(), generate_fn=crafter_reply),
        max_iter=1, forbid_target_number=False, progress=False,
    ).fit(sc, values)  # fmt: skip
    assert b.temperature_ == 2.0
    b2 = PromptMixtureBuilder(
        "em", n_components=2, respondent=KnownDistributionModel(peaked(), generate_fn=crafter_reply),
        max_iter=1, forbid_target_number=False, progress=False,
    ).fit(sc, values, sample_weight=np.arange(1.0, 11.0))  # fmt: skip
    assert b2.temperature_ == 2.0
    # crafter=None: the respondent crafts; its crafting requests are metered as the crafter's
    assert b.cost_["crafter"]["requests"] > 0 and b.n_crafted_ > 0


def test_em_survey_weights_enter_targets_temperature_and_mass():
    x = _data(30)
    sw = np.where(x < 50, 5.0, 1.0)
    p = sw / sw.sum()
    b = _build(n_components=3, max_iter=1).fit(SC, x, sample_weight=sw)
    rng = np.random.default_rng(0)
    init = rng.choice(x, size=3, replace=False, p=p)
    assert [c["target"] for c in b.history_[0]["crafting"]] == init.tolist()
    uniq, inverse = np.unique(x, return_inverse=True)
    wc = np.bincount(inverse, weights=p, minlength=uniq.size)
    tau = default_temperature(uniq, SUPPORT, 3, weights=wc)
    assert b.temperature_ == pytest.approx(tau) and tau != pytest.approx(default_temperature(x, SUPPORT, 3))
    pmfs = np.stack([_peaked_pmf(t) for t in init])
    dist = np.abs(uniq[:, None] - SUPPORT[None, :]) @ pmfs.T
    w = np.asarray(b.history_[0]["weights"])[1:]
    logits = np.log(np.maximum(w, 1e-3))[None, :] - dist / tau
    resp = np.exp(logits - logits.max(axis=1, keepdims=True))
    resp /= resp.sum(axis=1, keepdims=True)
    assert np.asarray(b.history_[1]["responsibility_mass"]) == pytest.approx(wc @ resp / wc.sum(), abs=1e-9)
    targets = [float(rng.choice(uniq, p=wc * resp[:, j] / (wc * resp[:, j]).sum())) for j in range(3)]
    assert [c["target"] for c in b.history_[1]["crafting"]] == targets


def test_em_skips_a_component_without_responsibility():
    # weight floor 0 and a tiny temperature: a component far from every value and without weight owns nothing
    x = np.r_[np.full(10, 20.0), np.full(10, 22.0)]

    def reply(request):
        t = float(re.findall(r"about (\d+(?:\.\d+)?)", request.messages[-1].content)[-1])
        return f"You are a person who would answer about {95 if t == 22 else t:g}."

    _, respondent = make_models()
    # a seed whose first initial target is 22, so the far component comes first and the other follows it
    seed = next(s for s in range(50) if np.random.default_rng(s).choice(x, 2, replace=False).tolist() == [22.0, 20.0])
    b = PromptMixtureBuilder(
        "em", n_components=2, crafter=ScriptedModel(reply), respondent=respondent, max_iter=2,
        temperature=1e-3, weight_floor=0.0, forbid_target_number=False, progress=False, random_state=seed,
        include_default=False,
    ).fit(SC, x)  # fmt: skip
    logs = b.history_[1]["crafting"]
    far = [k for k, p in enumerate(b.history_[0]["prompts"]) if "95" in p]
    assert far == [0] and {"component": far[0], "skipped": "no responsibility on any value"} in logs
    assert len(logs) == 2  # the other component is still re-crafted
    assert b.history_[1]["responsibility_mass"][far[0]] == 0.0


# ----------------------------------------------------------------------------------------- GB records
def test_gb_history_improvement_and_patience():
    x = _data()
    crafter = noisy_crafter(p_fail=0.2, p_wild=0.3)
    _, respondent = make_models()
    b = PromptMixtureBuilder(
        "gb", crafter=crafter, respondent=respondent, n_rounds=30, patience=2, tol=0.05, forbid_target_number=False,
        progress=False, max_retries=0,
    ).fit(SC, x)  # fmt: skip
    h0 = b.history_[0]
    assert h0 == {"round": 0, "prompt": DEFAULT_SYSTEM_PROMPT, "weights": [1.0], "fit_w1": b.baseline_loss_}
    best, stale, stop = b.baseline_loss_, 0, None
    target = pmf_from_samples(x, SUPPORT)
    for r, h in enumerate(b.history_[1:], start=1):
        assert h["round"] == r and [c["key"] for c in h["crafting"]] == [["gb", str(r)]]
        improved = h["fit_w1"] < best - 0.05
        assert h["improved"] is improved
        assert sum(h["weights"]) == pytest.approx(1.0)
        if improved:
            best, stale = h["fit_w1"], 0
        else:
            stale += 1
        if stale >= 2:
            stop = r
            break
    assert any(h["improved"] for h in b.history_[1:]) and stop is not None
    assert b.n_iter_ == stop == len(b.history_) - 1 and b.converged_ is True
    assert np.asarray(b.history_[1]["residual"]) == pytest.approx(
        np.clip(target - _peaked_pmf(50.0), 0, None), abs=1e-12
    )
    crafted = [c for h in b.history_[1:] for c in h["crafting"] if "prompt" in c]
    assert b.targets_ == [None] + [c["target"] for c in crafted]
    assert b.fit_loss_ == b.history_[-1]["fit_w1"]


def test_gb_without_convergence_runs_all_rounds():
    x = _data()
    b = _build("gb", n_rounds=2, patience=5).fit(SC, x)
    assert b.n_iter_ == 2 and b.converged_ is False and b.temperature_ is None


def test_gb_equal_loss_is_not_an_improvement():
    crafter, respondent = make_models()
    respondent.dist_fn = lambda m, a: np.ones(a.size)  # every prompt answers the same
    b = PromptMixtureBuilder(
        "gb", crafter=crafter, respondent=respondent, n_rounds=6, patience=2, tol=0.0, forbid_target_number=False,
        progress=False,
    ).fit(SC, _data())  # fmt: skip
    assert b.n_iter_ == 2 and [h["improved"] for h in b.history_[1:]] == [False, False]


def test_gb_stops_when_the_mixture_matches_exactly():
    sc = FakeScenario(low=0, high=3)
    crafter, respondent = make_models()
    respondent.dist_fn = lambda m, a: np.ones(a.size)
    b = PromptMixtureBuilder(
        "gb", crafter=crafter, respondent=respondent, n_rounds=5, forbid_target_number=False, progress=False
    ).fit(sc, [0.0, 1.0, 2.0, 3.0])
    assert b.converged_ is True and b.n_iter_ == 1
    assert b.history_[1] == {"round": 1, "stopped": "the mixture matches the target exactly"}
    assert b.fallback_ == FALLBACK_NO_CRAFTED and b.n_crafted_ == 0


# ----------------------------------------------------------------------------------------- fit / fallback / guarantee
def test_em_fallback_records():
    b = PromptMixtureBuilder(
        "em", n_components=2, crafter=ScriptedModel(["no idea"]), respondent=make_models()[1], max_retries=0,
        progress=False,
    ).fit(SC, _data())  # fmt: skip
    assert b.n_iter_ == 0 and b.converged_ is False and b.temperature_ is None
    assert b.history_[0]["iteration"] == 0 and b.history_[0]["n_failed"] == 2 and len(b.history_[0]) == 3
    assert [c["key"] for c in b.history_[0]["crafting"]] == [["em", "init", "0"], ["em", "init", "1"]]
    assert all(c["reason"] == "no_prompt" and c["failed"] for c in b.history_[0]["crafting"])
    assert set(b.history_[0]["crafting"][0]) == {"key", "target", "failed", "reason", "attempts"}
    assert b.history_[0]["crafting"][0]["target"] in _data().tolist()
    assert b.history_[-1] == {"fallback": FALLBACK_NO_CRAFTED, "n_failed": 2, "failure_reasons": {"no_prompt": 2}}
    assert b.population_.personas[0].id == "em-default"


def test_forbid_target_number_reaches_the_crafter():
    # the fake crafter names its target: with the default forbid_target_number=True every prompt is refused
    crafter, respondent = make_models()
    b = PromptMixtureBuilder("gb", crafter=crafter, respondent=respondent, n_rounds=2, max_retries=0, progress=False)
    b.fit(SC, _data())
    assert b.n_crafted_ == 0 and b.fallback_ == FALLBACK_NO_CRAFTED
    assert b.n_failed_ == 2 and list(b.failure_reasons_) != ["no_prompt"]


def test_same_seed_same_noisy_fit_and_seed_matters():
    x = _data()

    def run(seed):
        _, respondent = make_models()
        return PromptMixtureBuilder(
            "gb", crafter=noisy_crafter(), respondent=respondent, n_rounds=4, patience=10,
            forbid_target_number=False, progress=False, random_state=seed,
        ).fit(SC, x)  # fmt: skip

    a, b, c = run(0), run(0), run(5)
    assert a.prompts_ == b.prompts_ and a.history_ == b.history_
    assert a.history_ != c.history_


@pytest.mark.parametrize(
    ("method", "include_default", "excess", "raises"),
    [
        ("em", True, 0.5, True),
        ("gb", True, 0.5, True),
        ("gb", False, 0.5, True),
        ("em", False, 0.5, False),
        ("em", True, 5e-7, False),
        ("em", True, 1e-6, False),
    ],
)
def test_baseline_guarantee_check(method, include_default, excess, raises):
    b = _build(method, n_components=2, max_iter=1, n_rounds=1, include_default=include_default)

    def bad_weights(comps):
        return np.full(len(comps), 1.0 / len(comps)), b.baseline_loss_ + excess

    b._fit_weights = bad_weights
    if raises:
        with pytest.raises(WeightSolverError, match=r"the 'lp' weight solver failed \(use weight_method='lp'\)$"):
            b.fit(SC, _data())
    else:
        assert b.fit(SC, _data()).fit_loss_ == b.baseline_loss_ + excess


def test_fitted_population_and_record():
    x = _data()
    b = _build(n_components=2, max_iter=2).fit(SC, x)
    pop = b.population_
    ids = [p.id for p in pop.personas]
    assert ids == ["em-default", "em-001", "em-002"]
    for p, target, pmf, vm in zip(pop.personas, b.targets_, b.component_pmfs_, b.valid_mass_, strict=True):
        assert p.attributes == {"target": target, "mean": pytest.approx(float(pmf @ SUPPORT)), "valid_mass": vm}
    assert b.valid_mass_.tolist() == [1.0, 1.0, 1.0]
    assert b.targets_[0] is None and all(isinstance(t, float) for t in b.targets_[1:])
    m = pop.metadata
    assert m["scenario"] == "fake_gift" and m["baseline_w1"] == b.baseline_loss_ and m["n_iter"] == b.n_iter_
    assert m["converged"] is b.converged_ and m["n_crafted"] == b.n_crafted_ and m["n_failed"] == 0
    assert m["failure_reasons"] == {} and m["cost"] == b.cost_ and m["params"]["n_components"] == 2
    d = b.to_dict()
    assert d["targets"] == b.targets_ and d["component_pmfs"] == b.component_pmfs_.tolist()
    assert d["support"] == SUPPORT.tolist() and d["baseline_w1"] == b.baseline_loss_
    assert d["n_iter"] == b.n_iter_ and d["converged"] is b.converged_ and d["temperature"] == b.temperature_
    assert d["prompts"] == b.prompts_ and d["history"] == b.history_ and d["fallback"] is None
    assert d["failure_reasons"] == {} and d["n_crafted"] == b.n_crafted_ and d["n_failed"] == 0
    assert d["weights"] == b.weights_.tolist() and d["fit_w1"] == b.fit_loss_ and d["cost"] == b.cost_


def test_crafting_jobs_are_seeded_by_their_key():
    # the same job run directly through CraftSystemPrompt with the key ("gb", round) writes the same prompt
    from populations.crafting import CraftSystemPrompt

    x = _data()
    _, respondent = make_models()
    b = PromptMixtureBuilder(
        "gb", crafter=noisy_crafter(p_fail=0.0), respondent=respondent, n_rounds=3, patience=10,
        forbid_target_number=False, progress=False, random_state=4,
    ).fit(SC, x)  # fmt: skip
    craft = CraftSystemPrompt(noisy_crafter(p_fail=0.0), make_models()[1], forbid_target_number=False, random_state=4)
    for r, h in enumerate(b.history_[1:], start=1):
        (c,) = h["crafting"]
        ref = craft(h["target"], SC, key=("gb", r))
        assert c["prompt"] == ref.prompt and c["distance"] == pytest.approx(ref.distance)
    # a different key gives a different prompt for at least one of these jobs (the key matters)
    others = [craft(h["target"], SC, key=("gb", r + 10)).prompt for r, h in enumerate(b.history_[1:], start=1)]
    assert others != [h["crafting"][0]["prompt"] for h in b.history_[1:]]


def test_em_rejects_an_equally_close_new_prompt():
    # every reply is worded differently but aims at the same value: the new prompt is not closer, so it is rejected
    calls = []

    def reply(request):
        calls.append(1)
        x = float(re.findall(r"about (\d+(?:\.\d+)?)", request.messages[-1].content)[-1])
        return f"You are person number {len(calls)}, a person who would answer about {x:g}."

    _, respondent = make_models()
    b = PromptMixtureBuilder(
        "em", n_components=1, crafter=ScriptedModel(reply), respondent=respondent, max_iter=3,
        forbid_target_number=False, progress=False,
    ).fit(SC, np.full(10, 30.0))  # fmt: skip
    (c,) = b.history_[1]["crafting"]
    assert c["prompt"] != b.history_[0]["prompts"][1]
    assert c["distance"] == pytest.approx(c["old_distance"], abs=1e-12) and c["accepted"] is False
    assert b.history_[1]["changed"] == [] and b.n_iter_ == 1 and b.converged_ is True


def test_em_initial_targets_are_drawn_without_replacement_by_weight():
    # one value carries almost all the weight; drawn without replacement, the K = 3 targets are still all 3 values
    b = _build(n_components=3, max_iter=1).fit(SC, [10.0, 20.0, 30.0], sample_weight=[100.0, 1.0, 1.0])
    targets = [c["target"] for c in b.history_[0]["crafting"]]
    assert sorted(targets) == [10.0, 20.0, 30.0]
    p = np.array([100.0, 1.0, 1.0]) / 102.0
    assert targets == np.random.default_rng(0).choice([10.0, 20.0, 30.0], size=3, replace=False, p=p).tolist()


def test_crafting_parameters_reach_the_crafter():
    # a crafter that always misses by 30: with improve_rounds=1 each job asks once more, with 0 it does not
    seen = []

    def reply(request):
        seen.append((request.temperature, request.max_tokens))
        x = float(re.findall(r"about (\d+(?:\.\d+)?)", request.messages[-1].content)[-1])
        return f"You are a person who would answer about {(x + 30) % 101:g}."

    for rounds, per_job in ((0, 1), (1, 2)):
        seen.clear()
        b = PromptMixtureBuilder(
            "gb", crafter=ScriptedModel(reply), respondent=make_models()[1], n_rounds=2, patience=5,
            improve_rounds=rounds, crafter_temperature=0.3, crafter_max_tokens=77, forbid_target_number=False,
            progress=False,
        ).fit(SC, _data())  # fmt: skip
        assert b.n_crafted_ == 2 and len(seen) == 2 * per_job
        assert set(seen) == {(0.3, 77)}
