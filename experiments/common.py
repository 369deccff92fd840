"""Options shared by commands: the language model, the response cache, the data source and the seed."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--backend/--model-path/--compute-type/--base-url/--model/--api-key-env/--cache/--replay/--max-calls``."""
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
        help="local weights as stored or converted once to f16/f32 (default: f32 for SmolLM2, native otherwise)",
    )
    g.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint URL (vLLM, Ollama, llama.cpp server)")
    g.add_argument("--model", default=None, help="model name at the endpoint")
    g.add_argument("--api-key-env", default=None, help="environment variable holding the key (OPENAI_API_KEY)")
    g.add_argument("--cache", default=None, help="SQLite response cache (default ~/.cache/populace/responses.sqlite)")
    g.add_argument("--replay", action="store_true", help="answer only from the cache; a miss is an error")
    g.add_argument("--max-calls", type=int, default=None, help="backend call budget (raises when exhausted)")


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--data`` and ``--seed``."""
    parser.add_argument(
        "--data", default=None, help="human data directory or URL (default $POPULACE_DATA or ../shared/data)"
    )
    parser.add_argument("--seed", type=int, default=0, help="root seed of every random choice")


def model_from_args(args: argparse.Namespace) -> Any:
    """The cache-wrapped language model described by the command-line options and the environment."""
    from populace_lm.config import LLMConfig, build_model

    base = LLMConfig.from_env()
    changes: dict[str, Any] = {}
    if args.backend:
        changes["backend"] = args.backend
    elif args.base_url or args.model:
        changes["backend"] = "openai"
    for key in ("model_path", "compute_type", "base_url", "model", "api_key_env", "max_calls"):
        value = getattr(args, key, None)
        if value is not None:
            changes[key] = value
    if args.cache:
        changes["cache_path"] = args.cache
    if args.replay:
        changes["cache_mode"] = "replay"
    config = LLMConfig.from_dict({**base.to_dict(), **changes})
    return build_model(config)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write JSON with stable formatting (sorted keys) so identical results give identical files."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return p
