#!/usr/bin/env bash
# The project's test command (README): every test, the Python interop scenarios, the examples, then every test again
# under ThreadSanitizer.
#
#   bash scripts/test.sh            # full run
#   bash scripts/test.sh --no-tsan  # skip the ThreadSanitizer pass (quicker local iterations)
#
# Starts (and stops) the private services the tests use: a RabbitMQ with the AMQP 1.0 plugin on free loopback
# ports (scripts/rabbitmq.sh). nginx and curl are started by the tests themselves; scripts/interop.sh starts
# `toolbox emulator` and drives it with Microsoft's Python SDKs from a venv it fills from PyPI. The Debian packages
# it needs (scripts/system-deps.sh, the list .ci/run installs) are installed first when any is missing and this runs
# as root or with passwordless sudo; otherwise it says what to install and exits 2.
set -euo pipefail
cd "$(dirname "$0")/.."

tsan=1
[ "${1:-}" = "--no-tsan" ] && tsan=0

source scripts/system-deps.sh
toolbox_ensure_system_deps "scripts/test.sh" || exit 2
export PATH="$PATH:/usr/sbin:/sbin"

rabbit_dir=$(mktemp -d /tmp/toolbox-rabbitmq.XXXXXX)
cleanup() {
    scripts/rabbitmq.sh stop "$rabbit_dir" >/dev/null 2>&1 || true
    rm -rf "$rabbit_dir" "${log:-}" "${failures:-}"
}
trap cleanup EXIT
TOOLBOX_RABBITMQ_ENV=$(scripts/rabbitmq.sh start "$rabbit_dir" | tail -n 1)
export TOOLBOX_RABBITMQ_ENV

passed=0
failed=0
# XCTest's closing line of one pass: "Executed N tests, with [S tests skipped and ]F failures ..." (the last such line
# is the "All tests" total). Skipped tests count as neither passed nor failed.
count() {
    local line n s f
    line=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" "$1" | tail -n 1 || true)
    n=$(echo "$line" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
    s=$(echo "$line" | sed -nE 's/.*with ([0-9]+) tests? skipped.*/\1/p')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failures?.*/\1/')
    passed=$((passed + ${n:-0} - ${s:-0} - ${f:-0}))
    failed=$((failed + ${f:-0}))
}
log=$(mktemp /tmp/toolbox-test-log.XXXXXX)
status=0
# What failed, by name, printed again after the summary: CI shows only the end of the output, and a count alone does
# not say which test (or scenario, or example) to look at.
failures=$(mktemp /tmp/toolbox-test-failures.XXXXXX)
# One XCTest pass: `xctest_pass NAME COMMAND...` runs it, counts it, and notes what failed; a pass that exits non-zero
# with no failed test named (a crash, a build error) counts as one failure, noted with its last lines.
xctest_pass() {
    local name=$1 rc=0
    shift
    local named
    "$@" 2>&1 | tee "$log" || rc=1
    count "$log"
    named=$(grep -E "^Test Case '.*' failed|: error: " "$log" || true)
    [ -n "$named" ] && sed "s/^/[$name] /" <<<"$named" >>"$failures"
    if [ "$rc" -ne 0 ]; then
        status=1
        if [ -z "$named" ]; then
            failed=$((failed + 1))
            echo "[$name] exited non-zero without naming a failed test; its last lines:" >>"$failures"
            tail -n 8 "$log" | sed "s/^/[$name]   /" >>"$failures"
        fi
    fi
}
# A pass that prints one `PASS …` / `FAIL …` line per check and `DONE_LINE` when all passed (the model check,
# interop): `checks_pass NAME DONE_LINE COMMAND...` runs it, counts it, and notes each FAIL (with `context` lines
# after it) and a missing DONE_LINE (with the last lines).
checks_pass() {
    local name=$1 done_line=$2
    shift 2
    "$@" 2>&1 | tee "$log" || status=1
    passed=$((passed + $(grep -c '^PASS ' "$log" || true)))
    failed=$((failed + $(grep -c '^FAIL ' "$log" || true)))
    grep -A "${context:-0}" '^FAIL ' "$log" | sed "s/^/[$name] /" >>"$failures" || true
    if ! grep -q "^$done_line" "$log"; then
        failed=$((failed + 1))
        status=1
        echo "[$name] no '$done_line' line; its last lines:" >>"$failures"
        tail -n 5 "$log" | sed "s/^/[$name]   /" >>"$failures"
    fi
}

echo "== swift test" >&2
swift build --build-tests
# The plain pass runs the Event Hubs fault test at the issue's full size (64 callers x 1,000 events, ~1 min);
# the ThreadSanitizer pass keeps its small default.
TOOLBOX_FAULT_EVENTS_PER_CALLER=${TOOLBOX_FAULT_EVENTS_PER_CALLER:-1000} \
    xctest_pass "swift test" swift test --skip-build --disable-swift-testing

# The pool's protocol model-checked with SPIN (Verification/pool.pml): one PASS/FAIL line per property and per
# broken mutant; then fresh random runs of the model replayed against the real pool.
echo "== model check (SPIN)" >&2
checks_pass "model check" "model-check: all checks passed" bash scripts/model-check.sh --traces .build-model/traces 20
# The random runs, and any counterexample the check left, replayed against the real pool.
TOOLBOX_MODEL_TRACES=.build-model/traces xctest_pass "trace replay" swift test --skip-build --disable-swift-testing \
    --filter ModelTraceReplayTests/testTracesInTheDirectoryNamedByTheEnvironment

# Microsoft's own SDKs (and the Python toolbox) against `toolbox emulator`: the proof the emulator is faithful.
echo "== interop with Microsoft's Python SDKs" >&2
context=3 checks_pass "interop" "interop: all scenarios passed" bash scripts/interop.sh

# The runnable examples (their own package), each against its in-process emulator.
echo "== Examples/" >&2
swift build --package-path Examples
for example in BlockingExample CompletionHandlerExample AsyncExample \
    CosmosBlockingExample CosmosCompletionHandlerExample CosmosAsyncExample \
    EventGridBlockingExample EventGridCompletionHandlerExample EventGridAsyncExample \
    BlobBlockingExample BlobCompletionHandlerExample BlobAsyncExample; do
    if timeout 300 swift run --skip-build --package-path Examples "$example"; then
        passed=$((passed + 1))
    else
        echo "example $example failed" >&2
        echo "[examples] $example failed" >>"$failures"
        failed=$((failed + 1))
        status=1
    fi
done

if [ "$tsan" = 1 ]; then
    echo "== swift test --sanitize=thread" >&2
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
    swift build --build-tests --sanitize=thread --scratch-path .build-tsan
    # The black-box CLI tests run the TSan-built toolbox; a child's report fails its test with the report attached
    # (Tests/ToolboxCLITestSupport). TOOLBOX_CLI_EXECUTABLE would point them at another build's toolbox.
    xctest_pass "tsan" swift test --skip-build --disable-swift-testing --sanitize=thread --scratch-path .build-tsan
fi

# One plain closing line for both passes (read by CI), also kept for .ci/run to repeat last.
summary="tests: $passed passed, $failed failed"
if [ -s "$failures" ]; then
    # Long assertion messages cut, at most 60 lines: enough to name every failure without burying the summary.
    summary+=$'\n'"what failed:"$'\n'"$(cut -c1-400 "$failures" | head -n 60)"
fi
echo "$summary" > "${TOOLBOX_TEST_SUMMARY:-/dev/null}"
echo "$summary"
exit "$status"
