r"""The context-aware gate of Mixture-of-Personas (Bui et al. 2025 [1], §3): component weights that depend on the question.

A MoP component is a pair (persona :math:`g_p`, exemplar :math:`e_j` of persona :math:`p`). For a context
:math:`x` (the question asked) the two-level gate of [1] weights component :math:`(p, j)` by

.. math::

    \pi_p(x) = \operatorname{softmax}_p\big((W_x \tilde h(x))^\top (W_g \tilde h(g_p))\big), \qquad
    \lambda_{j \mid p}(x) = \operatorname{softmax}_{j \in p}\big((V_x \tilde h(x))^\top (V_e \tilde h(e_j))\big),

    w_{pj}(x) = \pi_p(x)\, \lambda_{j \mid p}(x),

where :math:`h` is the sentence encoder (MiniLM, L2-normalised) and :math:`\tilde h = [h, 1]` (the constant
feature lets the gate hold a prior over personas that does not depend on :math:`x`). :math:`W_x, W_g, V_x, V_e`
have shape ``(d + 1, rank)``. They are fitted on the fit questions of a multi-item scenario by minimising the mean
per-item Wasserstein-1 distance to the fit humans,

.. math:: \min_{W, V}\ \frac1Q \sum_{q=1}^{Q} W_1\Big(\sum_{p,j} w_{pj}(x_q)\, P_{pj,q},\ H_q\Big)
          + \alpha \lVert (W, V) \rVert_2^2,

with W1 on the ordered support in CDF form (:math:`\sum_s |F_{\text{mix}}(s) - F_H(s)|\,\Delta_s`), optimised
with :class:`torch.optim.Adam` on the full batch (the best iterate is kept). A question never seen in fitting gets
its weights from :meth:`ContextGate.weights` on its embedding.

References:
    [1] Bui, N. et al. (2025). "Mixture-of-Personas Language Models for Population Simulation", arXiv:2504.05019.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from populace_lm.seeds import seed_rng

__all__ = ["ContextGate", "context_text", "dimension_weights", "gate_weights_for"]

_KEYS = ("w_x", "w_g", "v_x", "v_e")


def context_text(scenario: Any) -> str:
    """The context :math:`x` of [1] for a one-dimensional scenario: its questions' prompts, one per line."""
    return "\n".join(q.prompt for q in scenario.questions())


def _augment(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"embeddings must have shape (n, d), got {h.shape}")
    return np.hstack([h, np.ones((h.shape[0], 1))])


