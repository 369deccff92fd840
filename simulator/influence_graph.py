"""Who sees whom in a social-influence run: the society graph, groups, and what each information rule shows.

A society is ``G`` groups of ``N`` agents (agent ``i`` is node ``i``; group ``g`` holds nodes ``g·N .. g·N+N-1``),
each group wired by one graph family (:mod:`simulator.networks`: ``complete`` — the groups of Lorenz et al. 2011 —,
``watts_strogatz``, ``random_regular``, ``star``, ``erdos_renyi``, ``barabasi_albert``, ``edge_list``). One group of
``n`` agents on one graph is a whole society (``populace run --influence``).

What an agent sees in round ``t > 1`` comes only from the answers of round ``t - 1`` (rounds are synchronous):
its *view* is its closed neighbourhood (itself and its neighbours) under ``none``/``mean``/``all``, and its open
neighbourhood under ``neighbours``. The view's geometric mean is the reference of the revision weight
(:func:`alignment.influence.revision_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
from scipy import sparse

from populace_lm.seeds import seed_int
from simulator.errors import SimulationError
from simulator.networks import NetworkSpec, build_graph

__all__ = ["SocietyGraph", "society_graph", "view_matrix"]


@dataclass(frozen=True, kw_only=True)
class SocietyGraph:
    """The graph of a society and its groups.

    Attributes:
        indptr: CSR row pointers of the open neighbourhoods, shape ``(n + 1,)``.
        indices: neighbours of every node, row by row ascending, shape ``(2·edges,)``.
        groups: each node's group, shape ``(n,)``.
        group_size: agents per group ``N``.
        network: the within-group graph family, as text (``"complete"``, ``"watts_strogatz:k=4,p=0.1"``).
    """

    indptr: np.ndarray
    indices: np.ndarray
    groups: np.ndarray
    group_size: int
    network: str

    @property
    def n(self) -> int:
        """Number of agents."""
        return int(self.groups.size)

    @property
    def n_groups(self) -> int:
        """Number of groups ``G``."""
        return self.n // self.group_size

    def neighbours(self, i: int) -> np.ndarray:
        """The neighbours of node ``i``, ascending, shape ``(deg_i,)``."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def view(self, i: int, rule: str) -> np.ndarray:
        """The nodes whose last answers node ``i`` sees under ``rule`` (closed or open neighbourhood), ascending."""
        nb = self.neighbours(i)
        return nb if rule == "neighbours" else np.sort(np.append(nb, i))

    def degrees(self) -> np.ndarray:
        """Degree of every node, shape ``(n,)``."""
        return np.diff(self.indptr)


def _checked(graph: nx.Graph, n: int, what: str) -> nx.Graph:
    nodes = graph.number_of_nodes()
    if nodes < n:
        raise SimulationError(
            f"{what} has {nodes} nodes but there are {n} agents to place on it; give a graph over nodes 0..{n - 1} "
            f"or use {nodes} agents per group"
        )
    if set(graph.nodes) != set(range(nodes)):
        raise SimulationError(f"{what}: nodes must be the integers 0..{nodes - 1}; relabel them")
    return graph.subgraph(range(n)).copy() if nodes > n else graph


def _edge_list_nodes(path: str) -> int:
    text = Path(path).read_text(encoding="utf-8") if Path(path).is_file() else ""
    ids = [int(t) for line in text.splitlines() for t in line.split("#", 1)[0].replace(",", " ").split()
           if t.lstrip("-").isdigit()]  # fmt: skip
    return max(ids) + 1 if ids else 0


def society_graph(
    network: str | NetworkSpec | nx.Graph, *, n_groups: int, group_size: int, seed: int, name: str = ""
) -> SocietyGraph:
    """Build ``n_groups`` groups of ``group_size`` agents, each wired by ``network``, reproducibly from ``seed``.

    Args:
        network: a graph family (``"complete"``, ``"watts_strogatz:k=4,p=0.1"``, a :class:`NetworkSpec`) or one
            ``networkx`` graph over nodes ``0..N-1`` used for every group.
        n_groups: groups ``G``.
        group_size: agents per group ``N``.
        seed: the run's root seed; group ``g`` draws from the stream ``("influence-network", name, g)``.
        name: the stream name (the condition), so two conditions draw different graphs.

    Raises:
        SimulationError: fewer nodes than agents, an unknown family or bad parameters (one line, naming the fix).
    """
    if n_groups < 1 or group_size < 2:
        raise SimulationError(f"need at least 1 group of at least 2 agents, got {n_groups} × {group_size}")
    label = network if isinstance(network, str) else getattr(network, "kind", "graph")
    if isinstance(network, nx.Graph):
        fixed = _checked(network, group_size, "the given graph")
    else:
        spec = NetworkSpec.parse(network) if isinstance(network, str) else network
        label = spec.kind + (":" + ",".join(f"{k}={v}" for k, v in spec.params.items()) if spec.params else "")
        if spec.kind == "edge_list":
            nodes = _edge_list_nodes(spec.params["path"])
            if nodes < group_size:
                raise SimulationError(
                    f"edge list {spec.params['path']} has {nodes} nodes but there are {group_size} agents per group; "
                    f"add edges for nodes {nodes}..{group_size - 1} or set the group size to {nodes}"
                )
        fixed = None
    if fixed is None and spec.kind == "complete":
        fixed = nx.complete_graph(group_size)
    rows, cols = [], []
    if fixed is not None:  # the same graph in every group: tile its edges (no per-group Python loop)
        base = np.asarray(sorted(fixed.edges()), dtype=np.int64).reshape(-1, 2)
        e = (base[None, :, :] + (np.arange(n_groups) * group_size)[:, None, None]).reshape(-1, 2)
        rows, cols = [e[:, 0], e[:, 1]], [e[:, 1], e[:, 0]]
    else:
        for g in range(n_groups):
            graph = build_graph(spec, group_size, seed=seed_int(seed, "influence-network", name, g))
            e = np.asarray(list(graph.edges()), dtype=np.int64).reshape(-1, 2) + g * group_size
            rows += [e[:, 0], e[:, 1]]
            cols += [e[:, 1], e[:, 0]]
    n = n_groups * group_size
    r = np.concatenate(rows) if rows else np.empty(0, np.int64)
    c = np.concatenate(cols) if cols else np.empty(0, np.int64)
    adj = sparse.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    adj.sum_duplicates()
    adj.sort_indices()
    return SocietyGraph(
        indptr=adj.indptr.astype(np.int64),
        indices=adj.indices.astype(np.int64),
        groups=np.repeat(np.arange(n_groups), group_size),
        group_size=group_size,
        network=str(label),
    )


def view_matrix(graph: SocietyGraph, rule: str) -> sparse.csr_matrix:
    """Row-stochastic matrix ``W``, ``(n, n)``: ``(W y)_i`` is the mean of ``y`` over node ``i``'s view.

    Under ``neighbours`` an isolated node's view is empty; its row is then its own (it sees nothing to move to).
    """
    n = graph.n
    adj = sparse.csr_matrix((np.ones(graph.indices.size), graph.indices, graph.indptr), shape=(n, n))
    if rule != "neighbours":
        adj = adj + sparse.identity(n, format="csr")
    deg = np.asarray(adj.sum(axis=1)).ravel()
    lonely = deg == 0
    if lonely.any():
        adj = adj + sparse.diags(lonely.astype(float), format="csr")
        deg = np.where(lonely, 1.0, deg)
    return sparse.diags(1.0 / deg) @ adj
