"""Classical opinion dynamics on the society graph, vectorised (numpy + scipy.sparse), fitted to human rounds.

Every model updates log estimates ``y = log max(x, 1)`` synchronously from what each agent's information rule
lets it see (its *view*, :mod:`simulator.influence_graph`); ``W`` is the row-stochastic view matrix, so ``(W y)_i``
is the log of the geometric mean of node ``i``'s view. Under the rule ``none`` an agent sees nothing and ``W = I``.

* **DeGroot** (DeGroot 1974, "Reaching a consensus", JASA 69:118-121): ``y_{t+1} = y_t + α (W y_t - y_t)``.
* **Friedkin–Johnsen** (Friedkin & Johnsen 1990, J. Math. Sociol. 15:193-206), stubbornness ``s``:
  ``y_{t+1} = s y_1 + (1 - s) (y_t + α (W y_t - y_t))`` — each agent stays anchored to its first estimate.
* **Bounded confidence** (Hegselmann & Krause 2002, JASSS 5(3)): agents average only the view members within
  ``ε`` (log units) of themselves: ``y_{t+1} = y_t + α (mean_{j ∈ view_i, |y_j - y_i| <= ε} y_j - y_t)``.

Fitting (:func:`fit_opinion_model`) uses one-step predictions on human groups (complete groups: the view of a
member is its whole group) and least squares: DeGroot's α in closed form, Friedkin–Johnsen's ``(s, α(1-s))`` as a
two-regressor least-squares problem, bounded confidence's ``ε`` on a grid with α in closed form at each ``ε``.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np
from scipy import sparse

from simulator.errors import SimulationError
from simulator.influence_graph import SocietyGraph, view_matrix

__all__ = ["OPINION_MODELS", "OpinionModel", "OpinionSociety", "fit_opinion_model", "simulate_opinions"]

OPINION_MODELS = ("degroot", "friedkin_johnsen", "bounded_confidence")
_EPS_GRID = np.r_[np.geomspace(0.05, 10.0, 40), np.inf]


@dataclass(frozen=True, kw_only=True)
class OpinionModel:
    """A classical update rule with its parameters.

    Attributes:
        kind: one of :data:`OPINION_MODELS`.
        alpha: weight on the view's (geometric) mean, in [0, 1].
        stubbornness: Friedkin–Johnsen's anchor weight ``s`` on the first estimate, in [0, 1].
        epsilon: bounded confidence's radius in log units (``inf`` = DeGroot).
    """

    kind: str
    alpha: float
    stubbornness: float = 0.0
    epsilon: float = float("inf")

    def __post_init__(self) -> None:
        if self.kind not in OPINION_MODELS:
            raise SimulationError(f"unknown opinion model {self.kind!r}; use one of {OPINION_MODELS}")
        if not 0.0 <= self.alpha <= 1.0 or not 0.0 <= self.stubbornness <= 1.0 or not self.epsilon > 0:
            raise SimulationError(
                f"{self.kind}: need 0 <= alpha <= 1, 0 <= stubbornness <= 1 and epsilon > 0, got {self.params()}"
            )

    def params(self) -> dict[str, float]:
        """The parameters that matter for this kind."""
        out = {"alpha": self.alpha}
        if self.kind == "friedkin_johnsen":
            out["stubbornness"] = self.stubbornness
        if self.kind == "bounded_confidence":
            out["epsilon"] = self.epsilon
        return out


def _view_edges(graph: SocietyGraph, rule: str) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(graph.n), graph.degrees())
    cols = graph.indices
    if rule != "neighbours":
        rows, cols = np.r_[rows, np.arange(graph.n)], np.r_[cols, np.arange(graph.n)]
    return rows, cols


def _update(
    model: OpinionModel,
    y: np.ndarray,
    y1: np.ndarray,
    w: sparse.csr_matrix,
    rule: str,
    edges: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """One synchronous round of ``model`` from log estimates ``y`` (first round ``y1``), shape ``(n,)``."""
    if model.kind == "bounded_confidence" and rule != "none" and np.isfinite(model.epsilon):
        rows, cols = edges
        near = np.abs(y[cols] - y[rows]) <= model.epsilon
        cnt = np.bincount(rows, weights=near, minlength=y.size)
        tot = np.bincount(rows, weights=np.where(near, y[cols], 0.0), minlength=y.size)
        target = np.where(cnt > 0, tot / np.maximum(cnt, 1), y)
    else:
        target = w @ y
    moved = y + model.alpha * (target - y)
    return model.stubbornness * y1 + (1.0 - model.stubbornness) * moved if model.kind == "friedkin_johnsen" else moved


def simulate_opinions(
    model: OpinionModel, x1: np.ndarray, graph: SocietyGraph, rule: str, rounds: int
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``rounds`` synchronous rounds from first estimates ``x1`` (:class:`OpinionSociety`, stepped to the end).

    Args:
        model: the update rule.
        x1: round-1 estimates, shape ``(n,)`` (positive).
        graph: the society (``graph.n == n``).
        rule: the information rule (``none`` freezes the estimates: nothing is seen).
        rounds: total rounds ``R`` including the first.

    Returns:
        ``(estimates, references)``, each ``(n, R)``: estimates, and the geometric mean of each agent's view per
        round (the revision weight's reference).
    """
    society = OpinionSociety(model=model, x1=x1, graph=graph, rule=rule, rounds=rounds)
    while society.running:
        society.step()
    return society.estimates, society.references


