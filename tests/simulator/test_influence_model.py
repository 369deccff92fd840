"""The LLM influence model: a known revision weight is recovered, rounds are synchronous, agents see their own
neighbours, the truth never reaches a prompt, prompts repeat and runs are reproducible."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from alignment.influence import revision_weights
from scenarios.influence import format_number, load_influence, spec_from_influence_document
from simulator.decisions import DecisionService
from simulator.errors import SimulationError
from simulator.influence import InfluenceModel
from simulator.influence_graph import society_graph
from tests.simulator.influence_fakes import fake_degroot_model, three_personas

TOY = """
kind = "influence"
name = "toy"
rounds = 4
group_size = 6
[answers]
low = 1
high = 3000
grid = "exact"
max_exact = 5000
[conditions.full]
rule = "all"
[conditions.net]
rule = "neighbours"
show = "all"
network = "watts_strogatz:k=2,p=0.3"
[conditions.alone]
rule = "none"
[[items]]
id = "Q"
text = "How many?"
truth = 777.777
"""


@pytest.fixture
def toy(tmp_path: Path):
    p = tmp_path / "toy.toml"
    p.write_text(TOY)
    return load_influence(p)


def _run(spec, condition, *, alpha=0.3, n_groups=12, network=None, seed=0, digits=3, group_size=6, **kw):
    net = network or spec.condition(condition).network
    g = society_graph(net, n_groups=n_groups, group_size=group_size, seed=seed, name=condition)
    pop = three_personas()
    m = InfluenceModel(spec=spec, item="Q", condition=condition, graph=g, population=pop,
                       persona_indices=pop.sample(g.n, rng=seed), service=DecisionService(fake_degroot_model(alpha)),
                       seed=seed, shown_digits=digits, **kw)  # fmt: skip
    prompts = []
    while m.running:
        if m._round < m.rounds:
            prompts.append([m.prompt_of(i).prompt for i in range(g.n)])
        m.step()
    return m, m.result(), prompts


@pytest.mark.parametrize("alpha", [0.15, 0.3, 0.6])
@pytest.mark.parametrize("condition", ["full", "net"])
def test_a_fake_with_known_revision_weight_is_recovered_within_two_hundredths(toy, alpha, condition):
    _, run, _ = _run(toy, condition, alpha=alpha)
    est = revision_weights(run.estimates, run.references)
    assert np.nanmedian(est) == pytest.approx(alpha, abs=0.02)
    assert run.parse_failure_rate == pytest.approx(0.05)
    assert run.answer_grid == "exact integers 1..3000"


def test_no_information_means_no_revision(toy):
    _, run, prompts = _run(toy, "alone")
    assert np.all(run.estimates == run.estimates[:, :, :1])
    assert not any("estimates of" in p for round_ in prompts for p in round_)


def test_each_agent_sees_exactly_its_own_neighbours_last_round(toy):
    m, run, prompts = _run(toy, "net", n_groups=2)
    flat = run.estimates.reshape(-1, run.estimates.shape[2])
    for t in range(1, m.rounds):
        for i in range(m.graph.n):
            shown = prompts[t][i].split("were: ")[1].split(".\n")[0]
            expect = ", ".join(format_number(v, 3) for v in np.sort(flat[m.graph.neighbours(i), t - 1]))
            assert shown == expect, (t, i)
            assert f"Your last estimate was {format_number(flat[i, t - 1], None)}." in prompts[t][i]


def test_a_star_hub_sees_every_spoke_and_a_spoke_only_the_hub(toy):
    m, run, prompts = _run(toy, "net", n_groups=1, network="star")
    x = run.estimates[0]
    hub_values = prompts[1][0].split("were: ")[1].split(".\n")[0].split(", ")
    assert len(hub_values) == 5 and prompts[1][3].split("were: ")[1].startswith(format_number(x[0, 0], 3) + ".")


def test_the_truth_never_reaches_a_prompt(toy):
    for cond in ("full", "net", "alone"):
        _, _, prompts = _run(toy, cond)
        text = "\n".join(p for r in prompts for p in r)
        assert "777.777" not in text and "777.8" not in text and "778" not in text


def test_rounding_of_shown_numbers_is_a_knob_and_shares_prompts(toy):
    _, coarse, p1 = _run(toy, "full", digits=1)
    _, exact, p2 = _run(toy, "full", digits=None)
    assert sum(coarse.distinct_prompts) <= sum(exact.distinct_prompts)
    assert re.search(r"were: [\d, ]+\.", p1[1][0])


def test_same_seed_same_run_other_seed_other_personas(toy):
    _, a, _ = _run(toy, "net", seed=4)
    _, b, _ = _run(toy, "net", seed=4)
    _, c, _ = _run(toy, "net", seed=5)
    assert np.array_equal(a.estimates, b.estimates) and not np.array_equal(a.estimates, c.estimates)


def test_given_first_answers_are_kept(toy):
    init = np.linspace(10, 600, 12)
    _, run, _ = _run(toy, "full", n_groups=2, initial=init)
    assert run.estimates[:, :, 0].reshape(-1).tolist() == init.tolist()


def test_a_graph_with_fewer_nodes_than_agents_is_one_line(toy, tmp_path):
    with pytest.raises(SimulationError, match=r"has 4 nodes but there are 6 agents.*nodes 0\.\.5"):
        society_graph(nx.path_graph(4), n_groups=2, group_size=6, seed=0)
    edges = tmp_path / "g.txt"
    edges.write_text("0 1\n1 2\n2 3\n")
    with pytest.raises(SimulationError, match="g.txt has 4 nodes but there are 6 agents per group; add edges"):
        society_graph(f"edge_list:path={edges}", n_groups=1, group_size=6, seed=0)


def test_the_experiments_groups_are_disjoint_complete_graphs():
    g = society_graph("complete", n_groups=3, group_size=4, seed=0)
    assert g.n == 12 and g.degrees().tolist() == [3] * 12
    assert g.neighbours(5).tolist() == [4, 6, 7] and g.view(5, "mean").tolist() == [4, 5, 6, 7]
    rr = society_graph("random_regular:d=3", n_groups=2, group_size=8, seed=1)
    assert rr.degrees().tolist() == [3] * 16 and set(rr.neighbours(9)) <= set(range(8, 16))


def test_log_grid_answers_are_labelled(tmp_path):
    doc = {"kind": "influence", "name": "g", "rounds": 2, "group_size": 3, "answers": {"low": 1, "high": 1e6},
           "conditions": {"c": {"rule": "mean"}}, "items": [{"id": "Q", "text": "How many?", "truth": 5.0}]}  # fmt: skip
    spec = spec_from_influence_document(doc, file="g.toml", base_dir=tmp_path)
    grid = spec.items[0].grid
    assert grid.label == "log-grid (25 options, 4 per decade)" and grid.values[0] == 1 and grid.values[-1] == 1e6
    assert grid.nearest(np.array([0.2, 170.0, 2e9])).tolist() == [1.0, 180.0, 1e6]
    q = spec.question(spec.items[0])
    assert q.answers.high == 25 and "25 = 1,000,000" in q.prompt


def test_a_paired_whatif_of_the_rule_shows_the_known_effect(toy):
    from simulator.influence_study import influence_whatif

    effects, runs = influence_whatif(toy, "Q", three_personas(), DecisionService(fake_degroot_model(0.5)),
                                     control=("none", "complete"), treated=("all", "complete"), n_groups=8, seed=1,
                                     n_boot=200)  # fmt: skip
    div = {e.outcome: e for e in effects}["diversity_ratio"]
    assert div.control == pytest.approx(1.0) and div.treated < 0.1  # (1 - 0.5)^6 of the fake's DeGroot moves
    assert div.ci_low <= div.difference <= div.ci_high < 0 and div.groups == 8
    # same personas in both arms: round 1 is identical
    assert np.array_equal(runs["control"].estimates[:, :, 0], runs["treated"].estimates[:, :, 0])


def test_given_rounds_do_not_count_as_parsed(toy):
    _, run, _ = _run(toy, "full", n_groups=2, initial=np.linspace(10, 600, 12))
    assert run.asked_from == 1 and run.parse_failure_rate == pytest.approx(0.05)
