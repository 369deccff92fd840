"""``populace probe``: print a model's answer distribution for one question."""

from __future__ import annotations

import argparse

from experiments.common import add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``probe`` sub-command."""
    p = sub.add_parser("probe", help="print the answer distribution and valid mass for one question")
    p.add_argument("--question", required=True, help="the question (user message)")
    p.add_argument("--scale", required=True, help="likert5, likertK or int:LOW-HIGH (e.g. int:0-100)")
    p.add_argument("--system", default=None, help="system prompt (persona)")
    p.add_argument("--prefix", default=None, help="answer stem prefilled in the reply (default 'Answer: ')")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one probability per answer and the valid mass."""
    from experiments.common import model_from_args
    from populace_lm.accounting import format_summary
    from populace_lm.budget import AccountingModel, find_layer
    from populace_lm.types import IntegerAnswers
    from scenarios.question import Question

    answers = IntegerAnswers.parse(args.scale)
    prefix = "Answer: " if args.prefix is None else args.prefix
    question = Question(id="probe", prompt=args.question, answers=answers, answer_prefix=prefix)
    model = model_from_args(args)
    dist = model.answer_distribution(question.distribution_request(args.system))
    for value, p in zip(dist.values, dist.probs, strict=True):
        print(f"{value}\t{p:.6f}")
    print(f"valid_mass\t{dist.valid_mass:.6f}")
    print(f"method\t{dist.method}" + (f" ({dist.n_samples} samples)" if dist.method == "sampled" else ""))
    acct = find_layer(model, AccountingModel)
    if acct is not None:
        print(format_summary(acct.summary()))
    return 0
