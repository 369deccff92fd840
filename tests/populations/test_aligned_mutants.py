"""Exact-value tests of :mod:`populations.aligned` that a wrong implementation fails (mutation-testing targets).

The builder's public behaviour: the error messages naming the argument, the default sizes, the variants' weights
and selections (replayed with the same seeded generator and the :mod:`alignment` functions it documents), the
population's metadata and weights, and the weighted-persona JSONL format round trip and its errors.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from alignment import importance_resample, kde_importance_weights, sample_by_mass, standardize, transport_weights
from populations.aligned import AlignedPersonaBuilder, load_weighted_jsonl, save_weighted_jsonl
from populations.evaluation import weighted_resample
from populations.persona import Persona, Population


def _population(weights=(0.25, 0.75), construction="aligned"):
    personas = tuple(Persona(id=f"p{i}", text=f"persona {i}", attributes={"age": 30 + i}) for i in range(len(weights)))
    return Population(personas=personas, weights=np.asarray(weights), construction=construction, metadata={"k": 1})


# --------------------------------------------------------------------------------------------- the JSONL format
def test_weighted_jsonl_round_trip_keeps_ids_texts_weights_attributes_and_metadata(tmp_path):
    pop = _population()
    path = save_weighted_jsonl(pop, tmp_path / "sub" / "pop.jsonl")
    assert path == tmp_path / "sub" / "pop.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": "p0", "text": "persona 0", "weight": 0.25, "age": 30},
        {"id": "p1", "text": "persona 1", "weight": 0.75, "age": 31},
    ]
    meta = json.loads((tmp_path / "sub" / "pop.jsonl.meta.json").read_text())
    assert meta == {"kind": "populace.weighted_personas", "construction": "aligned", "metadata": {"k": 1}}
    back = load_weighted_jsonl(path)
    assert [p.id for p in back.personas] == ["p0", "p1"]
    assert [p.text for p in back.personas] == ["persona 0", "persona 1"]
    assert [p.attributes for p in back.personas] == [{"age": 30}, {"age": 31}]
    assert back.weights.tolist() == [0.25, 0.75]
    assert back.construction == "aligned" and back.metadata == {"k": 1}
    assert not (tmp_path / "sub" / "pop.jsonl.tmp").exists()


def test_save_stores_reserved_attribute_names_with_a_prefix_and_load_restores_them(tmp_path):
    persona = Persona(id="a", text="t", attributes={"id": "x", "weight": 3, "text": "y", "attr_other": 1})
    pop = Population(personas=(persona,), weights=np.ones(1), construction="mop")
    path = save_weighted_jsonl(pop, tmp_path / "p.jsonl")
    line = json.loads(path.read_text(encoding="utf-8"))
    assert line == {
        "id": "a",
        "text": "t",
        "weight": 1.0,
        "attr_id": "x",
        "attr_weight": 3,
        "attr_text": "y",
        "attr_other": 1,
    }
    back = load_weighted_jsonl(path)
    # attr_<reserved> goes back to <reserved>; attr_<other> is kept as it is
    assert back.personas[0].attributes == {"id": "x", "weight": 3, "text": "y", "attr_other": 1}
    assert back.construction == "mop"


def test_save_writes_utf8_and_one_line_per_persona(tmp_path):
    persona = Persona(id="é", text="naïve “quoted”")
    path = save_weighted_jsonl(Population(personas=(persona,), weights=[1.0], construction="aligned"), tmp_path / "u")
    raw = path.read_bytes().decode("utf-8")
    assert raw == '{"id": "é", "text": "naïve “quoted”", "weight": 1.0}\n'


def test_load_without_meta_defaults_to_aligned_and_skips_blank_lines(tmp_path):
    p = tmp_path / "pop.jsonl"
    p.write_text('{"id": "a", "text": "x", "weight": 0.5}\n\n   \n{"id": 2, "text": "y", "weight": 0.5}\n')
    pop = load_weighted_jsonl(p)
    assert [q.id for q in pop.personas] == ["a", "2"]
    assert pop.construction == "aligned" and pop.metadata == {}
    assert pop.weights.tolist() == [0.5, 0.5]


def _bad(tmp_path, text):
    p = tmp_path / "bad.jsonl"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_weighted_jsonl(p)
    return str(info.value).replace(str(p), "FILE")


def test_load_errors_name_the_file_and_line(tmp_path):
    assert _bad(tmp_path, "{\n") == (
        "FILE:1: not a JSON line (Expecting property name enclosed in double quotes) — it looks like a Population "
        "JSON file (populations.persona.Population.save); populace select reads the weighted-persona JSONL "
        "written by populace align"
    )
    assert _bad(tmp_path, '{"id": "a", "text": "x", "weight": 1}\n{\n') == (
        "FILE:2: not a JSON line (Expecting property name enclosed in double quotes)"
    )
    assert _bad(tmp_path, "nope\n") == "FILE:1: not a JSON line (Expecting value)"
    assert _bad(tmp_path, "[1]\n") == "FILE:1: each line needs an object with 'id', 'text' and 'weight'"
    assert _bad(tmp_path, '{"text": "x", "weight": 1}\n') == (
        "FILE:1: each line needs an object with 'id', 'text' and 'weight'"
    )
    assert _bad(tmp_path, '{"id": "a", "weight": 1}\n') == (
        "FILE:1: each line needs an object with 'id', 'text' and 'weight'"
    )
    assert _bad(tmp_path, '{"id": "a", "text": "x"}\n') == (
        "FILE:1: persona 'a' has no 'weight': this is a persona pool, not an aligned population; build one with "
        "`populace align --pool FILE ...` first"
    )
    for w in ('"1"', "-0.5", "NaN", "Infinity", "null"):
        got = _bad(tmp_path, f'{{"id": "a", "text": "x", "weight": {w}}}\n')
        assert got.startswith("FILE:1: weight ") and got.endswith(" must be a non-negative number"), got
    assert _bad(tmp_path, "\n\n") == "FILE: the population file is empty"
    assert _bad(tmp_path, '{"id": "a", "text": "x", "weight": 0.4}\n') == "FILE: weights sum to 0.4, expected 1"


def test_load_accepts_weights_within_a_millionth_of_one(tmp_path):
    p = tmp_path / "ok.jsonl"
    p.write_text('{"id": "a", "text": "x", "weight": 0.5}\n{"id": "b", "text": "y", "weight": 0.5000009}\n')
    assert len(load_weighted_jsonl(p)) == 2
    p.write_text('{"id": "a", "text": "x", "weight": 0}\n{"id": "b", "text": "y", "weight": 1}\n')
    assert load_weighted_jsonl(p).weights.tolist() == [0.0, 1.0]  # a zero weight is allowed


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^population file .*missing\.jsonl does not exist$"):
        load_weighted_jsonl(tmp_path / "missing.jsonl")


# --------------------------------------------------------------------------------------------- the builder
RNG = np.random.default_rng(0)
POOL = np.concatenate([RNG.normal(0.0, 1.0, (24, 3)), RNG.normal(2.0, 1.0, (16, 3))])
HUMAN = RNG.normal(0.0, 1.0, (14, 3))
PERSONAS = tuple(Persona(id=f"p{i}", text=f"persona {i}") for i in range(40))


def replay(
    method,
    x,
    y,
    *,
    n_select=None,
    keep_fraction=0.7,
    bandwidth=0.2,
    reg=0.05,
    reg_m=0.01,
    formulation="semi_relaxed",
    item_weights=None,
    block_size=None,
    max_reference=None,
    random_state=0,
):
    """The documented pipeline with the alignment functions and the builder's seed."""
    n, m = len(x), len(y)
    k = (n if method == "raw" else max(1, min(m, n // 2))) if n_select is None else n_select
    rng = np.random.default_rng(random_state)
    xz, yz, mean, scale = standardize(x, y)
    out = {"k": k, "mean": mean, "scale": scale, "is": None, "transport": None}
    if method == "raw":
        out |= {"weights": np.full(n, 1 / n), "candidates": np.arange(n)}
        out["selected"] = np.arange(n) if k == n else np.sort(rng.choice(n, size=k, replace=False))
        return out
    if method == "random":
        return out | {
            "weights": np.full(n, 1 / n),
            "candidates": np.arange(n),
            "selected": rng.choice(n, size=k, replace=False),
        }
    if method in ("is_only", "resample"):
        w = kde_importance_weights(xz, yz, bandwidth=bandwidth, max_reference=max_reference, seed=random_state)
        top = np.argsort(-w, kind="stable")[: int(np.ceil(keep_fraction * n))]
        cand = np.sort(top[w[top] > 0])
        out |= {"is": w, "candidates": cand}
        if method == "is_only":
            restricted = np.zeros(n)
            restricted[cand] = w[cand]
            return out | {
                "weights": restricted / restricted.sum(),
                "selected": importance_resample(w, k, rng=rng, keep_fraction=keep_fraction),
            }
    else:
        out["candidates"] = np.arange(n)
    res = transport_weights(
        xz[out["candidates"]],
        yz,
        item_weights=item_weights,
        reg=reg,
        reg_m=reg_m,
        formulation=formulation,
        block_size=block_size,
        seed=random_state,
    )
    mass = np.zeros(n)
    mass[out["candidates"]] = res.weights
    weights = mass / mass.sum()
    positive = int(np.count_nonzero(weights))
    return out | {
        "weights": weights,
        "transport": res,
        "selected": sample_by_mass(weights, k, rng=rng, replace=positive < k),
    }


def check(b, expected):
    assert_allclose(b.weights_, expected["weights"], rtol=1e-12, atol=1e-300)
    assert_array_equal(b.candidates_, expected["candidates"])
    assert_array_equal(b.selected_, expected["selected"])
    assert b.n_select_ == expected["k"]
    assert_allclose(b.mean_, expected["mean"])
    assert_allclose(b.scale_, expected["scale"])
    if expected["is"] is None:
        assert b.is_weights_ is None
    else:
        assert_allclose(b.is_weights_, expected["is"], rtol=1e-12)
    if expected["transport"] is None:
        assert b.transport_ is None
    else:
        assert b.transport_.cost == pytest.approx(expected["transport"].cost, rel=1e-12)
        assert b.transport_.cost_scale == expected["transport"].cost_scale
        assert b.transport_.formulation == expected["transport"].formulation
        assert b.transport_.block_size == expected["transport"].block_size


@pytest.mark.parametrize("method", ["raw", "random", "is_only", "ot_only", "resample"])
def test_every_method_replays_with_defaults(method):
    b = AlignedPersonaBuilder(method).fit_vectors(POOL, HUMAN, personas=PERSONAS)
    check(b, replay(method, POOL, HUMAN))
    assert (b.n_pool_, b.n_human_, b.n_features_) == (40, 14, 3)


@pytest.mark.parametrize("method", ["raw", "random", "is_only", "ot_only", "resample"])
def test_every_method_replays_with_every_parameter_set(method):
    kw = {
        "n_select": 6,
        "keep_fraction": 0.45,
        "bandwidth": 0.9,
        "reg": 0.2,
        "reg_m": 0.3,
        "formulation": "semi_relaxed",
        "item_weights": [1.0, 2.0, 0.5],
        "block_size": 7,
        "max_reference": 9,
        "random_state": 5,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        b = AlignedPersonaBuilder(method, **kw).fit_vectors(POOL, HUMAN, personas=PERSONAS)
        expected = replay(method, POOL, HUMAN, **kw)
    check(b, expected)


def test_balanced_formulation_reaches_the_transport():
    b = AlignedPersonaBuilder("ot_only", formulation="balanced", reg=0.3).fit_vectors(POOL, HUMAN)
    check(b, replay("ot_only", POOL, HUMAN, formulation="balanced", reg=0.3))
    assert b.transport_.formulation == "balanced"


def test_default_set_sizes():
    # min(M, N // 2) for the selecting methods, N for raw, never below 1
    assert AlignedPersonaBuilder("random").fit_vectors(POOL, HUMAN).n_select_ == 14
    assert AlignedPersonaBuilder("random").fit_vectors(POOL[:20], HUMAN).n_select_ == 10
    assert AlignedPersonaBuilder("raw").fit_vectors(POOL, HUMAN).n_select_ == 40
    assert AlignedPersonaBuilder("random").fit_vectors(POOL[:1], HUMAN).n_select_ == 1
    raw = AlignedPersonaBuilder("raw", n_select=40).fit_vectors(POOL, HUMAN)
    assert_array_equal(raw.selected_, np.arange(40))
    one = AlignedPersonaBuilder("raw", n_select=1).fit_vectors(POOL, HUMAN)
    assert one.selected_.shape == (1,)


def test_ot_draws_with_replacement_only_when_too_few_personas_carry_mass():
    x = np.concatenate([np.zeros((2, 1)), np.full((4, 1), 50.0)])
    y = np.array([[0.0], [0.1], [0.05]])
    b = AlignedPersonaBuilder("ot_only", n_select=5).fit_vectors(x, y)
    expected = replay("ot_only", x, y, n_select=5)
    check(b, expected)


def test_sample_weight_resamples_the_humans_with_the_seeded_bootstrap():
    sw = np.linspace(1.0, 3.0, 14)
    b = AlignedPersonaBuilder("is_only", random_state=3).fit_vectors(POOL, HUMAN, sample_weight=sw)
    y = weighted_resample(HUMAN, sw / sw.sum(), np.random.default_rng([3, 0x5EED]))
    check(b, replay("is_only", POOL, y, random_state=3))
    with pytest.raises(ValueError, match=r"^sample_weight must have shape \(14,\) to match the samples"):
        AlignedPersonaBuilder().fit_vectors(POOL, HUMAN, sample_weight=np.ones(3))


def test_builder_messages():
    def fails(message, *args, builder=None, **kw):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            (builder or AlignedPersonaBuilder()).fit_vectors(*args, **kw)

    fails(
        "method must be one of ('resample', 'raw', 'random', 'is_only', 'ot_only'), got 'magic'",
        POOL,
        HUMAN,
        builder=AlignedPersonaBuilder("magic"),
    )
    fails("pool_responses must have shape (N, D) with N >= 1, got (0, 3): the pool is empty", np.zeros((0, 3)), HUMAN)
    fails("pool_responses must have shape (N, D) with N >= 1, got (3,): the pool is empty", np.zeros(3), HUMAN)
    fails("human_responses must have shape (M, D) with M >= 2, got (1, 3)", POOL, HUMAN[:1])
    fails("human_responses must have shape (M, D) with M >= 2, got (14,)", POOL, HUMAN[:, 0])
    fails("pool has D=3 columns but humans have D=2; use the same items", POOL, HUMAN[:, :2])
    bad = POOL.copy()
    bad[5, 2] = np.inf
    bad[9, 0] = np.nan
    fails("pool_responses contains NaN or inf (row 5)", bad, HUMAN)
    bad = HUMAN.copy()
    bad[2, 1] = np.nan
    fails("human_responses contains NaN or inf (row 2)", POOL, bad)
    fails("got 3 personas for 40 response rows", POOL, HUMAN, personas=PERSONAS[:3])
    fails("n_select must be >= 1, got 0", POOL, HUMAN, builder=AlignedPersonaBuilder(n_select=0))
    fails(
        "the pool has 40 personas, fewer than the requested set of n_select=41",
        POOL,
        HUMAN,
        builder=AlignedPersonaBuilder(n_select=41),
    )
    for bad_fraction in (0.0, 1.5):
        fails(
            f"keep_fraction must be in (0, 1], got {bad_fraction!r}",
            POOL,
            HUMAN,
            builder=AlignedPersonaBuilder("resample", keep_fraction=bad_fraction),
        )
    fails(
        "keep_fraction=0.1 keeps 4 candidates with positive importance weight, fewer than n_select=5; raise "
        "keep_fraction or lower n_select",
        POOL,
        HUMAN,
        builder=AlignedPersonaBuilder(keep_fraction=0.1, n_select=5),
    )


def test_resample_with_exactly_enough_candidates_works():
    b = AlignedPersonaBuilder(keep_fraction=0.1, n_select=4).fit_vectors(POOL, HUMAN)
    assert b.candidates_.size == 4
    check(b, replay("resample", POOL, HUMAN, keep_fraction=0.1, n_select=4))
    b = AlignedPersonaBuilder(keep_fraction=1.0, n_select=4).fit_vectors(POOL, HUMAN)
    assert b.candidates_.size == 40


def test_population_counts_draws_and_records_the_parameters():
    x = np.concatenate([np.zeros((2, 1)), np.full((4, 1), 50.0)])
    y = np.array([[0.0], [0.1], [0.05]])
    personas = tuple(Persona(id=f"q{i}", text=f"q {i}") for i in range(6))
    b = AlignedPersonaBuilder("ot_only", n_select=5, random_state=2).fit_vectors(x, y, personas=personas)
    pop = b.population_
    uniq, counts = np.unique(b.selected_, return_counts=True)
    assert [p.id for p in pop.personas] == [f"q{i}" for i in uniq]
    assert_allclose(pop.weights, counts / 5)
    assert pop.construction == "aligned"
    assert pop.metadata == {"method": "ot_only", "n_pool": 6, "n_human": 3, **b.get_params(), "n_select": 5}
    assert pop.metadata["random_state"] == 2


@pytest.mark.parametrize("method", ["raw", "random", "is_only", "ot_only", "resample"])
def test_sample_replays_the_draw(method):
    b = AlignedPersonaBuilder(method, random_state=4).fit_vectors(POOL, HUMAN, personas=PERSONAS)

    def draw(g):
        if method in ("raw", "random"):
            return g.choice(40, size=7, replace=False)
        if method == "is_only":
            return importance_resample(b.is_weights_, 7, rng=g, keep_fraction=0.7)
        return sample_by_mass(b.weights_, 7, rng=g, replace=int(np.count_nonzero(b.weights_)) < 7)

    ref = np.random.default_rng(1)
    shared = np.random.default_rng(1)  # a generator is advanced by each call, not reseeded
    for rng, idx in (
        (None, draw(np.random.default_rng(4))),
        (9, draw(np.random.default_rng(9))),
        (shared, draw(ref)),
        (shared, draw(ref)),
    ):
        pop = b.sample(7, rng=rng)
        uniq, counts = np.unique(idx, return_counts=True)
        assert [p.id for p in pop.personas] == [f"p{i}" for i in uniq]
        assert_allclose(pop.weights, counts / counts.sum())
        assert pop.metadata["n_select"] == 7


def test_sample_with_replacement_when_few_personas_carry_mass():
    x = np.concatenate([np.zeros((2, 1)), np.full((4, 1), 50.0)])
    y = np.array([[0.0], [0.1], [0.05]])
    personas = tuple(Persona(id=f"q{i}", text=f"q {i}") for i in range(6))
    b = AlignedPersonaBuilder("ot_only", n_select=2).fit_vectors(x, y, personas=personas)
    positive = int(np.count_nonzero(b.weights_))
    idx = sample_by_mass(b.weights_, 6, rng=np.random.default_rng(0), replace=positive < 6)
    uniq, counts = np.unique(idx, return_counts=True)
    assert_allclose(b.sample(6).weights, counts / 6)


def test_sample_messages():
    b = AlignedPersonaBuilder("random").fit_vectors(POOL, HUMAN, personas=PERSONAS)
    with pytest.raises(ValueError, match=r"^n must be >= 1, got 0$"):
        b.sample(0)
    with pytest.raises(ValueError, match=r"^the pool has 40 personas, fewer than the requested set of 41$"):
        b.sample(41)
    assert len(b.sample(40)) == 40
    assert len(b.sample(1)) == 1
    nop = AlignedPersonaBuilder("random").fit_vectors(POOL, HUMAN)
    msg = "fit was called without personas=...; pass the pool's personas to build a Population"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        nop.sample(2)
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        _ = nop.population_


def test_fit_record_lists_the_learned_attributes():
    b = AlignedPersonaBuilder("resample", n_select=5).fit_vectors(POOL, HUMAN, personas=PERSONAS)
    d = b.to_dict()
    assert d["kind"] == "populace.aligned"
    assert d["weights"] == b.weights_.tolist() and d["is_weights"] == b.is_weights_.tolist()
    assert d["candidates"] == b.candidates_.tolist() and d["selected"] == b.selected_.tolist()
    assert d["transport"] == {
        "cost": b.transport_.cost,
        "n_iter": b.transport_.n_iter,
        "converged": b.transport_.converged,
        "formulation": "semi_relaxed",
        "cost_scale": b.transport_.cost_scale,
    }
    assert d["mean"] == b.mean_.tolist() and d["scale"] == b.scale_.tolist()
    assert (d["n_pool"], d["n_human"], d["n_features"]) == (40, 14, 3)
    raw = AlignedPersonaBuilder("raw").fit_vectors(POOL, HUMAN, personas=PERSONAS).to_dict()
    assert raw["is_weights"] is None and raw["transport"] is None


def test_save_creates_missing_folders_and_writes_an_indented_meta_file(tmp_path):
    from pathlib import Path

    pop = Population(
        personas=(Persona(id="a", text="t"),),
        weights=[1.0],
        construction="aligned",
        metadata={"source": Path("/x/y.csv"), "n": 2},
    )
    path = save_weighted_jsonl(pop, tmp_path / "a" / "b" / "pop.jsonl")
    meta = (tmp_path / "a" / "b" / "pop.jsonl.meta.json").read_text()
    assert meta == json.dumps(
        {"kind": "populace.weighted_personas", "construction": "aligned", "metadata": {"source": "/x/y.csv", "n": 2}},
        indent=2,
    )
    assert load_weighted_jsonl(path).metadata == {"source": "/x/y.csv", "n": 2}


def test_load_tolerance_on_the_weight_sum(tmp_path):
    # np.isclose(total, 1, atol=1e-6) with its relative 1e-5: sums within 1.1e-5 of 1 load, others do not
    p = tmp_path / "off.jsonl"
    p.write_text('{"id": "a", "text": "x", "weight": 0.5}\n{"id": "b", "text": "y", "weight": 0.5000105}\n')
    assert len(load_weighted_jsonl(p)) == 2
    p.write_text('{"id": "a", "text": "x", "weight": 0.5}\n{"id": "b", "text": "y", "weight": 0.500012}\n')
    with pytest.raises(ValueError, match=r"weights sum to 1\.00001, expected 1$"):
        load_weighted_jsonl(p)
