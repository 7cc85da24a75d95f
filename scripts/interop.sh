#!/usr/bin/env bash
# Conformance of `toolbox emulator` with Microsoft's own SDKs (azure-eventhub, azure-servicebus, azure-cosmos,
# azure-storage-blob, azure-eventgrid, azure-identity) and the Python
# aio-azure-clients-toolbox 1.5.0 (plus websocket-client, which the SDKs need for AMQP over WebSockets): builds
# toolbox, starts the emulator on free ports, runs every
# Tests/Interop/python/*_scenarios.py against it, stops it. Exits non-zero if anything fails.
#
#   bash scripts/interop.sh
#
# Environment: INTEROP_SCENARIOS (a glob, default *) picks the scenario files (`identity` runs
# identity_scenarios.py only); TOOLBOX_VENV (default .build-venv) is created from PyPI if missing; PYTHON (default python3,
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
    azure-eventhub azure-servicebus "aio-azure-clients-toolbox==1.5.0" \
    azure-cosmos azure-storage-blob azure-eventgrid azure-identity aiohttp websocket-client

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

# The HTTP side (Cosmos DB, Blob Storage, Event Grid, Entra ID) listens on free plain and HTTPS ports too; scenario
# scripts read everything they need from the ready line ($READY_JSON) or the variables exported below.
"$toolbox" emulator --host 127.0.0.1 --amqp-port 0 --amqps-port 0 --amqp-ws-port 0 --amqps-ws-port 0 --eventhub eh1:4 \
    --cosmos-container interop/items:/pk --blob-container interop --eventgrid-topic orders --eventgrid-topic cloud \
    >"$workdir/ready" 2>"$workdir/emulator.log" &
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
AMQP_WS_PORT=$(read_field amqp_ws_port)
AMQPS_WS_PORT=$(read_field amqps_ws_port)
export EH_CONN SB_CONN EH_NAME=eh1 AMQPS_PORT CA_FILE AMQP_WS_PORT AMQPS_WS_PORT
READY_JSON="$workdir/ready"
HTTP_PORT=$(read_field http_port)
HTTPS_PORT=$(read_field https_port)
COSMOS_ENDPOINT=$(read_field cosmos_endpoint)
COSMOS_KEY=$(read_field cosmos_key)
BLOB_ENDPOINT=$(read_field blob_endpoint)
BLOB_CONN=$(read_field blob_connection_string)
EVENTGRID_KEY=$(read_field eventgrid_key)
AUTHORITY_HOST=$(read_field authority_host)
TENANT_ID=$(read_field tenant_id)
CLIENT_ID=$(read_field client_id)
CLIENT_SECRET=$(read_field client_secret)
IMDS_ENDPOINT=$(read_field imds_endpoint)
export READY_JSON HTTP_PORT HTTPS_PORT COSMOS_ENDPOINT COSMOS_KEY BLOB_ENDPOINT BLOB_CONN EVENTGRID_KEY AUTHORITY_HOST \
    TENANT_ID CLIENT_ID CLIENT_SECRET IMDS_ENDPOINT
echo "interop: emulator ready on port $(read_field amqp_port)"

failed=0
for script in Tests/Interop/python/${INTEROP_SCENARIOS:-*}_scenarios.py; do
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