def _steps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logs of complete groups ``(G, N, R)``: (y_t, y_{t+1}, y_1, group log-mean) stacked over steps, each flat."""
    y = np.log(np.maximum(np.asarray(x, dtype=float), 1.0))
    r = np.nanmean(y, axis=1, keepdims=True) * np.ones_like(y)
    now, nxt = y[:, :, :-1], y[:, :, 1:]
    first = np.broadcast_to(y[:, :, :1], now.shape)
    ok = np.isfinite(now) & np.isfinite(nxt)
    return now[ok], nxt[ok], first[ok], r[:, :, :-1][ok]


def _bc_targets(x: np.ndarray, eps: float) -> np.ndarray:
    """Per member and step, the mean log estimate of group members within ``eps``, flat like :func:`_steps`."""
    y = np.log(np.maximum(np.asarray(x, dtype=float), 1.0))
    near = np.abs(y[:, :, None, :] - y[:, None, :, :]) <= eps  # (G, N, N, R)
    near &= np.isfinite(y[:, None, :, :])
    tgt = np.nansum(np.where(near, y[:, None, :, :], 0.0), axis=2) / np.maximum(near.sum(axis=2), 1)
    ok = np.isfinite(y[:, :, :-1]) & np.isfinite(y[:, :, 1:])
    return tgt[:, :, :-1][ok]


def _ls_alpha(step: np.ndarray, gap: np.ndarray) -> tuple[float, float]:
    denom = float(np.sum(gap * gap))
    alpha = float(np.clip(np.sum(step * gap) / denom, 0.0, 1.0)) if denom > 0 else 0.0
    return alpha, float(np.sum((step - alpha * gap) ** 2))


def fit_opinion_model(kind: str, x: np.ndarray) -> OpinionModel:
    """Fit a classical model to human groups by one-step least squares on log estimates.

    Args:
        kind: one of :data:`OPINION_MODELS`.
        x: estimates of complete groups (each member sees its whole group), shape ``(G, N, R)``.

    Returns:
        The fitted :class:`OpinionModel` (parameters clipped to their ranges).
    """
    now, nxt, first, ref = _steps(x)
    step, gap = nxt - now, ref - now
    if kind == "degroot":
        return OpinionModel(kind=kind, alpha=_ls_alpha(step, gap)[0])
    if kind == "friedkin_johnsen":
        design = np.column_stack([first - now, gap])
        (a, b), *_ = np.linalg.lstsq(design, step, rcond=None)
        s = float(np.clip(a, 0.0, 1.0))
        alpha = float(np.clip(b / (1.0 - s), 0.0, 1.0)) if s < 1 else 0.0
        return OpinionModel(kind=kind, alpha=alpha, stubbornness=s)
    if kind == "bounded_confidence":
        best = None
        for eps in _EPS_GRID:
            tgt = ref if not np.isfinite(eps) else _bc_targets(x, eps)
            alpha, sse = _ls_alpha(step, tgt - now)
            if best is None or sse < best[0] - 1e-12:
                best = (sse, alpha, float(eps))
        assert best is not None
        return OpinionModel(kind=kind, alpha=best[1], epsilon=best[2])
    raise SimulationError(f"unknown opinion model {kind!r}; use one of {OPINION_MODELS}")


class OpinionSociety(mesa.Model):
    """The classical models as a Mesa model: each :meth:`step` is one synchronous, vectorised round.

    Agents are array entries rather than ``mesa.Agent`` objects (a million agents × 10 rounds in seconds); the
    graph, information rules and outputs are those of :class:`simulator.influence.InfluenceModel`.

    Args:
        model: the update rule.
        x1: round-1 estimates, shape ``(n,)``.
        graph: the society.
        rule: the information rule.
        rounds: total rounds.
        seed: the Mesa seed (the rules are deterministic; kept for the common interface).

    Attributes:
        estimates: ``(n, R)``, filled up to the current round.
        references: ``(n, R)`` geometric mean of each agent's view per round.
    """

    def __init__(
        self, *, model: OpinionModel, x1: np.ndarray, graph: SocietyGraph, rule: str, rounds: int, seed: int = 0
    ) -> None:
        super().__init__(seed=int(seed))
        y = np.log(np.maximum(np.asarray(x1, dtype=float), 1.0))
        if y.shape != (graph.n,):
            raise SimulationError(f"x1 has shape {np.shape(x1)} but the graph has {graph.n} nodes")
        if rounds < 1:
            raise SimulationError(f"rounds must be >= 1, got {rounds}")
        self.model, self.graph, self.rule, self.rounds = model, graph, rule, rounds
        self._w = sparse.identity(graph.n, format="csr") if rule == "none" else view_matrix(graph, rule)
        self._ref_w = view_matrix(graph, "mean" if rule == "none" else rule)
        self._edges = _view_edges(graph, rule)
        self._y1 = y
        self._y = y.copy()
        self._t = 0
        self.estimates = np.full((graph.n, rounds), np.nan)
        self.references = np.full((graph.n, rounds), np.nan)
        self._record()

    def _record(self) -> None:
        self.estimates[:, self._t] = np.exp(self._y)
        self.references[:, self._t] = np.exp(self._ref_w @ self._y)
        self.running = self._t < self.rounds - 1

    def step(self) -> None:
        """One round: every agent updates from the previous round's estimates at once."""
        if not self.running:
            return
        self._y = _update(self.model, self._y, self._y1, self._w, self.rule, self._edges)
        self._t += 1
        self._record()

    def grouped(self) -> tuple[np.ndarray, np.ndarray]:
        """Estimates and references per group, each ``(G, N, R)``."""
        g, n = self.graph.n_groups, self.graph.group_size
        return self.estimates.reshape(g, n, self.rounds), self.references.reshape(g, n, self.rounds)
