"""``populace probe``: print a model's answer distribution for one question, or for every question of a scenario.

``--question TEXT --scale SCALE`` asks one question. ``--scenario S`` (a built-in name, ``FILE.toml`` or
``FILE.toml:DIMENSION``) asks every question of a scenario exactly as fit, run and compare ask it, and prints each
question's valid mass and expected answer, then each dimension's exact score distribution: the quick check that a
model reads a survey file before a study spends calls on it. ``--out FOLDER`` also writes what was printed to
``probe.json``, and the CLI adds the model's accounting to ``run.json``.

The persona is the ``fixed`` construction's default system prompt
(:data:`populations.baselines.DEFAULT_SYSTEM_PROMPT`) unless ``--system`` gives another (``--system ""``: none), so
``probe`` and a ``fixed`` population answer alike; the first line printed says which prompt was sent. Expected
answers are in the item's value units (an ordinal category's ``value``, as the scores are), not option numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.common import add_model_args
from experiments.errors import UsageError

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``probe`` sub-command."""
    p = sub.add_parser("probe", help="print the answer distribution and valid mass for one question or a scenario")
    p.add_argument("--question", default=None, help="the question (user message)")
    p.add_argument("--scale", default=None, help="likert5, likertK or int:LOW-HIGH (e.g. int:0-100)")
    p.add_argument(
        "--scenario",
        default=None,
        help="instead of --question/--scale: every question of a scenario (built-in name, FILE.toml[:DIMENSION])",
    )
    p.add_argument(
        "--system",
        default=None,
        help="system prompt (persona); default: the fixed construction's baseline prompt; --system '' sends none",
    )
    p.add_argument("--prefix", default=None, help="answer stem prefilled in the reply (default 'Answer: ')")
    p.add_argument("--out", default=None, help="folder for probe.json and run.json (default: print only)")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one probability per answer and the valid mass (a question), or a table per scenario question."""
    from experiments.common import model_from_args, write_json
    from populace_lm.accounting import format_summary
    from populace_lm.budget import AccountingModel, find_layer
    from populations.baselines import DEFAULT_SYSTEM_PROMPT

    system = DEFAULT_SYSTEM_PROMPT if args.system is None else (args.system or None)
    if args.system is None:
        print(f'system prompt: the fixed construction\'s baseline, "{DEFAULT_SYSTEM_PROMPT}" (--system to change)')
    elif system is None:
        print("system prompt: none (--system '')")
    else:
        print(f'system prompt: "{system}"')
    if args.scenario is not None:
        if args.question is not None or args.scale is not None or args.prefix is not None:
            raise UsageError("probe: give either --scenario or --question/--scale/--prefix, not both")
        from scenarios.registry import get_scenario

        scenario = get_scenario(args.scenario)  # an unknown name or a bad file fails before the model loads
        model = model_from_args(args)
        result = _probe_scenario(model, scenario, system)
    else:
        if args.question is None or args.scale is None:
            raise UsageError("probe: give --question TEXT and --scale SCALE, or --scenario NAME")
        question = _question(args.question, args.scale, args.prefix)  # a bad scale fails before the model loads
        model = model_from_args(args)
        result = _probe_question(model, question, system)
    if args.out is not None:
        write_json(Path(args.out) / "probe.json", {"model_id": str(model.model_id), "system": system, **result})
    acct = find_layer(model, AccountingModel)
    if acct is not None:
        print(format_summary(acct.summary()))
    return 0


def _question(text: str, scale: str, prefix: str | None) -> Any:
    from populace_lm.types import IntegerAnswers
    from scenarios.question import Question

    try:
        answers = IntegerAnswers.parse(scale)
    except ValueError as exc:  # the parser's message names the accepted forms
        raise UsageError(f"--scale: {exc}") from None
    return Question(id="probe", prompt=text, answers=answers, answer_prefix="Answer: " if prefix is None else prefix)


def _probe_question(model: Any, question: Any, system: str | None) -> dict[str, Any]:
    """Print one probability per answer, the valid mass and the method; return them for ``probe.json``."""
    dist = model.answer_distribution(question.distribution_request(system))
    for value, p in zip(dist.values, dist.probs, strict=True):
        print(f"{value}\t{p:.6f}")
    print(f"valid_mass\t{dist.valid_mass:.6f}")
    print(f"method\t{dist.method}" + (f" ({dist.n_samples} samples)" if dist.method == "sampled" else ""))
    return {
        "question": question.prompt,
        "values": list(dist.values),
        "probs": list(dist.probs),
        "valid_mass": dist.valid_mass,
        "method": dist.method,
        "n_samples": dist.n_samples,
    }


def _probe_scenario(model: Any, scenario: Any, system: str | None) -> dict[str, Any]:
    """Per question: valid mass, method and expected answer; per dimension: the exact score mean and SD.

    The persona is ``system`` (None: no system prompt); the questions, answer stems and scoring are the
    scenario's. ``expected`` is in the item's value units (``scenario.answer_values``), like the scores.
    """
    import numpy as np

    from populations.persona import Persona
    from populations.responses import answer_distributions
    from scenarios.registry import dimension_scenarios

    persona = Persona(id="probe", text=system or "")
    print("question\tvalid_mass\tmethod\texpected (value)\tprompt")
    scores, rows = [], []
    for part in dimension_scenarios(scenario):
        questions = part.questions()
        tensor = answer_distributions(model, (persona,), questions, desc=f"probe {part.name}")
        for j, q in enumerate(questions):
            values = part.answer_values(q.id) if hasattr(part, "answer_values") else q.answers.values  # coded ones
            p = np.asarray(tensor.probs[0, j], dtype=float)
            expected = float(p @ np.asarray(values, dtype=float) / p.sum()) if p.sum() > 0 else float("nan")
            prompt = " ".join(q.prompt.split())
            valid, method = float(tensor.valid_mass[0, j]), str(tensor.methods[0, j])
            rows.append({"id": q.id, "valid_mass": valid, "method": method, "expected": expected})
            print(f"{q.id}\t{tensor.valid_mass[0, j]:.4f}\t{tensor.methods[0, j]}\t{expected:.3f}\t…{prompt[-60:]}")
        pmf = np.asarray(part.pmfs(tensor.probs), dtype=float)[0]
        pmf = pmf / pmf.sum()
        support = np.asarray(part.support, dtype=float)
        mean = float(pmf @ support)
        scores.append((part.name, part.label, mean, float(np.sqrt(pmf @ (support - mean) ** 2))))
    print("\nscore\tlabel\tmean (exact)\tsd (exact)")
    for name, label, mean, sd in scores:
        print(f"{name}\t{label}\t{mean:.3f}\t{sd:.3f}")
    return {
        "scenario": scenario.name,
        "questions": rows,
        "scores": [{"dimension": n, "label": lab, "mean": m, "sd": sd} for n, lab, m, sd in scores],
    }
