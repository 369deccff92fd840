"""seed002's worker processes build their model through the one factory, so ``--max-calls`` and ``--threads`` apply."""

from __future__ import annotations

from experiments import exp_seed002
from populace_lm.budget import BudgetedModel, find_layer
from populace_lm.local import LocalLlama


def test_worker_model_carries_the_budget_and_the_thread_count(tmp_path):
    args = exp_seed002._parser().parse_args(
        ["--max-calls", "5", "--threads", "1", "--cache", str(tmp_path / "c.sqlite")]
    )
    model = exp_seed002._model(args)  # the embedded model loads its weights lazily: nothing heavy happens here
    try:
        budget = find_layer(model, BudgetedModel)
        assert budget is not None and budget.max_calls == 5
        local = find_layer(model, LocalLlama)
        assert local._options["n_threads"] == local._options["n_threads_batch"] == 1
    finally:
        from populace_lm.config import close_model

        close_model(model)
