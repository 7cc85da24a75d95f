#!/usr/bin/env bash
# Conformance of `toolbox emulator` with Microsoft's own SDKs (azure-eventhub, azure-servicebus) and the Python
# aio-azure-clients-toolbox 1.5.0: builds toolbox, starts the emulator on free ports, runs every
# Tests/Interop/python/*_scenarios.py against it, stops it. Exits non-zero if anything fails.
#
#   bash scripts/interop.sh
#
# Environment: TOOLBOX_VENV (default .build-venv) is created from PyPI if missing; PYTHON (default python3,
# 3.11+ because the toolbox uses datetime.UTC); TOOLBOX_SCRATCH (default .build) is the swift build scratch path.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${TOOLBOX_VENV:-.build-venv}
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
python=${PYTHON:-python3}
scratch=${TOOLBOX_SCRATCH:-.build}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
    azure-eventhub azure-servicebus "aio-azure-clients-toolbox==1.5.0"

swift build --scratch-path "$scratch" --product toolbox
toolbox="$(swift build --scratch-path "$scratch" --show-bin-path)/toolbox"

workdir=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

"$toolbox" emulator --host 127.0.0.1 --amqp-port 0 --amqps-port 0 --eventhub eh1:4 >"$workdir/ready" 2>"$workdir/emulator.log" &
pid=$!
for _ in $(seq 1 300); do
    [ -s "$workdir/ready" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$workdir/emulator.log" >&2; echo "interop: the emulator exited before it was ready" >&2; exit 1; }
    sleep 0.1
done
[ -s "$workdir/ready" ] || { echo "interop: no ready line from toolbox emulator within 30 s" >&2; exit 1; }

read_field() { "$venv/bin/python" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$workdir/ready" "$1"; }
EH_CONN=$(read_field eventhubs_connection_string)
SB_CONN=$(read_field servicebus_connection_string)
AMQPS_PORT=$(read_field amqps_port)
CA_FILE=$(read_field ca_file)
export EH_CONN SB_CONN EH_NAME=eh1 AMQPS_PORT CA_FILE
echo "interop: emulator ready on port $(read_field amqp_port)"

failed=0
for script in Tests/Interop/python/*_scenarios.py; do
    echo "== $script"
    if ! (cd Tests/Interop/python && TOOLBOX="$toolbox" timeout 300 "$venv/bin/python" "$(basename "$script")"); then
        failed=1
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "interop: FAILED; emulator log:" >&2
    tail -n 100 "$workdir/emulator.log" >&2
    exit 1
fi
# The emulator must stop cleanly on SIGTERM.
kill -TERM "$pid"
if ! wait "$pid"; then
    echo "interop: toolbox emulator did not exit 0 on SIGTERM" >&2
    exit 1
fi
pid=
echo "interop: all scenarios passed"
