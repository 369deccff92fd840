"""A sentence-encoder test double shared by the subgroup tests (no model download, deterministic)."""

from __future__ import annotations

import hashlib
import re

import numpy as np


class HashEncoder:
    """Bag-of-words hashing encoder (384-d, normalised) standing in for MiniLM."""

    model_id = "hash-bow"

    def encode(self, texts):
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for r, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                out[r, int(hashlib.md5(w.encode()).hexdigest()[:6], 16) % 384] += 1
        n = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(n > 0, n, 1)
