"""Your own survey, end to end: a TOML instrument plus a CSV of answers → a fitted population → Mesa → scores.

Run it as ``python examples/own_survey.py [--out DIR] [--components K] [--agents N]``. It

1. writes a small CSV of its own (300 synthetic respondents answering three 0–10 trust items, one reverse-keyed)
   and a survey TOML declaring the items, the scale and the scoring (``docs/scenario_files.md``);
2. loads the survey through the same loader as every built-in instrument (:func:`scenarios.load_scenario`);
3. fits a prompt mixture (EM) on the **fit** half of the respondents;
4. simulates the fitted population answering the survey as Mesa agents (:func:`simulator.run_simulation`);
5. scores it against the **test** half with the one evaluation module: W1 of the exact distribution, and W1 of
   ``n`` sampled agents beside the human floor (``n`` test humans against the other test humans).

The language model comes from the environment like every command (``POPULACE_BACKEND``, ``POPULACE_MODEL_PATH``,
``POPULACE_CACHE``…; default: the embedded SmolLM2-135M). The tiny default sizes make the pipeline real, not
the science: a 135M model barely follows personas, so expect a large W1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SURVEY_TOML = """\
kind = "survey"
name = "trust"
topic = "survey on trust in your neighbourhood"

[survey]
instructions = "How much do you agree, from {low} to {high} ({scale})? Reply with the number only."

[scale]
type = "range"
low = 0
high = 10
labels = { 0 = "not at all", 10 = "completely" }

[[items]]
id = "neighbours"
text = "Most people in my neighbourhood can be trusted."
dimension = "trust"

[[items]]
id = "help"
text = "People around here are willing to help their neighbours."
dimension = "trust"

[[items]]
id = "careful"
text = "You cannot be too careful with the people who live near you."
dimension = "trust"
reverse = true

[dimensions.trust]
label = "neighbourhood trust"
scoring = "mean"

[data]
path = "answers.csv"
"""


def write_study_files(folder: Path, *, n: int = 300, seed: int = 0) -> Path:
    """Write ``answers.csv`` (synthetic, two groups: trusting and wary) and ``trust.toml``; return the TOML path."""
    rng = np.random.default_rng(seed)
    trusting = rng.random(n) < 0.6
    level = np.where(trusting, 7.5, 3.0)
    rows = ["respondent,neighbours,help,careful"]
    for i in range(n):
        a, b = np.clip(np.rint(rng.normal(level[i], 1.5, size=2)), 0, 10).astype(int)
        c = int(np.clip(np.rint(rng.normal(10 - level[i], 1.5)), 0, 10))
        rows.append(f"r{i},{a},{b},{c}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "answers.csv").write_text("\n".join(rows) + "\n")
    path = folder / "trust.toml"
    path.write_text(SURVEY_TOML)
    return path


def main(argv: list[str] | None = None) -> int:
    """Fit, simulate and score; print the scores."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/own_survey", help="folder for the CSV, the TOML and nothing else")
    parser.add_argument("--components", type=int, default=1, help="crafted EM prompts (K)")
    parser.add_argument("--agents", type=int, default=20, help="simulated agents")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from populace_lm import LLMConfig, build_model, close_model
    from populations import PromptMixtureBuilder, human_floor, human_split, score_distribution
    from scenarios import load_scenario
    from simulator import DecisionService, RunConfig, run_simulation

    toml = write_study_files(Path(args.out), seed=args.seed)
    scenario = load_scenario(toml, dimension="trust")
    fit, test = human_split(scenario, seed=args.seed)
    model = build_model(LLMConfig.from_env())
    try:
        builder = PromptMixtureBuilder(
            method="em",
            n_components=args.components,
            respondent=model,
            max_iter=1,
            improve_rounds=0,
            crafter_max_tokens=60,
            random_state=args.seed,
        ).fit(scenario, fit)
        population = builder.population_
        run = run_simulation(
            RunConfig(scenario=f"{toml}:trust", n_agents=args.agents, seed=args.seed),
            population,
            DecisionService(model),
        )
        rng = np.random.default_rng(args.seed)
        floor = human_floor(test, n=args.agents, repeats=10, rng=rng)
        pmf = builder.weights_ @ builder.component_pmfs_
        scores = score_distribution(pmf, scenario.support, test, n=floor.n, repeats=10, rng=rng)
    finally:
        close_model(model)
    simulated = run.scores[0]
    print(f"survey {scenario.name}: {fit.size} fit / {test.size} test respondents; model {model.model_id}")
    print(
        f"fitted {len(population)} prompts (crafted {builder.n_crafted_}, failed {builder.n_failed_}"
        f"{', fell back to the fixed prompt' if builder.fallback_ else ''}); weights {np.round(builder.weights_, 3)}"
    )
    print(f"Mesa run: {simulated.size} agents, mean score {np.nanmean(simulated):.2f} (humans {test.mean():.2f})")
    print(f"W1 exact (no sampling noise): {scores['w1_exact']:.3f}")
    print(
        f"W1 of {floor.n} sampled agents: {scores['w1_sampled_mean']:.3f} ± {scores['w1_sampled_sd']:.3f}   "
        f"human floor ({floor.n} humans): {floor.mean:.3f} ± {floor.sd:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
