#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the alignment numerics and the population builders, scored per module.
#
# Mutates the files of [tool.mutmut] only_mutate in pyproject.toml, runs the tests that cover each mutated function
# (the test selection there) and prints, per module: mutants, checked, killed, survived, timeout/suspicious, no tests
# and the score killed / checked. docs/mutation.md records the last table and the survivors judged equivalent.
#
# Usage: scripts/mutation.sh [--resume] [--report] [-j N] [MODULE ...]
#   MODULE       a module (alignment.metrics, populations.aligned, ...) or a group:
#                alignment = every module of alignment/; populations = evaluation, aligned, mop, crafting;
#                all = both (default). populations.mixture and populations.base can be named too.
#   --resume     test only the mutants of these modules not killed yet (unchecked ones and survivors, e.g. after
#                adding tests or an interrupted run); killed mutants keep their result
#   --report     print the table of the last results without running anything
#   -j N         parallel mutant workers (default 2)
# Every run of a module re-tests all its mutants. Results stay in mutants/ (generated; git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
ALIGNMENT=(alignment._validation alignment.categorical alignment.floor alignment.histogram alignment.importance alignment.inference
  alignment.metrics alignment.mixture alignment.transport alignment.worth)
POPULATIONS=(populations.evaluation populations.aligned populations.mop populations.crafting)
OPTIONAL=(populations.mixture populations.base)
MODE=run
CHILDREN=2
MODULES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --resume) MODE=resume ;;
    --report) MODE=report ;;
    -j) CHILDREN=$2; shift ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    alignment) MODULES+=("${ALIGNMENT[@]}") ;;
    populations) MODULES+=("${POPULATIONS[@]}") ;;
    all) MODULES+=("${ALIGNMENT[@]}" "${POPULATIONS[@]}") ;;
    *)
      known=" ${ALIGNMENT[*]} ${POPULATIONS[*]} ${OPTIONAL[*]} "
      if [[ "$known" != *" $1 "* ]]; then
        echo "scripts/mutation.sh: unknown module '$1'; use alignment, populations, all or one of:$known" >&2
        exit 2
      fi
      MODULES+=("$1") ;;
  esac
  shift
done
[ ${#MODULES[@]} -gt 0 ] || MODULES=("${ALIGNMENT[@]}" "${POPULATIONS[@]}")
"$PY" -c "import mutmut" 2>/dev/null || { echo "mutmut is not installed: $PY -m pip install 'mutmut>=3.8'" >&2; exit 2; }
export POPULACE_QUIET=1 HF_HUB_OFFLINE=1 PYTHONHASHSEED=0
# The tests run inside mutants/, so the conftest's default data paths (relative to the repo) would miss: pin them here.
export POPULACE_DATA="${POPULACE_DATA:-$PWD/../shared/data}" POPULACE_PERSONAS="${POPULACE_PERSONAS:-$PWD/../shared/personas}"
export POPULACE_CACHE="${POPULACE_CACHE:-$PWD/mutants/cache.sqlite}"

results() { "$PY" -m mutmut results --all true > mutants/results.txt; }

start=$(date +%s)
if [ "$MODE" = run ]; then
  globs=()
  for m in "${MODULES[@]}"; do globs+=("$m.*"); done
  # mutmut exits non-zero when mutants survive; the table below is the result.
  nice -n 10 "$PY" -m mutmut run --max-children "$CHILDREN" "${globs[@]}" || true
elif [ "$MODE" = resume ]; then
  [ -d mutants ] || { echo "scripts/mutation.sh: no mutants/ yet; run without --resume first" >&2; exit 2; }
  results
  mapfile -t names < <("$PY" - "${MODULES[@]}" <<'PYEOF'
import sys

modules = sys.argv[1:]
for line in open("mutants/results.txt", encoding="utf-8"):
    name, _, status = line.strip().rpartition(": ")
    if "__mutmut_" in name and status != "killed" and name.rsplit(".", 1)[0] in modules:
        print(name)
PYEOF
  )
  if [ ${#names[@]} -gt 0 ]; then
    echo "testing ${#names[@]} mutants not killed yet"
    nice -n 10 "$PY" -m mutmut run --max-children "$CHILDREN" "${names[@]}" || true
  else
    echo "every mutant of these modules is killed"
  fi
fi
[ -d mutants ] || { echo "scripts/mutation.sh: no results yet (mutants/ is missing)" >&2; exit 2; }
results
echo "elapsed: $(($(date +%s) - start)) s"
"$PY" - "${MODULES[@]}" <<'PYEOF'
import collections
import sys

modules = sys.argv[1:]
by_module = {m: collections.Counter() for m in modules}
survivors = []
for line in open("mutants/results.txt", encoding="utf-8"):
    name, _, status = line.strip().rpartition(": ")
    if "__mutmut_" not in name:
        continue
    module = name.rsplit(".", 1)[0]  # alignment.metrics.x_mmd_rbf__mutmut_3 -> alignment.metrics
    if module in by_module:
        by_module[module][status] += 1
        if status not in ("killed", "not checked"):
            survivors.append((status, name))
head = (
    f"{'module':<24} {'mutants':>7} {'checked':>7} {'killed':>7} {'survived':>8} {'timeout/susp.':>13} "
    f"{'no tests':>8} {'score':>7}"
)
print(head)
print("-" * len(head))
for module, c in by_module.items():
    total = sum(c.values())
    checked = total - c["not checked"]
    other = sum(v for k, v in c.items() if k not in ("killed", "survived", "no tests", "not checked"))
    score = f"{c['killed'] / checked:.1%}" if checked else "-"
    print(
        f"{module:<24} {total:>7} {checked:>7} {c['killed']:>7} {c['survived']:>8} {other:>13} {c['no tests']:>8} "
        f"{score:>7}"
    )
print("score = killed / checked (= killed / mutants once every mutant is checked; --resume checks the rest)")
print(f"\n{len(survivors)} not killed (see one with: mutmut show NAME):")
for status, name in sorted(survivors, key=lambda s: s[1]):
    print(f"  {status:<12} {name}")
PYEOF
