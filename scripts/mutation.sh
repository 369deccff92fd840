#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the alignment numerics and the population builders.
#
# Mutates alignment/*.py and populations/{mixture,mop,aligned,crafting,base,evaluation}.py (config: [tool.mutmut] in
# pyproject.toml), runs the tests that cover each mutated function, and prints the mutation score per module
# (killed / total; "survived" mutants are listed for review, "no tests" ones count as not killed).
#
# Usage: scripts/mutation.sh [alignment|builders|all|PATTERN] [MAX_CHILDREN]
#   alignment  mutants of alignment/ only (~2,300 mutants; run it first)
#   builders   mutants of the builder modules only (~2,600)
#   all        both (default)
#   PATTERN    a mutmut name glob, e.g. 'alignment.histogram*' or 'populations.mixture*' (one module at a time)
# Results stay in mutants/ (generated; not committed); rerunning resumes from them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
GROUP=${1:-all}
CHILDREN=${2:-2}
case "$GROUP" in
  alignment) PATTERNS=("alignment.*") ;;
  builders) PATTERNS=("populations.*") ;;
  all) PATTERNS=("alignment.*" "populations.*") ;;
  *.*) PATTERNS=("$GROUP") ;;
  *) echo "scripts/mutation.sh: unknown group '$GROUP'; use alignment, builders, all or a glob like 'alignment.metrics*'" >&2; exit 2 ;;
esac
"$PY" -c "import mutmut" 2>/dev/null || { echo "mutmut is not installed: $PY -m pip install 'mutmut>=3.2'" >&2; exit 2; }
export POPULACE_QUIET=1 HF_HUB_OFFLINE=1 PYTHONHASHSEED=0
# The tests run inside mutants/, so the conftest's default data paths (relative to the repo) would miss: pin them here.
export POPULACE_DATA="${POPULACE_DATA:-$PWD/../shared/data}" POPULACE_PERSONAS="${POPULACE_PERSONAS:-$PWD/../shared/personas}"
# mutmut exits non-zero when mutants survive; the summary below is the result.
nice -n 10 "$PY" -m mutmut run --max-children "$CHILDREN" "${PATTERNS[@]}" || true
"$PY" -m mutmut results --all true > mutants/results.txt
"$PY" - "$GROUP" <<'PYEOF'
import collections
import sys

group = sys.argv[1]
known = {"alignment": ("alignment.",), "builders": ("populations.",), "all": ("alignment.", "populations.")}
prefixes = known.get(group, (group.rstrip("*"),))
by_module = collections.defaultdict(collections.Counter)
survivors = []
for line in open("mutants/results.txt", encoding="utf-8"):
    if "__mutmut_" not in line or ": " not in line:
        continue
    name, status = line.strip().rsplit(": ", 1)
    module = ".".join(name.split(".")[:2])  # alignment.metrics.x_f__mutmut_1 -> alignment.metrics
    if not module.startswith(prefixes) or status == "not checked":
        continue
    by_module[module][status] += 1
    if status != "killed":
        survivors.append((module, name, status))
print(f"{'module':<28} {'killed':>7} {'total':>6} {'score':>7}   other statuses")
for module in sorted(by_module):
    c = by_module[module]
    total = sum(c.values())
    other = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k != "killed")
    print(f"{module:<28} {c['killed']:>7} {total:>6} {c['killed'] / total:>7.1%}   {other}")
print(f"\n{len(survivors)} not killed (inspect with: {sys.executable} -m mutmut show NAME):")
for module, name, status in survivors:
    print(f"  {status:<12} {name}")
PYEOF
