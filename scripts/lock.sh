#!/usr/bin/env bash
# Refresh requirements.txt from pyproject.toml (every transitive dependency pinned; pip-tools' pip-compile).
#
#   scripts/lock.sh              # re-resolve with the newest releases the bounds allow
#   scripts/lock.sh --upgrade-package scipy   # any pip-compile option passes through
#
# Run it after editing a dependency in pyproject.toml; scripts/test.sh fails while the two disagree
# (scripts/check_lock.py). pip-compile runs in its own throwaway venv, so the project's .venv is untouched.
# torch resolves to the CPU wheel on this machine's disk (pip's find-links); llama-cpp-python to the version that
# scripts/setup.sh compiles with portable AVX2 flags.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PIP_TOOLS_VERSION="7.7.0"
tools="${POPULACE_LOCK_VENV:-$HOME/.cache/populace/pip-tools-$PIP_TOOLS_VERSION}"
if [ ! -x "$tools/bin/pip-compile" ]; then
  "${PYTHON:-python3}" -m venv "$tools"
  "$tools/bin/python" -m pip --disable-pip-version-check -q install "pip-tools==$PIP_TOOLS_VERSION"
fi
CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "$tools/bin/pip-compile" --quiet --extra dev --strip-extras --allow-unsafe \
  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host --annotation-style=line \
  --output-file requirements.txt "$@" pyproject.toml
# The lock setup.sh installs: pylock.toml (PEP 751; every file with its URL and sha256), made by pip's own `pip lock`
# from exactly those pins, so it resolves nothing new. scripts/check_lock.py fails when the two disagree.
"$tools/bin/python" -m pip --disable-pip-version-check -q install "pip==26.3"
"$tools/bin/python" -m pip --disable-pip-version-check lock --quiet -r requirements.txt -o pylock.toml 2> >(grep -v "^WARNING: Location" >&2)
echo "lock: wrote requirements.txt ($(grep -c '==' requirements.txt) pins) and pylock.toml ($(grep -c '^\[\[packages\]\]' pylock.toml) packages)" >&2