class ContextGate:
    """The two-level softmax gate of [1], fitted on per-item W1 (scikit-learn style: ``fit`` returns self).

    Args:
        rank: columns of each learned map (the gate's bilinear rank).
        l2: weight alpha of the squared-norm penalty.
        n_steps: Adam steps on the full batch.
        lr: Adam learning rate.
        init_scale: standard deviation of the seeded initial maps.
        random_state: seed of the initial maps (stream ``("mop-gate",)``).

    Attributes:
        params_: ``{"w_x", "w_g", "v_x", "v_e"}``, each shape ``(d + 1, rank)``.
        groups_: persona index of each component, shape ``(K,)``.
        persona_emb_: shape ``(P, d)``; exemplar_emb_: shape ``(K, d)``.
        loss_: the penalised objective at the kept iterate; fit_w1_: its mean per-item W1 (unpenalised).
        n_iter_: Adam steps taken; best_step_: the step of the kept iterate.
    """

    def __init__(
        self,
        *,
        rank: int = 8,
        l2: float = 1e-3,
        n_steps: int = 400,
        lr: float = 0.05,
        init_scale: float = 0.3,
        random_state: int = 0,
    ) -> None:
        self.rank = rank
        self.l2 = l2
        self.n_steps = n_steps
        self.lr = lr
        self.init_scale = init_scale
        self.random_state = random_state

    # ------------------------------------------------------------------ the forward map (torch)
    @staticmethod
    def _torch_weights(params, hx, hg, he, groups, n_personas: int):
        import torch

        a = (hx @ params["w_x"]) @ (hg @ params["w_g"]).T  # (Q, P)
        b = (hx @ params["v_x"]) @ (he @ params["v_e"]).T  # (Q, K)
        member = torch.zeros((n_personas, groups.numel()), dtype=torch.bool)
        member[groups, torch.arange(groups.numel())] = True
        masked = torch.where(member[None], b[:, None, :], torch.tensor(-torch.inf, dtype=b.dtype))  # (Q, P, K)
        lse = torch.logsumexp(masked, dim=2)  # (Q, P)
        log_within = b - lse[:, groups]  # (Q, K)
        log_persona = torch.log_softmax(a, dim=1)[:, groups]  # (Q, K)
        return torch.exp(log_persona + log_within)

    def fit(
        self,
        contexts: np.ndarray,
        personas: np.ndarray,
        exemplars: np.ndarray,
        groups: Sequence[int],
        component_pmfs: np.ndarray,
        support: np.ndarray,
        targets: np.ndarray,
    ) -> ContextGate:
        """Fit the gate maps.

        Args:
            contexts: embeddings of the Q fit questions, shape ``(Q, d)``.
            personas: embeddings of the P personas, shape ``(P, d)``.
            exemplars: embeddings of the K components' exemplars, shape ``(K, d)``.
            groups: the persona (row of ``personas``) of each component, shape ``(K,)``, every persona used.
            component_pmfs: each component's answer distribution on each fit question, shape ``(K, Q, S)``.
            support: the ordered answer values, shape ``(S,)``.
            targets: the fit humans' distribution on each question, shape ``(Q, S)``.

        Returns:
            self.

        Raises:
            ValueError: shapes that do not agree, a persona without components, fewer than 1 step.
        """
        import torch

        hx, hg, he = _augment(contexts), _augment(personas), _augment(exemplars)
        g = np.asarray(groups, dtype=np.int64)
        pmfs = np.asarray(component_pmfs, dtype=np.float64)
        t = np.asarray(targets, dtype=np.float64)
        s = np.asarray(support, dtype=np.float64)
        k, q = he.shape[0], hx.shape[0]
        if pmfs.shape != (k, q, s.size) or t.shape != (q, s.size) or g.shape != (k,):
            raise ValueError(
                f"shapes disagree: component_pmfs {pmfs.shape}, targets {t.shape}, groups {g.shape} for "
                f"K={k} components, Q={q} questions, S={s.size} support points"
            )
        if not (hx.shape[1] == hg.shape[1] == he.shape[1]):
            raise ValueError(f"embedding widths differ: {hx.shape[1] - 1}, {hg.shape[1] - 1}, {he.shape[1] - 1}")
        if g.min() < 0 or g.max() >= hg.shape[0] or np.unique(g).size != hg.shape[0]:
            raise ValueError(f"groups must use every persona 0..{hg.shape[0] - 1}, got {sorted(set(g.tolist()))}")
        if self.n_steps < 1 or self.rank < 1:
            raise ValueError(f"n_steps and rank must be >= 1, got {self.n_steps}, {self.rank}")
        rng = seed_rng(int(self.random_state), "mop-gate")
        d1 = hx.shape[1]
        init = {key: rng.normal(0.0, self.init_scale, size=(d1, self.rank)) for key in _KEYS}
        params = {key: torch.tensor(v, requires_grad=True) for key, v in init.items()}
        thx, thg, the = (torch.tensor(a) for a in (hx, hg, he))
        tg = torch.tensor(g)
        cdf = torch.tensor(np.cumsum(pmfs, axis=2)[:, :, :-1])  # (K, Q, S-1)
        tcdf = torch.tensor(np.cumsum(t, axis=1)[:, :-1])  # (Q, S-1)
        gaps = torch.tensor(np.diff(s))
        opt = torch.optim.Adam(list(params.values()), lr=self.lr)
        best = (np.inf, np.inf, 0, init)
        for step in range(1, self.n_steps + 1):
            opt.zero_grad()
            w = self._torch_weights(params, thx, thg, the, tg, hg.shape[0])  # (Q, K)
            mix = torch.einsum("qk,kqs->qs", w, cdf)
            w1 = ((mix - tcdf).abs() * gaps).sum(dim=1).mean()
            loss = w1 + self.l2 * sum((p**2).sum() for p in params.values())
            if float(loss.detach()) < best[0]:
                best = (
                    float(loss.detach()),
                    float(w1.detach()),
                    step - 1,
                    {key: p.detach().numpy().copy() for key, p in params.items()},
                )
            loss.backward()
            opt.step()
        self.loss_, self.fit_w1_, self.best_step_, self.params_ = best
        self.n_iter_ = self.n_steps
        self.groups_ = g
        self.persona_emb_ = np.asarray(personas, dtype=np.float64)
        self.exemplar_emb_ = np.asarray(exemplars, dtype=np.float64)
        return self

    def weights(self, contexts: np.ndarray) -> np.ndarray:
        """Component weights for questions (seen or not), shape ``(Q, K)``, each row on the simplex.

        Args:
            contexts: question embeddings, shape ``(Q, d)``.
        """
        import torch

        if not hasattr(self, "params_"):
            from populations.base import NotFittedError

            raise NotFittedError("ContextGate is not fitted; call fit(...) first")
        with torch.no_grad():
            w = self._torch_weights(
                {key: torch.tensor(v) for key, v in self.params_.items()},
                torch.tensor(_augment(contexts)),
                torch.tensor(_augment(self.persona_emb_)),
                torch.tensor(_augment(self.exemplar_emb_)),
                torch.tensor(self.groups_),
                self.persona_emb_.shape[0],
            ).numpy()
        return w / w.sum(axis=1, keepdims=True)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (hyper-parameters, maps, embeddings, groups)."""
        return {
            "rank": self.rank,
            "l2": self.l2,
            "n_steps": self.n_steps,
            "lr": self.lr,
            "init_scale": self.init_scale,
            "random_state": self.random_state,
            "params": {key: np.round(v, 7).tolist() for key, v in self.params_.items()},
            "groups": self.groups_.tolist(),
            "persona_emb": np.round(self.persona_emb_, 7).tolist(),
            "exemplar_emb": np.round(self.exemplar_emb_, 7).tolist(),
            "fit_w1": self.fit_w1_,
            "loss": self.loss_,
            "best_step": self.best_step_,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ContextGate:
        """Rebuild a fitted gate from :meth:`to_dict`."""
        gate = cls(
            rank=int(doc["rank"]),
            l2=float(doc["l2"]),
            n_steps=int(doc["n_steps"]),
            lr=float(doc["lr"]),
            init_scale=float(doc["init_scale"]),
            random_state=int(doc["random_state"]),
        )
        gate.params_ = {key: np.asarray(doc["params"][key], dtype=np.float64) for key in _KEYS}
        gate.groups_ = np.asarray(doc["groups"], dtype=np.int64)
        gate.persona_emb_ = np.asarray(doc["persona_emb"], dtype=np.float64)
        gate.exemplar_emb_ = np.asarray(doc["exemplar_emb"], dtype=np.float64)
        gate.fit_w1_, gate.loss_, gate.best_step_ = float(doc["fit_w1"]), float(doc["loss"]), int(doc["best_step"])
        gate.n_iter_ = gate.n_steps
        return gate


def dimension_weights(population: Any, scenario: Any) -> np.ndarray:
    """The weights a population gives its components on one dimension, shape ``(K,)``.

    A context-gated MoP population (``metadata["gate"]["weights"]``, one vector per scenario name it was built on)
    gives that dimension's gate weights; every other population its one weight vector.
    """
    per = ((getattr(population, "metadata", None) or {}).get("gate") or {}).get("weights") or {}
    w = per.get(getattr(scenario, "name", None))
    return np.asarray(population.weights if w is None else w, dtype=float)


def gate_weights_for(population: Any, scenario: Any, encoder: Any = None) -> np.ndarray:
    """Gate weights of a context-gated MoP population for any one-dimensional scenario (unseen ones too).

    Args:
        population: a population built with ``gate = "context"`` (its metadata holds the fitted gate).
        scenario: the scenario asked (its questions are the context).
        encoder: the sentence encoder the gate was fitted with (default: MiniLM); its ``model_id`` must match.

    Returns:
        Weights, shape ``(K,)``.

    Raises:
        ValueError: the population has no context gate, or the encoder differs from the fitted one.
    """
    doc = (getattr(population, "metadata", None) or {}).get("gate") or {}
    if doc.get("kind") != "context":
        raise ValueError("this population has no context gate (build mop with gate = 'context')")
    if encoder is None:
        from populations.subgroups import MiniLMEncoder

        encoder = MiniLMEncoder()
    if encoder.model_id != doc["encoder"]:
        raise ValueError(f"the gate was fitted with encoder {doc['encoder']!r}, not {encoder.model_id!r}")
    gate = ContextGate.from_dict(doc["state"])
    return gate.weights(encoder.encode([context_text(scenario)]))[0]
