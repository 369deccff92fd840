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


import numpy as np  # noqa: E402
import pytest  # noqa: E402

from experiments.reporting import grid_bins  # noqa: E402


@pytest.mark.parametrize(
    "support",
    [
        np.arange(0.0, 101.0, 10.0),  # bins of 10
        np.round(np.arange(3, 13) / 3, 9),  # means of 3 items
        np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 6.0]),  # custom ordinal sums
        np.arange(0.0, 201.0),  # wide: grouped 9 points a bar
    ],
)
def test_grid_bins_humans_and_the_model_alike(support):
    rng = np.random.default_rng(0)
    pmf = rng.dirichlet(np.ones(support.size))
    humans = rng.choice(support, size=200_000, p=pmf)
    edges, human, sim = grid_bins(support, humans, None, pmf)
    assert edges.size == human.size + 1 == sim.size + 1 and np.all(np.diff(edges) > 0)
    np.testing.assert_allclose(human, sim, atol=0.01)  # humans drawn from the pmf: the same bars
    for k in range(human.size):  # every support point lies inside its own bar
        inside = (support >= edges[k]) & (support < edges[k + 1])
        assert sim[k] == pytest.approx(pmf[inside].sum())


def test_grid_png_has_an_x_label(tmp_path, monkeypatch):
    import matplotlib.axes

    from experiments.reporting import plot_study_grid
    from experiments.study import StudyResult

    labels: list[str] = []
    real = matplotlib.axes.Axes.set_xlabel
    monkeypatch.setattr(matplotlib.axes.Axes, "set_xlabel", lambda self, t, *a, **k: labels.append(t) or real(self, t))
    support = np.arange(1.0, 6.0)
    result = StudyResult(
        scores=[{"construction": "fixed", "scenario": "s"}], vectors=[], treatment=[], cost=[],
        pmfs={("s", "fixed"): np.full(5, 0.2)}, humans={"s": (support, np.array([1.0, 2.0, 2.0]))}, settings={},
    )  # fmt: skip
    plot_study_grid(result, tmp_path / "grid.png")
    assert labels == ["score (s)"] and (tmp_path / "grid.png").stat().st_size > 0


def test_treatment_plot_labels_fit_inside_the_figure():
    import matplotlib.pyplot as plt
    import pandas as pd

    from experiments.reporting_runs import effects_figure

    long = "aligned_resample_big · /very/long/path/my_survey_with_a_long_name:trust@North-East"
    rows = [
        {"outcome": f"{long} · item_{i}", "kind": "item", "difference": 0.1 * i, "ci_low": 0.0, "ci_high": 0.3 * i}
        for i in range(6)
    ] + [{"outcome": f"{long} · score", "kind": "score", "difference": 0.5, "ci_low": 0.1, "ci_high": 0.9}]
    title = "treatment (question): " + "Your neighbours describe you as warm and generous to everyone. " * 3
    fig = effects_figure(pd.DataFrame(rows), title=title)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    texts = [t for ax in fig.axes for t in ax.get_yticklabels()] + [fig._suptitle]
    for t in texts:
        e = t.get_window_extent(renderer)
        assert e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1 and e.y1 <= box.y1 + 1, t.get_text()[:40]
    plt.close(fig)
