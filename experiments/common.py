"""Options shared by commands: the language model, the response cache, the data source and the seed."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Add the language-model options.

    ``--backend/--model-path/--compute-type/--base-url/--model/--api-key-env/--cache/--replay/--max-calls`` and the
    transport options ``--timeout/--max-retries/--concurrency/--rpm/--tpm/--server-kind/--top-logprobs/--samples/
    --chat-template``
    (each defaults to its ``POPULACE_*`` environment twin, then to :class:`populace_lm.config.LLMConfig`'s default).
    """
    g = parser.add_argument_group("language model")
    g.add_argument(
        "--backend",
        choices=("local", "openai"),
        default=None,
        help="local = embedded llama.cpp (default); openai = any OpenAI-compatible endpoint",
    )
    g.add_argument("--model-path", default=None, help="GGUF file for the local backend (default: SmolLM2-135M)")
    g.add_argument(
        "--compute-type",
        choices=("native", "f16", "f32"),
        default=None,
        help="local weights as stored (native, default) or converted once to f16/f32",
    )
    g.add_argument(
        "--threads", type=int, default=None, help="llama.cpp threads for the local backend (default: every core)"
    )
    g.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint URL (vLLM, Ollama, llama.cpp server)")
    g.add_argument("--model", default=None, help="model name at the endpoint")
    g.add_argument("--api-key-env", default=None, help="environment variable holding the key (OPENAI_API_KEY)")
    g.add_argument("--cache", default=None, help="SQLite response cache (default ~/.cache/populace/responses.sqlite)")
    g.add_argument("--replay", action="store_true", help="answer only from the cache; a miss is an error")
    g.add_argument(
        "--max-calls",
        type=int,
        default=None,
        help="call budget: HTTP requests including retries (local: backend calls); stops with a resumable cache",
    )
    g.add_argument("--timeout", type=float, default=None, help="seconds per HTTP request (POPULACE_TIMEOUT; 60)")
    g.add_argument(
        "--max-retries",
        type=int,
        default=None,
        help="retries of a 429/5xx/timeout/connection error/bad body per request (POPULACE_MAX_RETRIES; 8)",
    )
    g.add_argument("--concurrency", type=int, default=None, help="requests in flight at once (POPULACE_CONCURRENCY; 4)")
    g.add_argument("--rpm", type=float, default=None, help="client-side requests-per-minute limit (POPULACE_RPM)")
    g.add_argument("--tpm", type=float, default=None, help="client-side tokens-per-minute limit (POPULACE_TPM)")
    g.add_argument(
        "--server-kind",
        choices=("auto", "openai", "vllm", "llamacpp", "ollama"),
        default=None,
        help="how the endpoint continues answer stems; auto detects it from /v1/models (POPULACE_SERVER_KIND)",
    )
    g.add_argument(
        "--top-logprobs",
        type=int,
        default=None,
        help="log-probability alternatives read per answer token; 0 = always sample (POPULACE_TOP_LOGPROBS; 20)",
    )
    g.add_argument(
        "--samples",
        type=int,
        default=None,
        help="replies per sampled distribution when log-probabilities do not cover the answers; 0 = never "
        "sample (POPULACE_SAMPLES)",
    )
    g.add_argument(
        "--chat-template",
        default=None,
        help="the model's .gguf file (or a Jinja template) so a server without a continue switch continues answer "
        "stems through /completions (POPULACE_CHAT_TEMPLATE)",
    )


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--data`` and ``--seed``."""
    parser.add_argument(
        "--data", default=None, help="human data directory or URL (default $POPULACE_DATA or ../shared/data)"
    )
    parser.add_argument("--seed", type=int, default=0, help="root seed of every random choice")


def model_from_args(args: argparse.Namespace) -> Any:
    """The cache-wrapped language model described by the command-line options and the environment."""
    from populace_lm.config import LLMConfig, build_model

    changes: dict[str, Any] = {}
    if getattr(args, "backend", None):
        changes["backend"] = args.backend
    elif getattr(args, "base_url", None) or getattr(args, "model", None):
        changes["backend"] = "openai"
    for key in (
        "model_path",
        "compute_type",
        "base_url",
        "model",
        "api_key_env",
        "max_calls",
        "timeout",
        "max_retries",
        "concurrency",
        "rpm",
        "tpm",
        "server_kind",
        "top_logprobs",
        "samples",
        "chat_template",
        "n_threads",
    ):
        value = getattr(args, "threads" if key == "n_threads" else key, None)
        if value is not None:
            changes[key] = value
    if getattr(args, "cache", None):
        changes["cache_path"] = args.cache
    if getattr(args, "replay", False):
        changes["cache_mode"] = "replay"
    if getattr(args, "verbose", None) is True:  # the CLI's global --verbose
        changes["verbose"] = True
    config = LLMConfig.from_env(**changes)  # flags win over POPULACE_* variables, which win over defaults
    model = build_model(config)
    from experiments.cli import ACTIVE_MODELS  # the CLI writes its accounting to run.json and closes it on exit

    ACTIVE_MODELS.append(model)
    return model


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write JSON with stable formatting (sorted keys) so identical results give identical files."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return p
