#!/usr/bin/env bash
# Model-checks the connection pool's protocol (Verification/pool.pml, a model of ConnectionPooling's PoolEngine)
# with SPIN: the safety invariants, each liveness property under weak fairness, and the deliberately broken models
# in Verification/mutants/ (each must fail the way its header says, or the checker itself is broken).
# docs/connection-pooling.md ("What the model checker proves") says what is proved and under which bounds.
#
#   bash scripts/model-check.sh                  # every check; one PASS/FAIL line per property on stdout
#   bash scripts/model-check.sh --traces DIR N   # also N random simulations of the model, as replayable traces
#   bash scripts/model-check.sh --mutant-traces DIR  # the mutants' counterexamples, as replayable traces
#
# A violation leaves its counterexample as a trace (.build-model/traces/counterexample-*.trace) that
# Tests/ConnectionPoolingTests/ModelTraceReplayTests replays against the real pool, where it fails at the step that
# shows the bug (or where model and code disagree):
#   TOOLBOX_MODEL_TRACES=.build-model/traces swift test --skip-build --filter ModelTraceReplayTests
# Needs the Debian packages spin and gcc. Exits non-zero when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in spin gcc; do
    command -v "$tool" >/dev/null 2>&1 || { echo "model-check: $tool is missing; install with: apt-get install -y spin gcc" >&2; exit 2; }
done

work=${TOOLBOX_MODEL_DIR:-.build-model}
mkdir -p "$work"
work=$(cd "$work" && pwd)
mkdir -p "$work/traces"
rm -f "$work"/traces/counterexample-*.trace
# TOOLBOX_MODEL_FILE checks another model (a broken copy, say) in its place.
model=${TOOLBOX_MODEL_FILE:-$PWD/Verification/pool.pml}
# The pan verifier's memory (MB) and depth; the model's searches need ~0.5 GB and depth < 2,000.
memory=${TOOLBOX_MODEL_MEMORY_MB:-2048}
status=0

# Writes the trace of the trail pan left in directory $1 (model copy pool.pml) to $2; $3 is pan's output.
trail_to_trace() {
    local dir=$1 out=$2 panlog=$3 result
    if grep -qE '^pan:[0-9]+: assertion violated' "$panlog"; then
        result="assertion $(grep -m1 -oE 'assertion violated.*' "$panlog" | sed -E 's/ \(at depth [0-9]+\)//')"
    elif grep -qE '^pan:[0-9]+: acceptance cycle' "$panlog"; then
        result="cycle $(grep -m1 -o 'ltl formula [a-z0-9_]*' "$panlog" | sed 's/ltl formula //')"
    elif grep -qE '^pan:[0-9]+: invalid end state' "$panlog"; then
        result="deadlock"
    else
        result="error"
    fi
    { (cd "$dir" && spin -T -t pool.pml) 2>&1 || true; } \
        | sed -nE 's/.*<<<<<START OF CYCLE>>>>>.*/CYCLE/p; /^(CONFIG|EV|ST)( |$)/p' > "$out"
    echo "RESULT $result" >> "$out"
}

# Compiles model $2 into directory $1 for `safety` or `liveness` ($3). Safety runs with every fault budget of
# the model (1 each); liveness, whose fair-cycle search costs ~5x per state, without a failing readiness check
# or a discarded lease (the failing create, getTimeout, expiry and closeAll stay), so that the whole check takes
# a few minutes on two shared cores. TOOLBOX_MODEL_LIVENESS_DEFINES="" checks liveness with every budget too.
liveness_defines=${TOOLBOX_MODEL_LIVENESS_DEFINES--DREADY_FAILS=0 -DDISCARDS=0}
build() {
    local dir=$1 source=$2 mode=$3
    mkdir -p "$dir"
    cp "$source" "$dir/pool.pml"
    if [ "$mode" = safety ]; then
        (cd "$dir" && spin -a pool.pml >/dev/null)
        # The ltl blocks are the liveness checks; safety runs without them and reports deadlocks.
        (cd "$dir" && gcc -O2 -DSAFETY -DNOCLAIM -DCOLLAPSE -DMEMLIM="$memory" -o pan pan.c)
    else
        (cd "$dir" && spin -a $liveness_defines pool.pml >/dev/null)
        (cd "$dir" && gcc -O2 -DCOLLAPSE -DNFAIR=3 -DMEMLIM="$memory" -o pan pan.c)
    fi
}

# Runs pan in directory $1 with arguments $2; prints the log path.
search() {
    local dir=$1 args=$2 log
    log="$dir/pan-$(echo "$args" | tr -c 'a-zA-Z0-9_\n' '_').log"
    # pan exits 0 even when it finds an error; the log says.
    (cd "$dir" && ./pan -m100000 $args) > "$log" 2>&1 || true
    echo "$log"
}

