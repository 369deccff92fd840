import networkx as nx
import pytest

from simulator.networks import NetworkSpec, build_graph, check_group_graph, graph_summary


@pytest.mark.parametrize("text", ["erdos_renyi:p=0.1", "watts_strogatz:k=4,p=0.2", "barabasi_albert:m=2"])
def test_generators_are_reproducible_from_the_seed(text):
    spec = NetworkSpec.parse(text)
    a = build_graph(spec, 60, seed=11)
    b = build_graph(spec, 60, seed=11)
    c = build_graph(spec, 60, seed=12)
    assert sorted(a.nodes) == list(range(60))
    assert sorted(a.edges) == sorted(b.edges)
    assert sorted(a.edges) != sorted(c.edges)


def test_watts_strogatz_keeps_the_lattice_edge_count():
    g = build_graph(NetworkSpec(kind="watts_strogatz", params={"k": 4, "p": 0.1}), 200, seed=0)
    assert g.number_of_edges() == 400
    assert graph_summary(g)["components"] == 1


def test_edge_list(tmp_path):
    f = tmp_path / "g.txt"
    f.write_text("# a triangle and a tail\n0 1\n1,2\n2 0\n2 3\n")
    g = build_graph(NetworkSpec.parse(f"edge_list:path={f}"), 4, seed=0)
    assert sorted(g.edges) == [(0, 1), (0, 2), (1, 2), (2, 3)]
    f.write_text("0 1\n1 x\n")
    with pytest.raises(ValueError, match=r"g.txt:2: expected two integer node ids"):
        build_graph(NetworkSpec.parse(f"edge_list:path={f}"), 4, seed=0)
    f.write_text("0 9\n")
    with pytest.raises(ValueError, match=r"g.txt:1: node ids must be in 0..3"):
        build_graph(NetworkSpec.parse(f"edge_list:path={f}"), 4, seed=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_graph(NetworkSpec.parse(f"edge_list:path={tmp_path / 'missing.txt'}"), 4, seed=0)


def test_isolated_agents_are_named():
    g = nx.Graph()
    g.add_nodes_from(range(5))
    g.add_edges_from([(0, 1), (1, 2)])
    with pytest.raises(ValueError, match=r"2 isolated agent\(s\) in the network \(3, 4\)"):
        check_group_graph(g)
    check_group_graph(nx.cycle_graph(5))
    with pytest.raises(ValueError, match="neighbourhood of 5 > 4"):
        check_group_graph(nx.complete_graph(5), max_group=4)


def test_spec_validation_and_round_trip():
    with pytest.raises(ValueError, match="unknown network kind"):
        NetworkSpec(kind="grid")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['q'\]"):
        NetworkSpec.parse("erdos_renyi:q=0.1")
    with pytest.raises(ValueError, match="must be in"):
        NetworkSpec.parse("watts_strogatz:p=1.5")
    with pytest.raises(ValueError, match="name=value"):
        NetworkSpec.parse("watts_strogatz:k")
    spec = NetworkSpec.parse("watts_strogatz:k=6,p=0.05")
    assert spec.params == {"k": 6, "p": 0.05}
    assert NetworkSpec.from_dict(spec.to_dict()) == spec
