"""Issue 18 item 7: report cells and figures a reader can take at face value."""

from __future__ import annotations

from experiments.reporting import vectors_markdown
from populations.evaluation import VECTOR_METRICS


def _row(mmd_floor: float) -> dict:
    row = {"scenario": "s", "construction": "c", "dimensions": 2, "n": 10, "status": "ok"}
    for m in VECTOR_METRICS:
        for k in ("sampled", "floor"):
            row[f"{m}_{k}_mean"], row[f"{m}_{k}_sd"] = 0.5, 0.1
    row["mmd_floor_mean"] = mmd_floor
    return row


def test_a_negative_unbiased_mmd_floor_is_shown_as_zero_with_its_estimate():
    md = vectors_markdown([_row(-0.0012)])
    assert "-0.001 ±" not in md and "0 (estimate -0.0012) ± 0.100" in md
    assert "0.500 ± 0.100" in vectors_markdown([_row(0.5)])
