#!/usr/bin/env bash
# Issue 8: AzureClientsToolbox (Swift) side by side with the Python aio-azure-clients-toolbox 1.5.0 and with the
# physical floor, all in ONE run on this machine against one `toolbox emulator` at a time (release build).
#
#   scripts/compare.sh [RESULTS.jsonl]        (default docs/performance/compare.jsonl)
#
# Writes one JSON line per measurement ({"case": ..., "result": {...}}), then prints a Markdown table with ratios
# (scripts/compare-report.py) and, when matplotlib is in the anchor venv, plots docs/performance/compare.png.
# Environment: SIZE (128), COUNT_SERIAL (5000), COUNT_64 (40000: long enough to time our client), COUNT_SB (5000), COLD_COUNT (5), IDLE (50),
# COUNT_BATCH (500000 events, i.e. 5000 batches of 100), COUNT_BATCH_PY (50000 events for the Python batch rows),
# COUNT_RECEIVE (20000), RECEIVERS (8), SCRATCH (.build-perf-rel).
# Batches: ours EventDataBatch through ManagedEventHubProducer vs the library's send_events_batch. Receive+complete:
# ours ServiceBusReceiver vs the receivers the library's get_receiver() hands out (azure-servicebus peek-lock).
set -euo pipefail
cd "$(dirname "$0")/.."
results=${1:-docs/performance/compare.jsonl}
size=${SIZE:-128}
count_serial=${COUNT_SERIAL:-5000}
count_64=${COUNT_64:-40000}
count_sb=${COUNT_SB:-5000}
cold_count=${COLD_COUNT:-5}
idle=${IDLE:-50}
count_batch=${COUNT_BATCH:-500000}
count_batch_py=${COUNT_BATCH_PY:-50000}
count_receive=${COUNT_RECEIVE:-20000}
receivers=${RECEIVERS:-8}
scratch=${SCRATCH:-.build-perf-rel}

swift build -c release --scratch-path "$scratch" --product toolbox >&2
toolbox="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/toolbox"
python=$(Benchmarks/python-anchor/setup.sh)
anchor=Benchmarks/python-anchor/anchor.py

workdir=$(mktemp -d)
pid=
stop_emulator() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    pid=
}
trap 'stop_emulator; rm -rf "$workdir"' EXIT

start_emulator() {  # extra flags for toolbox emulator
    : >"$workdir/ready"
    "$toolbox" emulator --host 127.0.0.1 --amqp-port 0 --amqps-port 0 --eventhub eh1:4 --queue q1 --queue q2 "$@" \
        >"$workdir/ready" 2>"$workdir/emulator.log" &
    pid=$!
    for _ in $(seq 1 300); do
        [ -s "$workdir/ready" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$workdir/emulator.log" >&2; exit 1; }
        sleep 0.1
    done
    field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$workdir/ready" "$1"; }
    EH=$(field eventhubs_connection_string)
    SB=$(field servicebus_connection_string)
    CA=$(field ca_file)
    # TLS: the same namespace through the AMQPS listener, verified against the emulator's generated CA.
    EH_TLS="Endpoint=sb://localhost:$(field amqps_port);SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;EntityPath=eh1"
}

: >"$results"
record() {  # case-name command...
    local name=$1
    shift
    echo "compare: $name" >&2
    local line
    line=$(timeout 300 "$@" | tail -n 1) || echo "compare: $name exited non-zero (errors are in its JSON)" >&2
    [ -n "$line" ] || line='{"errors": -1}'
    printf '{"case": "%s", "result": %s}\n' "$name" "$line" | tee -a "$results"
}

start_emulator
record tcp_pingpong "$toolbox" bench tcp-pingpong --size "$size" --count 20000 --json
record swift_eh_c1 "$toolbox" bench eventhubs --connection-string "$EH" --count "$count_serial" --size "$size" --json
record python_eh_c1 "$python" "$anchor" eventhubs --connection-string "$EH" --count "$count_serial" --size "$size"
record swift_eh_c64 "$toolbox" bench eventhubs --connection-string "$EH" --count "$count_64" --concurrency 64 --size "$size" --json
record python_eh_c64 "$python" "$anchor" eventhubs --connection-string "$EH" --count "$count_64" --concurrency 64 --size "$size"
record swift_eh_c64_tls "$toolbox" bench eventhubs --connection-string "$EH_TLS" --ca-file "$CA" --count "$count_64" --concurrency 64 --size "$size" --json
record swift_sb_c64_scheduled "$toolbox" bench servicebus --connection-string "$SB" --queue q1 --scheduled --count "$count_sb" --concurrency 64 --size "$size" --json
record python_sb_c64 "$python" "$anchor" servicebus --connection-string "$SB" --queue q1 --count "$count_sb" --concurrency 64 --size "$size"
record swift_sb_c64_send "$toolbox" bench servicebus --connection-string "$SB" --queue q1 --count "$count_sb" --concurrency 64 --size "$size" --json
record swift_eh_batch100_c1 "$toolbox" bench eventhubs --connection-string "$EH" --batch-size 100 --count "$count_batch" --size "$size" --json
record swift_eh_batch100_c8 "$toolbox" bench eventhubs --connection-string "$EH" --batch-size 100 --count "$count_batch" --concurrency 8 --size "$size" --json
record python_eh_batch100_c1 "$python" "$anchor" eventhubs --connection-string "$EH" --batch-size 100 --count "$count_batch_py" --size "$size"
record python_eh_batch100_c8 "$python" "$anchor" eventhubs --connection-string "$EH" --batch-size 100 --count "$count_batch_py" --concurrency 8 --size "$size"
# q2 is empty: the receive row pre-fills it itself (warm-up + COUNT_RECEIVE messages) and completes every message
record swift_sb_receive "$toolbox" bench servicebus --connection-string "$SB" --queue q2 --receive --count "$count_receive" --concurrency "$receivers" --max-messages 10 --size "$size" --json
record python_sb_receive "$python" "$anchor" servicebus --connection-string "$SB" --queue q2 --receive --count "$count_receive" --concurrency "$receivers" --max-messages 10 --size "$size"
record idle_memory_plain "$toolbox" bench eventhubs --connection-string "$EH" --idle-connections "$idle" --json
record idle_memory_tls "$toolbox" bench eventhubs --connection-string "$EH_TLS" --ca-file "$CA" --idle-connections "$idle" --json
stop_emulator

start_emulator --connect-delay-ms 800
record cold_eh_delay800 "$toolbox" bench eventhubs --connection-string "$EH" --cold --count "$cold_count" --size "$size" --json
record pooled_eh_delay800 "$toolbox" bench eventhubs --connection-string "$EH" --count "$count_serial" --size "$size" --json
record cold_sb_delay800 "$toolbox" bench servicebus --connection-string "$SB" --queue q1 --cold --count "$cold_count" --size "$size" --json
record pooled_sb_delay800 "$toolbox" bench servicebus --connection-string "$SB" --queue q1 --count "$count_serial" --size "$size" --json
stop_emulator

"$python" scripts/compare-report.py "$results" --plot "${results%.jsonl}.png"
