"""``score_vectors(floor_rng=...)``: the floor drawn from its own stream depends on the humans, n and repeats only."""

from __future__ import annotations

import numpy as np

from populace_lm.seeds import seed_rng
from populations.evaluation import score_vectors


def _floor(scores):
    return {m: scores[m]["floor_mean"] for m in ("amw", "frechet", "sliced_w", "mmd", "corr_mae")}


def test_a_floor_stream_gives_every_set_the_same_floor():
    rng = np.random.default_rng(0)
    human = rng.normal(size=(120, 3))
    small, large = rng.normal(1.0, size=(15, 3)), rng.normal(-1.0, size=(400, 3))
    kw = {"n": 10, "repeats": 3}
    a = score_vectors(small, human, rng=seed_rng(0, "score", "a"), floor_rng=seed_rng(0, "floor", "s"), **kw)
    b = score_vectors(large, human, rng=seed_rng(0, "score", "b"), floor_rng=seed_rng(0, "floor", "s"), **kw)
    assert _floor(a) == _floor(b)
    assert a["amw"]["sampled_mean"] != b["amw"]["sampled_mean"]
    c = score_vectors(small, human, rng=seed_rng(0, "score", "a"), floor_rng=seed_rng(1, "floor", "s"), **kw)
    assert _floor(c) != _floor(a) and c["amw"]["sampled_mean"] == a["amw"]["sampled_mean"]
