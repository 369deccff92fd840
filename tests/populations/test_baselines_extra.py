import numpy as np
import pytest

from populations.base import NotFittedError
from populations.baselines import DemographicPersonaBuilder, RandomPersonaBuilder, demographic_persona_text
from populations.pools import PoolError


@pytest.mark.parametrize("pool", ["personahub", "personachat"])
def test_random_personas_from_public_pools(personas_dir, pool):
    b = RandomPersonaBuilder(personas_dir / pool, n_personas=7, random_state=3).fit()
    pop = b.population_
    assert len(pop) == 7 and pop.construction == "random_persona"
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


def test_demographic_persona_template():
    assert demographic_persona_text(18, 1, "US", 1) == (
        "You are an 18-year-old man from the United States. English is your native language. "
        "Answer every question as yourself."
    )
    assert demographic_persona_text(40, 2, "ZZ", 2).startswith(
        "You are a 40-year-old woman from the country with code ZZ. English is not your native language."
    )
    assert demographic_persona_text(float("nan"), None, None) == "You are a person. Answer every question as yourself."


def test_demographic_personas_from_big5_respondents(data_dir):
    b = DemographicPersonaBuilder(12, source=str(data_dir), random_state=0).fit()
    pop = b.population_
    assert len(pop) == 12 and pop.construction == "demographic_persona"
    for p in pop.personas:
        a = p.attributes
        assert 13 <= a["age"] <= 99 and a["gender"] in (1.0, 2.0, 3.0) and a["country"]
        assert f"{int(a['age'])}-year-old" in p.text
    again = DemographicPersonaBuilder(12, source=str(data_dir), random_state=0).fit().population_
    assert [p.id for p in again.personas] == [p.id for p in pop.personas]
    with pytest.raises(ValueError, match="complete demographics"):
        DemographicPersonaBuilder(10**9, source=str(data_dir)).fit()
