"""Loader for the MobLab first-round game decisions (``moblab_games/joint.csv``)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from scenarios.errors import DataError
from scenarios.games import BUILTIN_GAMES, GAMES, ROLES
from scenarios.sources import find_dataset_file

__all__ = ["COLUMN_MAX", "human_decisions", "load_moblab_joint"]

# Largest valid decision per column under the MobLab parameters (from the built-in game specs).
COLUMN_MAX = {r.human_column: r.human_max for g in BUILTIN_GAMES for r in GAMES[g].roles if r.has_human_data}


def load_moblab_joint(source: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """Column → the non-missing first-round decisions, shape ``(n_column,)`` each.

    Empty cells mean the user did not play that game and are dropped. A non-numeric cell or a value outside the
    game's range raises ``DataError`` naming the file, row and column. Non-integer values (a few banker returns
    such as 54.5) are kept as floats.
    """
    path = find_dataset_file(source, "moblab_games", "joint.csv")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse as CSV: {exc}") from exc
    missing = [c for c in COLUMN_MAX if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}")
    out: dict[str, np.ndarray] = {}
    for col, hi in COLUMN_MAX.items():
        raw = df[col].str.strip()
        present = raw != ""
        num = pd.to_numeric(raw.where(present), errors="coerce")
        bad = present & (num.isna() | (num < 0) | (num > hi))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: row {i + 2}, column {col!r}: value {raw.iloc[i]!r} is not a number in 0..{hi}")
        out[col] = num[present].to_numpy(dtype=float)
    return out


def human_decisions(role: str, source: str | os.PathLike[str] | None = None) -> np.ndarray:
    """First-round human decisions for a game role, shape ``(n,)``."""
    if role not in ROLES:
        raise DataError(f"no human data for role {role!r}; roles: {sorted(ROLES)}")
    game, column = ROLES[role]
    if column is None:
        raise DataError(
            f"game {game} role {role} has no human data; run and whatif work, but fit/compare need humans: "
            "give its RoleSpec a MobLab joint.csv human_column, or write the task as a decision TOML with a [data] "
            "table (docs/scenario_files.md)"
        )
    if column not in COLUMN_MAX:
        raise DataError(
            f"game {game} role {role}: column {column!r} is not a MobLab joint.csv game column "
            f"{sorted(COLUMN_MAX)}; set human_column=None or use one of them"
        )
    return load_moblab_joint(source)[column]
