"""Social networks for repeated games: seeded graph generators and validation.

Nodes are always the integers ``0..n-1`` (node ``i`` is agent ``i``). Generators (networkx):

* ``erdos_renyi`` — G(n, p) (Erdős & Rényi 1959), parameter ``p`` (default ``4 / (n - 1)``);
* ``watts_strogatz`` — ring lattice with ``k`` neighbours, each edge rewired with probability ``p``
  (Watts & Strogatz 1998), defaults ``k=4, p=0.1``; the connected variant is used;
* ``barabasi_albert`` — preferential attachment with ``m`` edges per new node (Barabási & Albert 1999), default ``m=2``;
* ``complete`` — everyone connected (a group of the Lorenz et al. 2011 experiment);
* ``random_regular`` — a random ``d``-regular graph (``n·d`` even), default ``d=4``;
* ``star`` — node 0 is the hub, every other node its spoke (a centralized network);
* ``edge_list`` — a text file with one edge ``u v`` (or ``u,v``) per line over nodes ``0..n-1``; ``#`` comments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from simulator.errors import SimulationError

__all__ = ["KINDS", "NetworkSpec", "build_graph", "check_group_graph", "graph_summary"]

KINDS = ("erdos_renyi", "watts_strogatz", "barabasi_albert", "complete", "random_regular", "star", "edge_list")
_PARAMS: dict[str, dict[str, type]] = {
    "erdos_renyi": {"p": float},
    "watts_strogatz": {"k": int, "p": float},
    "barabasi_albert": {"m": int},
    "complete": {},
    "random_regular": {"d": int},
    "star": {},
    "edge_list": {"path": str},
}


@dataclass(frozen=True, kw_only=True)
class NetworkSpec:
    """Which graph to build.

    Attributes:
        kind: one of :data:`KINDS`.
        params: generator parameters (see the module docstring); unknown names raise.
    """

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SimulationError(f"unknown network kind {self.kind!r}; use one of {KINDS}")
        allowed = _PARAMS[self.kind]
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            raise SimulationError(
                f"unknown parameter(s) {unknown} for network {self.kind!r}; allowed: {sorted(allowed)}"
            )
        try:
            coerced = {k: allowed[k](v) for k, v in self.params.items()}
        except (TypeError, ValueError) as exc:
            raise SimulationError(f"network {self.kind!r}: bad parameter value in {self.params}: {exc}") from exc
        if "p" in coerced and not 0.0 <= coerced["p"] <= 1.0:
            raise SimulationError(f"network {self.kind!r}: p={coerced['p']} must be in [0, 1]")
        for name in ("k", "m", "d"):
            if name in coerced and coerced[name] < 1:
                raise SimulationError(f"network {self.kind!r}: {name}={coerced[name]} must be >= 1")
        if self.kind == "edge_list" and "path" not in coerced:
            raise SimulationError("network 'edge_list' needs params {'path': FILE}")
        object.__setattr__(self, "params", coerced)

    @classmethod
    def parse(cls, text: str) -> NetworkSpec:
        """Parse ``kind[:name=value,...]``, e.g. ``watts_strogatz:k=4,p=0.1`` or ``edge_list:path=g.txt``."""
        kind, _, rest = text.partition(":")
        params: dict[str, Any] = {}
        for part in filter(None, rest.split(",")):
            name, eq, value = part.partition("=")
            if not eq:
                raise SimulationError(f"network option {part!r} in {text!r} must look like name=value")
            params[name.strip()] = value.strip()
        return cls(kind=kind.strip(), params=params)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"kind": self.kind, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(kind=d["kind"], params=dict(d.get("params", {})))


def _read_edge_list(path: str | os.PathLike[str], n: int) -> nx.Graph:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"edge list {p} does not exist")
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].replace(",", " ").split()
        if not text:
            continue
        if len(text) != 2 or not all(t.lstrip("-").isdigit() for t in text):
            raise SimulationError(f"{p}:{lineno}: expected two integer node ids 'u v', got {line.strip()!r}")
        u, v = int(text[0]), int(text[1])
        if not (0 <= u < n and 0 <= v < n):
            raise SimulationError(f"{p}:{lineno}: node ids must be in 0..{n - 1} for {n} agents, got {u} {v}")
        if u == v:
            raise SimulationError(f"{p}:{lineno}: self-loop {u}-{v}; remove it")
        g.add_edge(u, v)
    return g


def build_graph(spec: NetworkSpec, n: int, *, seed: int | np.random.SeedSequence) -> nx.Graph:
    """Build the graph of ``n`` agents, reproducibly from ``seed``.

    Args:
        spec: which generator and its parameters.
        n: number of agents (nodes ``0..n-1``).
        seed: an int or a ``SeedSequence`` (a child stream of the run seed).

    Returns:
        An undirected ``networkx.Graph`` with nodes ``0..n-1``.
    """
    if n < 2:
        raise SimulationError(f"a network needs at least 2 agents, got {n}")
    s = (
        int(np.random.SeedSequence(seed).generate_state(1)[0])
        if isinstance(seed, int)
        else int(seed.generate_state(1)[0])
    )
    p = spec.params
    if spec.kind == "erdos_renyi":
        g = nx.gnp_random_graph(n, p.get("p", min(1.0, 4.0 / (n - 1))), seed=s)
    elif spec.kind == "watts_strogatz":
        k = p.get("k", 4)
        if k >= n:
            raise SimulationError(f"watts_strogatz: k={k} must be smaller than the number of agents {n}")
        g = nx.connected_watts_strogatz_graph(n, k, p.get("p", 0.1), tries=100, seed=s)
    elif spec.kind == "barabasi_albert":
        m = p.get("m", 2)
        if m >= n:
            raise SimulationError(f"barabasi_albert: m={m} must be smaller than the number of agents {n}")
        g = nx.barabasi_albert_graph(n, m, seed=s)
    elif spec.kind == "complete":
        g = nx.complete_graph(n)
    elif spec.kind == "random_regular":
        d = p.get("d", 4)
        if d >= n or (n * d) % 2:
            raise SimulationError(f"random_regular: need d < {n} agents and n·d even, got d={d}; choose another d")
        g = nx.random_regular_graph(d, n, seed=s)
    elif spec.kind == "star":
        g = nx.star_graph(n - 1)
    else:
        g = _read_edge_list(p["path"], n)
    out = nx.Graph()
    out.add_nodes_from(range(n))
    out.add_edges_from(sorted((min(u, v), max(u, v)) for u, v in g.edges()))
    return out


def check_group_graph(graph: nx.Graph, *, max_group: int | None = None) -> None:
    """Raise before any LLM call when a group game cannot be played on ``graph``.

    Raises:
        ValueError: isolated agents (naming up to ten of them), or a neighbourhood larger than ``max_group``.
    """
    isolated = sorted(nx.isolates(graph))
    if isolated:
        shown = ", ".join(map(str, isolated[:10])) + (" …" if len(isolated) > 10 else "")
        raise SimulationError(
            f"{len(isolated)} isolated agent(s) in the network ({shown}): they have no one to play with; "
            "use a denser graph (larger p/k/m) or connect them in the edge list"
        )
    if max_group is not None:
        big = [v for v, d in graph.degree() if d + 1 > max_group]
        if big:
            raise SimulationError(
                f"agent {big[0]} has a neighbourhood of {graph.degree(big[0]) + 1} > {max_group} (the largest group "
                "the game allows); use a sparser graph"
            )


def graph_summary(graph: nx.Graph) -> dict[str, Any]:
    """Nodes, edges, degree range and mean, number of connected components."""
    deg = np.array([d for _, d in graph.degree()], dtype=float)
    return {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "degree_min": int(deg.min()),
        "degree_max": int(deg.max()),
        "degree_mean": float(deg.mean()),
        "components": nx.number_connected_components(graph),
    }
