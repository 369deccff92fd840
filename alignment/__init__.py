"""Pure numerics for aligning simulated populations with human data (numpy, scipy, POT, ppi_py only).

Metrics between samples, mixture-weight fitting, the human sampling floor, KDE importance sampling and
entropic optimal transport, prediction-powered inference and worth-in-humans (k̂). No LLM, no Mesa, no file or network I/O.
"""

from alignment.categorical import simbench_score
from alignment.floor import human_sample_floor, human_sample_floor_stats
from alignment.histogram import mixture_pmf, pmf_from_samples, sample_from_pmf, sample_mixture
from alignment.importance import importance_resample, kde_importance_weights, standardize
from alignment.inference import Estimates, Interval, estimate_mean, estimate_median, estimate_share, power_plan
from alignment.influence import (
    ConditionSummary,
    InfluencePanel,
    diversity,
    diversity_ratio,
    geometric_mean_error,
    influence_summary,
    revision_weights,
    truth_in_range,
)
from alignment.metrics import (
    average_marginal_wasserstein,
    correlation_mae,
    frechet_distance,
    mmd_rbf,
    score_table,
    sliced_wasserstein,
    total_variation,
    wasserstein_1d,
    wasserstein_per_dimension,
)
from alignment.mixture import MixtureFit, fit_mixture_weights, fit_mixture_weights_multi
from alignment.transport import AlignmentResult, sample_by_mass, transport_weights
from alignment.worth import Worth, worth_k, worth_theory

__all__ = [
    "AlignmentResult",
    "ConditionSummary",
    "Estimates",
    "InfluencePanel",
    "Interval",
    "MixtureFit",
    "Worth",
    "average_marginal_wasserstein",
    "correlation_mae",
    "diversity",
    "diversity_ratio",
    "estimate_mean",
    "estimate_median",
    "estimate_share",
    "fit_mixture_weights",
    "fit_mixture_weights_multi",
    "frechet_distance",
    "geometric_mean_error",
    "human_sample_floor",
    "human_sample_floor_stats",
    "importance_resample",
    "influence_summary",
    "kde_importance_weights",
    "mixture_pmf",
    "mmd_rbf",
    "pmf_from_samples",
    "power_plan",
    "revision_weights",
    "sample_by_mass",
    "sample_from_pmf",
    "sample_mixture",
    "score_table",
    "simbench_score",
    "sliced_wasserstein",
    "standardize",
    "total_variation",
    "transport_weights",
    "truth_in_range",
    "wasserstein_1d",
    "wasserstein_per_dimension",
    "worth_k",
    "worth_theory",
]
