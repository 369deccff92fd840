"""Parameter resolvers and shared parameter groups of the built-in construction kinds."""

from __future__ import annotations

from pathlib import Path

from scenarios.schema import Param, at_least, one_of

__all__ = ["CRAFTING", "WEIGHT_METHOD", "population_file", "resolve_path", "resolve_pool"]


def resolve_path(value: str, base: Path) -> Path:
    """``value`` as a path: absolute as given, else relative to ``base``."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def resolve_pool(value: str, base: Path) -> str:
    """A pool name or path (relative to ``base``) → the pool's file.

    Raises:
        ValueError: no such pool, naming where it was looked for and the fix.
    """
    from populations.pools import PoolError, personas_root, resolve_pool_path

    local = resolve_path(value, base)
    try:
        return str(resolve_pool_path(local if local.exists() else value))
    except PoolError as exc:
        raise ValueError(
            f"persona pool {value!r} not found (a path relative to {base}, a folder with personas.jsonl, or a name "
            f"in {personas_root()}); fix the name or set POPULACE_PERSONAS"
        ) from exc


def population_file(value: str, base: Path) -> str:
    """A population file path (relative to ``base``), checked to exist.

    Raises:
        ValueError: the file does not exist.
    """
    p = resolve_path(value, base)
    if not p.is_file():
        raise ValueError(f"population file {p} does not exist (relative paths resolve against {base})")
    return str(p)


WEIGHT_METHOD = Param("str", "lp", one_of("lp", "slsqp"), "mixture-weight solver")
CRAFTING = {
    "improve_rounds": Param("int", 1, at_least(0), "crafting improve rounds R"),
    "weight_method": WEIGHT_METHOD,
    "forbid_target_number": Param("bool", True, None, "reject crafted prompts naming their target"),
    "crafter_retries": Param("int", 2, at_least(0), "extra crafter attempts when a reply holds no usable prompt"),
    "crafter_max_tokens": Param("int", 120, at_least(16), "crafter reply length (tokens)"),
    "default_prompt": Param(
        "str", None, None, "the fixed prompt a mixture starts from and falls back to (default: the fixed baseline)"
    ),
}
