import pytest

from experiments.reporting import write_compare
from populations.baselines import FixedPromptBuilder
from simulator.compare import compare_populations
from tests.simulator.fakes import fake_model, two_personas


def test_compare_table_grid_and_costs(tmp_path, data_dir):
    fake = fake_model()
    pops = {"fixed": FixedPromptBuilder().fit().population_, "two": two_personas()}
    res = compare_populations(
        pops,
        ["dictator", "ultimatum_responder"],
        fake,
        n_agents=100,
        seed=0,
        metrics=("w1", "frechet"),
        data_source=str(data_dir),
    )
    assert len(res.table) == 4
    row = res.table.set_index(["population", "scenario"]).loc[("two", "dictator")]
    sim, hum = res.samples[("two", "dictator")]
    assert sim.shape == (100,) and hum.size > 100
    assert row["w1"] > 0 and row["w1_human_floor"] > 0
    assert row["parse_failure_rate"] == pytest.approx(0.1)
    cost = res.cost.set_index("population")
    assert cost.loc["fixed", "distinct_prompts"] == 2 and cost.loc["two", "distinct_prompts"] == 4
    assert cost.loc["two", "backend_calls"] == 4
    out = write_compare(tmp_path, res, llm_model=fake, sources={"fixed": "f", "two": "t"})
    for f in ("table.csv", "table.md", "cost.csv", "grid.png", "manifest.json", "report.md"):
        assert (out / f).is_file()
    assert (res.table["frechet"] >= 0).all()


def test_compare_rejects_unknown_metric():
    with pytest.raises(ValueError, match="unknown metric"):
        compare_populations({"f": two_personas()}, ["dictator"], fake_model(), metrics=("kl",))