summary() {
    local log=$1 states seconds
    states=$(grep -m1 -oE '[0-9]+ states, stored' "$log" | cut -d' ' -f1)
    seconds=$(grep -m1 -oE 'elapsed time [0-9.e+]+' "$log" | cut -d' ' -f3)
    echo "${states:-?} states, ${seconds:-?} s"
}

# pan exits 0 whatever it finds: a search passed only if it ended with "errors: 0" and reported nothing.
failed_search() {
    grep -qE '^pan:[0-9]+: |out of memory|max search depth too small' "$1" || ! grep -q 'errors: 0' "$1"
}

# Reports the search of directory $1 (log $2) for property $3; a failure leaves its counterexample as the trace
# traces/counterexample-$4.trace.
report() {
    local dir=$1 log=$2 name=$3 trace="$work/traces/counterexample-$4.trace"
    if failed_search "$log"; then
        echo "FAIL model $name ($(summary "$log")): $(grep -m1 -E '^pan:[0-9]+: |errors' "$log")"
        trail_to_trace "$dir" "$trace" "$log"
        echo "model-check: counterexample trace $trace" >&2
        status=1
    else
        echo "PASS model $name ($(summary "$log"))"
    fi
}

# --- The model: safety, then each liveness property with weak fairness ---
build "$work/safety" "$model" safety
report "$work/safety" "$(search "$work/safety" "")" "safety invariants and no deadlock" safety

build "$work/liveness" "$model" liveness
# slot2_settles (the spare record) follows from the safety invariant nslots <= maxSize: it is not searched.
for property in slot0_settles slot1_settles waiters_finish close_drains; do
    report "$work/liveness" "$(search "$work/liveness" "-a -f -N $property")" \
        "liveness $property with weak fairness, ${liveness_defines:-all budgets}" "$property"
done

# --- The checker: every mutant must fail as its header says ---
mutant_traces=""
[ "${1:-}" = "--mutant-traces" ] && mutant_traces=${2:?"--mutant-traces needs a directory"}
for mutant in Verification/mutants/*.sed; do
    name=$(basename "$mutant" .sed)
    mode=$(sed -nE 's/^# check: *//p' "$mutant")
    expect=$(sed -nE 's/^# expect: *//p' "$mutant")
    dir="$work/mutant-$name"
    mkdir -p "$dir"
    sed -f "$mutant" "$model" > "$dir/mutant.pml"
    if cmp -s "$model" "$dir/mutant.pml"; then
        echo "FAIL checker mutant $name: its edit no longer applies to Verification/pool.pml (update the mutant)"
        status=1
        continue
    fi
    case "$mode" in
        safety) build "$dir" "$dir/mutant.pml" safety; log=$(search "$dir" "") ;;
        ltl\ *) build "$dir" "$dir/mutant.pml" liveness; log=$(search "$dir" "-a -f -N ${mode#ltl }") ;;
        *) echo "FAIL checker mutant $name: unknown '# check: $mode'"; status=1; continue ;;
    esac
    if grep -E '^pan:[0-9]+: ' "$log" | grep -qF -- "$expect"; then
        echo "PASS checker finds the bug in mutant $name ($expect)"
        if [ -n "$mutant_traces" ]; then
            mkdir -p "$mutant_traces"
            trail_to_trace "$dir" "$mutant_traces/mutant-$name.trace" "$log"
        fi
    else
        echo "FAIL checker mutant $name: expected '$expect', got: $(grep -m1 -E 'errors:' "$log")"
        status=1
    fi
done

# --- Random simulations, as traces for the replay test ---
if [ "${1:-}" = "--traces" ]; then
    dir=${2:?"--traces needs a directory"}
    count=${3:-20}
    mkdir -p "$dir"
    rm -f "$dir"/sim-*.trace
    for seed in $(seq 1 "$count"); do
        # Half the runs never close the pool, so they go on longer with faults and expiry.
        defines=""
        [ $((seed % 2)) = 0 ] && defines="-DCLOSE_ALLS=0"
        # Keep whole steps (up to an ST line) within the first 400 lines; awk reads to the end (no SIGPIPE).
        (cd "$work" && spin -T -n"$seed" -u40000 $defines "$model" 2>/dev/null) \
            | awk '/^(CONFIG|EV|ST) / && n < 400 { lines[++n] = $0; if ($1 == "ST" || $1 == "CONFIG") last = n }
                   END { for (i = 1; i <= last; i++) print lines[i] }' \
            > "$dir/sim-$seed.trace"
        echo "RESULT none" >> "$dir/sim-$seed.trace"
    done
    echo "model-check: $count simulation traces in $dir" >&2
fi

[ "$status" = 0 ] && echo "model-check: all checks passed"
exit "$status"
