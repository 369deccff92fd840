#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh) and run the default test suite: everything except tests marked `slow`.
# Tests read the human data from $POPULACE_DATA (default: ../shared/data beside the checkout).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
export POPULACE_DATA="${POPULACE_DATA:-$root/../shared/data}"
export POPULACE_PERSONAS="${POPULACE_PERSONAS:-$root/../shared/personas}"
.venv/bin/python scripts/check_lock.py --installed  # pyproject.toml, requirements.txt and .venv agree
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest -m "not slow" -q "$@"
