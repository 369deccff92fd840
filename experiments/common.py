"""Options shared by commands: the language model, the response cache, the data source and the seed."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Add the language-model options: the common ones, then one group per registered backend.

    Common: ``--backend/--cache/--replay/--max-calls``. Each backend's group holds the flags of its registered
    option section (:mod:`populace_lm.backends`; e.g. ``--model-path/--compute-type/--threads`` for ``local``,
    ``--base-url/--model/--timeout/...`` for ``openai``, and a plugin's own). Every flag defaults to None, so its
    ``POPULACE_*`` environment twin, then the option's default, applies (:func:`config_from_args`). A flag two
    backends declare alike is added once and goes to whichever backend runs.

    Raises:
        ConfigError: a backend's flag that clashes with one of the command's own.
    """
    from populace_lm.backends import backend_names, backends
    from populace_lm.errors import ConfigError

    g = parser.add_argument_group("language model")
    g.add_argument(
        "--backend",
        default=None,
        metavar="NAME",
        help=f"one of {', '.join(backend_names())}: local = embedded llama.cpp (default); openai = any "
        "OpenAI-compatible endpoint (POPULACE_BACKEND)",
    )
    g.add_argument("--cache", default=None, help="SQLite response cache (default ~/.cache/populace/responses.sqlite)")
    g.add_argument("--replay", action="store_true", help="answer only from the cache; a miss is an error")
    g.add_argument(
        "--max-calls",
        type=int,
        default=None,
        help="call budget: HTTP requests including retries (local: backend calls); stops with a resumable cache",
    )
    x = parser.add_argument_group("execution", "where batches of distinct prompts run (populace_lm.executor)")
    x.add_argument(
        "--executor",
        default=None,
        choices=("local", "ray"),
        help="local = this process (default); ray = Ray actors, each owning a model (POPULACE_EXECUTOR)",
    )
    x.add_argument(
        "--ray-address",
        default=None,
        metavar="HOST:PORT",
        help="the Ray cluster's GCS address; selects --executor ray; unset = a Ray instance in this process "
        "(RAY_ADDRESS, read with --executor ray)",
    )
    x.add_argument(
        "--ray-workers",
        type=int,
        default=None,
        metavar="N",
        help="Ray actors; unset = one per CPU of the cluster, divided by --threads (POPULACE_RAY_WORKERS)",
    )
    added: set[str] = set()
    for backend in backends():
        group = parser.add_argument_group(f"backend {backend.name}", backend.help or None)
        for option in backend.options:
            if not option.flag or option.flag in added:
                continue
            notes = [n for n in (option.env, None if option.default is None else f"default {option.default}") if n]
            kwargs: dict[str, Any] = {
                "dest": option.dest,
                "default": None,
                "help": option.help + (f" ({'; '.join(notes)})" if notes else ""),
            }
            if option.type is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = option.type
                if option.choices is not None:
                    kwargs["choices"] = option.choices
            try:
                group.add_argument(option.flag, **kwargs)
            except argparse.ArgumentError as exc:
                raise ConfigError(
                    f"backend {backend.name!r}: flag {option.flag} clashes with an option of {parser.prog!r} "
                    f"({exc.message}); register the option under another flag"
                ) from None
            added.add(option.flag)


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--data`` and ``--seed``."""
    parser.add_argument(
        "--data", default=None, help="human data directory or URL (default $POPULACE_DATA or ../shared/data)"
    )
    parser.add_argument("--seed", type=int, default=0, help="root seed of every random choice")


def add_crafter_args(parser: argparse.ArgumentParser) -> None:
    """``--crafter-model-path/--crafter-base-url/--crafter-model``: a separate model that writes crafted prompts."""
    parser.add_argument("--crafter-model-path", default=None, help="separate GGUF crafter (default: the respondent)")
    parser.add_argument("--crafter-base-url", default=None, help="separate OpenAI-compatible crafter endpoint")
    parser.add_argument("--crafter-model", default=None, help="model name at the crafter endpoint")


def crafter_from_args(args: argparse.Namespace) -> Any:
    """A separate cache-wrapped crafter model from ``--crafter-*`` options, or None (= the respondent)."""
    if not (args.crafter_model_path or args.crafter_base_url or args.crafter_model):
        return None
    ns = argparse.Namespace(**vars(args))
    ns.model_path = args.crafter_model_path
    ns.base_url = args.crafter_base_url
    ns.model = args.crafter_model
    ns.backend = "openai" if (args.crafter_base_url or args.crafter_model) else "local"
    return model_from_args(ns)


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`populace_lm.config.LLMConfig` of the command-line options and the environment.

    The backend is ``--backend``; without it, the one backend whose selecting flag was given (``--base-url`` or
    ``--model`` select ``openai``); else ``POPULACE_BACKEND``; else ``local``. The chosen backend's flags win over
    its ``POPULACE_*`` variables, which win over its defaults; flags of the other backends are not read.

    Raises:
        ConfigError: an unknown backend (naming the registered ones) or an invalid value.
    """
    from populace_lm.backends import backends, get_backend
    from populace_lm.config import LLMConfig

    def given(option: Any) -> bool:
        return bool(option.dest) and getattr(args, option.dest, None) is not None

    changes: dict[str, Any] = {}
    name = getattr(args, "backend", None)
    if not name:
        selected = {b.name for b in backends() for o in b.options if o.selects and given(o)}
        name = selected.pop() if len(selected) == 1 else None
    if name:
        changes["backend"] = name
    backend = get_backend(name or os.environ.get("POPULACE_BACKEND", "").strip() or "local")
    for option in backend.options:
        if given(option):
            changes[option.name] = getattr(args, option.dest)
    if getattr(args, "max_calls", None) is not None:
        changes["max_calls"] = args.max_calls
    if getattr(args, "cache", None):
        changes["cache_path"] = args.cache
    if getattr(args, "replay", False):
        changes["cache_mode"] = "replay"
    if getattr(args, "verbose", None) is True:  # the CLI's global --verbose
        changes["verbose"] = True
    return LLMConfig.from_env(**changes)  # flags win over POPULACE_* variables, which win over defaults


def model_from_args(args: argparse.Namespace) -> Any:
    """The cache-wrapped language model of the command-line options and the environment.

    Its batches run on the executor of ``--executor``/``--ray-address``/``--ray-workers`` and their environment
    twins (:mod:`populace_lm.executor`). The model is recorded in the command's run context (:func:`experiments.run_context.context_of`), which
    writes its accounting to ``run.json`` and closes it when the command ends; outside the CLI the caller
    closes it (:func:`populace_lm.config.close_model`).
    """
    from experiments.run_context import context_of
    from populace_lm.config import build_model
    from populace_lm.executor import ExecutorConfig, attach_executor, build_executor

    config = config_from_args(args)
    where = ExecutorConfig.from_env(
        kind=getattr(args, "executor", None),
        address=getattr(args, "ray_address", None),
        workers=getattr(args, "ray_workers", None),
    )
    executor = build_executor(where, config)  # connects to Ray now: a bad address fails before any file is opened
    try:
        model = attach_executor(build_model(config), executor)
    except BaseException:
        executor.close()
        raise
    context = context_of(args)
    if context is not None:
        context.add_model(model)
    return model


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write JSON with stable formatting (sorted keys) so identical results give identical files."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return p
