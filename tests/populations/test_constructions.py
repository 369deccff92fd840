"""The construction registry on its own: parameters, estimates, the per-dimension join rule and one name per kind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from populations.constructions import (
    BuildContext,
    ConstructionError,
    Estimate,
    build_construction,
    construction_kinds,
    estimate_construction,
    get_construction,
)
from populations.persona import Persona, Population
from scenarios.errors import ScenarioError, ScenarioFileError
from scenarios.schema import Param, at_least, params_markdown, read_table


def test_read_table_fills_defaults_checks_and_resolves(tmp_path):
    keys = {
        "n": Param("int", 3, at_least(1), "a count"),
        "x": Param("float", 0.5, None, "a share"),
        "path": Param("str", None, None, "a file", resolve=lambda v, base: str(base / v)),
        "must": Param("str", help="required"),
    }
    got = read_table({"x": 1, "path": "a.json", "must": "m"}, keys, file="f.toml", base=tmp_path)
    assert got == {"n": 3, "x": 1.0, "path": str(tmp_path / "a.json"), "must": "m"}
    assert isinstance(got["x"], float)
    with pytest.raises(ScenarioFileError, match=r"^f\.toml: t\.n = 0 must be >= 1$"):
        read_table({"n": 0, "must": "m"}, keys, file="f.toml", where="t.")
    with pytest.raises(ScenarioFileError, match=r"f\.toml: t\.must: missing required key for it; add must = "):
        read_table({}, keys, file="f.toml", where="t.", what="it")
    with pytest.raises(ScenarioFileError, match=r"unknown key\(s\) \['nn'\] for it; did you mean 'n'\?"):
        read_table({"nn": 1, "must": "m"}, keys, file="f.toml", what="it")
    with pytest.raises(ValueError, match=r"f\.toml: x: expected a number, got a string 'a'; write e\.g\. x = 0\.5"):
        read_table({"x": "a", "must": "m"}, keys, file="f.toml", error=ValueError)

    def refuse(value, base):
        raise ValueError(f"no {value} here")

    with pytest.raises(ValueError, match=r"f\.toml: p: no q here"):
        read_table({"p": "q"}, {"p": Param("str", resolve=refuse)}, file="f.toml", base=tmp_path, error=ValueError)
    md = params_markdown("t", keys)
    assert "| `n` | int | `3` | a count |" in md and "| `must` | str | required | required |" in md


def test_defaults_and_unknown_parameters():
    em = get_construction("em")
    assert em.defaults()["n_components"] == 5 and em.defaults(max_iter=2)["max_iter"] == 2
    with pytest.raises(ConstructionError, match="kind 'em' has no parameter 'pool'"):
        em.defaults(pool="x")
    with pytest.raises(ConstructionError, match="kind 'pool' needs the parameter 'pool'"):
        get_construction("pool").defaults()


def test_per_dimension_estimate_adds_every_component_on_every_question():
    mop = get_construction("mop")
    p = mop.defaults(n_personas=2, n_exemplars=1)
    one = estimate_construction(mop, p, [4])
    assert one == Estimate(3, 12, one.tokens)
    joint = estimate_construction(mop, p, [4, 6])
    # per dimension 3 components × its questions, then 6 components × all 10 questions
    assert (joint.components, joint.requests) == (6, 3 * 4 + 3 * 6 + 6 * 10)
    aligned = get_construction("aligned")  # built once on the vectors: not per dimension
    assert estimate_construction(aligned, aligned.defaults(pool="p"), [4, 6]).requests == 40 * 10


def test_target_free_kinds_build_without_model_or_humans(personas_dir, tmp_path):
    ctx = BuildContext(seed=3)
    fixed = build_construction("fixed", ctx, get_construction("fixed").defaults())
    assert fixed.population.construction == "fixed" and len(fixed.population) == 1
    pool = build_construction("pool", ctx, {"pool": str(personas_dir / "personachat"), "n_personas": 4})
    again = build_construction("pool", ctx, {"pool": str(personas_dir / "personachat"), "n_personas": 4})
    assert pool.population.construction == "pool" and len(pool.population) == 4
    assert [p.id for p in pool.population.personas] == [p.id for p in again.population.personas]
    path = Population(personas=(Persona(id="a", text="t"),), weights=np.ones(1), construction="em").save(
        tmp_path / "p.json"
    )
    assert build_construction("file", ctx, {"path": str(path)}).population.construction == "em"
    assert all(not k.needs_model for k in construction_kinds() if k.target_free)


def test_demographic_kind_draws_fit_half_respondents_on_big_five(data_dir):
    from populations.constructions.baselines import big5_fit_rows
    from scenarios.registry import get_scenario

    scenario = get_scenario("bigfive:E", source=str(data_dir))
    ctx = BuildContext(scenario=scenario, source=str(data_dir), seed=0, split_seed=4, fit_fraction=0.5)
    pop = build_construction("demographic", ctx, {"n_personas": 30}).population
    rows = set(big5_fit_rows(scenario, seed=4, fit_fraction=0.5, source=str(data_dir)).tolist())
    assert pop.construction == "demographic" and {p.attributes["row"] for p in pop.personas} <= rows
    assert pop.metadata["fit_half_only"] is True
    with pytest.raises(ScenarioError, match=r"^scenario dictator declares no data.demographics.*docs/scenario_files"):
        build_construction(
            "demographic", BuildContext(scenario=get_scenario("dictator"), source=str(data_dir)), {"n_personas": 3}
        )


@pytest.mark.parametrize(
    ("old", "new"), [("fixed_prompt", "fixed"), ("random_persona", "pool"), ("demographic_persona", "demographic")]
)
def test_old_construction_names_read_as_the_one_name(tmp_path, old, new):
    doc = {
        "kind": "populace.population",
        "personas": [{"id": "a", "text": "t"}],
        "weights": [1.0],
        "construction": old,
    }
    (tmp_path / "p.json").write_text(json.dumps(doc))
    assert Population.load(tmp_path / "p.json").construction == new
    assert {k.name for k in construction_kinds()} >= {new}


def test_every_builder_has_the_one_fit_signature():
    import inspect

    from populations.aligned import AlignedPersonaBuilder
    from populations.base import BaseBuilder
    from populations.baselines import DemographicPersonaBuilder, FixedPromptBuilder, RandomPersonaBuilder
    from populations.mixture import PromptMixtureBuilder
    from populations.mop import MixtureOfPersonasBuilder

    for cls in (
        BaseBuilder,
        FixedPromptBuilder,
        RandomPersonaBuilder,
        DemographicPersonaBuilder,
        PromptMixtureBuilder,
        MixtureOfPersonasBuilder,
        AlignedPersonaBuilder,
    ):
        params = list(inspect.signature(cls.fit).parameters.values())
        assert [p.name for p in params] == ["self", "scenario", "values", "sample_weight"], cls
        assert params[3].kind is inspect.Parameter.KEYWORD_ONLY and params[3].default is None, cls
    with pytest.raises(NotImplementedError, match="must implement fit"):
        BaseBuilder().fit(None, None)
