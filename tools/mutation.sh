#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the promise modules, one module at a time, with only the fast test
# files that defend each (tools/mutation/targets.txt). Slow (minutes per module): run it before a
# release or after changing one of those modules or its tests, not in the normal test command.
#
#   tools/mutation.sh                         # every module in targets.txt
#   tools/mutation.sh runtime/preprocess.py   # one module
#   MUTATION_SURVIVORS_ONLY=1 tools/mutation.sh runtime/preprocess.py   # after adding tests
#   MUTATION_ONLY=run_self_test,_check tools/mutation.sh runtime/selftest.py   # a sample of functions
#   MUTATION_CHILDREN=1 MUTATION_NICE=5 MUTATION_MEM_KB=4194304 tools/mutation.sh runtime/predictor.py
#                                             # one child, nice 5, 4 GiB address space per process
#
# Needs: pip install mutmut (>= 3). Works in build/mutation/<module>/ (a copy of edgefashion/ and
# tests/); writes build/mutation/<module>/summary.json and survivors.txt, and prints the score.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
MUTMUT="$(dirname "$PY")/mutmut"
export EDGEFASHION_DATA="${EDGEFASHION_DATA:-$ROOT/../shared/data}"
# the editable install redirects `import edgefashion` to the working tree; see sitecustomize.py
export PYTHONPATH="$ROOT/tools/mutation${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1   # one thread per worker: the machine is shared
CHILDREN="${MUTATION_CHILDREN:-2}"
NICE="${MUTATION_NICE:-10}"                  # niceness of the mutmut process and its children
# optional address-space cap per process (KiB) so a runaway mutant cannot take the machine
[ -n "${MUTATION_MEM_KB:-}" ] && ulimit -v "$MUTATION_MEM_KB"

write_config() {  # mutmut reads its [mutmut] section from setup.cfg in the folder it runs in
    {
        echo "[mutmut]"
        echo "source_paths = edgefashion"
        echo "only_mutate = edgefashion/$mod"
        echo "pytest_add_cli_args = -p no:cacheprovider -q"
        echo "pytest_add_cli_args_test_selection ="
        for t in "${tests[@]}"; do echo "    $t"; done
    } > "$1/setup.cfg"
}

modules=("$@")
if [ ${#modules[@]} -eq 0 ]; then
    mapfile -t modules < <(grep -v '^\s*#' "$ROOT/tools/mutation/targets.txt" | awk 'NF {print $1}')
fi

for target in "${modules[@]}"; do
    line="$(grep -v '^\s*#' "$ROOT/tools/mutation/targets.txt" | awk -v m="$target" '$1 == m || $1 ~ "^"m":"')"
    [ -n "$line" ] || { echo "error: $target is not in tools/mutation/targets.txt" >&2; exit 2; }
    read -r -a fields <<< "$(echo "$line" | xargs)"
    mod="${fields[0]%%:*}"
    tests=("${fields[@]:1}")
    # module:func1,func2 -> only the mutants of those module-level functions
    patterns=()
    only="${MUTATION_ONLY:-}"   # e.g. MUTATION_ONLY=run_self_test,Predictor.__call__ : a sample
    [ -z "$only" ] && [[ "${fields[0]}" == *:* ]] && only="${fields[0]#*:}"
    if [ -n "$only" ]; then
        dotted="edgefashion.$(echo "${mod%.py}" | tr / .)"
        IFS=, read -r -a funcs <<< "$only"
        for f in "${funcs[@]}"; do
            if [[ "$f" == *.* ]]; then patterns+=("$dotted.xǁ${f%%.*}ǁ${f#*.}__mutmut_*")  # a method
            else patterns+=("$dotted.x_${f}__mutmut_*"); fi
        done
    fi
    work="$ROOT/build/mutation/${mod//\//_}"
    if [ "${MUTATION_SURVIVORS_ONLY:-0}" = 1 ] && [ -f "$work/summary.json" ]; then
        # after adding tests: re-check only the last run's survivors, with the current tests
        mapfile -t left < <("$PY" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["survivors"]))' "$work/summary.json")
        rm -rf "$work/tests" && cp -r "$ROOT/tests" "$work/tests" && write_config "$work"
        rm -f "$work/mutants/mutmut-stats.json"  # which tests cover what: collect it again
        echo "== $mod: re-checking ${#left[@]} survivors"
        if [ ${#left[@]} -gt 0 ]; then
            (cd "$work" && nice -n "$NICE" "$MUTMUT" run --max-children "$CHILDREN" "${left[@]}" >> run.log 2>&1) || {
                echo "mutmut failed for $mod; see $work/run.log" >&2; exit 1; }
        fi
        (cd "$work" && "$PY" "$ROOT/tools/mutation/summary.py" "edgefashion/$mod" "${patterns[@]}")
        continue
    fi
    rm -rf "$work" && mkdir -p "$work"
    cp -r "$ROOT/edgefashion" "$ROOT/tests" "$ROOT/pyproject.toml" "$work/"
    find "$work" -name __pycache__ -prune -exec rm -rf {} +
    write_config "$work"
    echo "== $mod ${patterns[*]}: ${tests[*]}"
    (cd "$work" && nice -n "$NICE" "$MUTMUT" run --max-children "$CHILDREN" "${patterns[@]}" > run.log 2>&1) || {
        echo "mutmut failed for $mod; see $work/run.log" >&2; tail -c 2000 "$work/run.log" >&2; exit 1; }
    (cd "$work" && "$PY" "$ROOT/tools/mutation/summary.py" "edgefashion/$mod" "${patterns[@]}")
done
