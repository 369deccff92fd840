import numpy as np
import pytest

from populations.base import NotFittedError
from populations.baselines import DemographicPersonaBuilder, RandomPersonaBuilder
from populations.pool_builders import big5_respondent_pool
from populations.pools import PoolError


@pytest.mark.parametrize("pool", ["personahub", "personachat"])
def test_random_personas_from_public_pools(personas_dir, pool):
    b = RandomPersonaBuilder(personas_dir / pool, n_personas=7, random_state=3).fit()
    pop = b.population_
    assert len(pop) == 7 and pop.construction == "pool"
    assert np.allclose(pop.weights, 1 / 7)
    assert all(
        p.text.startswith("You are the following person. ") and p.attributes["pool"] == pool for p in pop.personas
    )
    same = RandomPersonaBuilder(personas_dir / pool, n_personas=7, random_state=3).fit().population_
    other = RandomPersonaBuilder(personas_dir / pool, n_personas=7, random_state=4).fit().population_
    assert [p.id for p in same.personas] == [p.id for p in pop.personas]
    assert [p.id for p in other.personas] != [p.id for p in pop.personas]
    assert len(b.sample(20, rng=0).personas) <= 7


def test_random_persona_bad_input(personas_dir, tmp_path):
    with pytest.raises(ValueError, match="n_personas=0 must be between 1 and the pool size"):
        RandomPersonaBuilder(personas_dir / "personachat", n_personas=0).fit()
    with pytest.raises(PoolError, match="not found"):
        RandomPersonaBuilder(tmp_path / "nope", n_personas=1).fit()
    with pytest.raises(NotFittedError, match="RandomPersonaBuilder is not fitted"):
        RandomPersonaBuilder().sample(1, rng=0)


def test_demographic_personas_from_big5_respondents(data_dir):
    b = DemographicPersonaBuilder(12, source=str(data_dir), random_state=0).fit()
    pop = b.population_
    assert len(pop) == 12 and pop.construction == "demographic"
    for p in pop.personas:
        a = p.attributes
        assert a["pool"] == "big5" and p.text.startswith("You are")
        if a.get("age") is not None:
            assert f"{int(a['age'])}-year-old" in p.text
    # one template and one country table: the builder's personas are the respondent pool's
    same = big5_respondent_pool(str(data_dir), n=12, rng=0)
    assert [(p.id, p.text) for p in pop.personas] == [(p.id, p.text) for p in same]
    again = DemographicPersonaBuilder(12, source=str(data_dir), random_state=0).fit().population_
    assert [p.id for p in again.personas] == [p.id for p in pop.personas]
    with pytest.raises(PoolError, match="requested 1000000000 respondents"):
        DemographicPersonaBuilder(10**9, source=str(data_dir)).fit()


def test_demographic_personas_keep_to_the_given_rows(data_dir):
    rows = np.arange(0, 40, 2)
    pop = DemographicPersonaBuilder(10, source=str(data_dir), rows=rows, random_state=1).fit().population_
    assert {p.attributes["row"] for p in pop.personas} <= set(rows.tolist())
    assert pop.metadata["fit_half_only"] is True
