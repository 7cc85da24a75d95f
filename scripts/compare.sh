#!/usr/bin/env bash
# Issues 8 and 17: AzureClientsToolbox (Swift) side by side with the Python aio-azure-clients-toolbox 1.5.0 and with the
# physical floor, all in ONE run on this machine against one `toolbox emulator` at a time (release build).
#
#   scripts/compare.sh [RESULTS.jsonl]        (default docs/performance/compare.jsonl)
#
# Writes one JSON line per measurement ({"case": ..., "result": {...}}), then prints a Markdown table with ratios
# (scripts/compare-report.py) and, when matplotlib is in the anchor venv, plots docs/performance/compare.png.
# Environment: SIZE (128), COUNT_SERIAL (5000), COUNT_64 (40000: long enough to time our client), COUNT_SB (5000), COLD_COUNT (5), IDLE (200, in each of two waves),
# COUNT_BATCH (500000 events, i.e. 5000 batches of 100), COUNT_BATCH_PY (50000 events for the Python batch rows),
# COUNT_RECEIVE (20000), RECEIVERS (8), SB_PREFETCH (the receive row's prefetch per receiver), SCRATCH (.build-perf-rel), TOOLBOX (a release toolbox to use instead of building).
# PARTS (default "messaging pool http") picks the sections; COUNT_HTTP (20000) and COUNT_HTTP_C1 (5000) Cosmos
# reads, COUNT_CREATE (2000) Cosmos creates (the emulator's creates slow down as the container fills), COUNT_EG (20000) Event Grid events, BLOB_MIB (256) and COUNT_BLOB (3) Blob transfers, HTTP_REQUESTS
# (40000) for `toolbox bench http` against nginx. The HTTP section installs wrk, curl and nginx-light from Debian
# when they are missing (root or passwordless sudo).
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
idle=${IDLE:-200}
count_batch=${COUNT_BATCH:-500000}
count_batch_py=${COUNT_BATCH_PY:-50000}
count_receive=${COUNT_RECEIVE:-20000}
receivers=${RECEIVERS:-8}
# The fastest correct setting measured (performance-history.md, "sb-prefetch"); the Python library's get_receiver()
# exposes no prefetch_count, so its row keeps azure-servicebus's default (credit per receive call).
sb_prefetch=${SB_PREFETCH:-50}
scratch=${SCRATCH:-.build-perf-rel}
parts=" ${PARTS:-messaging pool http} "
count_http=${COUNT_HTTP:-20000}
count_http_c1=${COUNT_HTTP_C1:-5000}
count_create=${COUNT_CREATE:-2000}
count_eg=${COUNT_EG:-20000}
blob_mib=${BLOB_MIB:-256}
count_blob=${COUNT_BLOB:-3}
http_requests=${HTTP_REQUESTS:-40000}
part() { [[ "$parts" == *" $1 "* ]]; }

if part http; then
    missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v curl >/dev/null || missing+=(curl)
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=()
        [ "$(id -u)" = 0 ] || sudo=(sudo -n)
        echo "compare: installing ${missing[*]} from Debian" >&2
        "${sudo[@]}" apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2 \
            || { echo "compare: cannot install ${missing[*]} (needs root or passwordless sudo)" >&2; exit 2; }
    fi
fi

if [ -n "${TOOLBOX:-}" ]; then
    toolbox=$TOOLBOX   # a release toolbox built already (e.g. a copy of an earlier build, for before/after runs)
else
    swift build -c release --scratch-path "$scratch" --product toolbox >&2
    toolbox="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/toolbox"
fi
python=$(Benchmarks/python-anchor/setup.sh)
# The URLSession baseline of `bench http`: one file, Foundation only, so swiftc builds it without the Benchmarks package.
urlsession="$scratch/URLSessionHTTPBench"
if part http && [ ! -x "$urlsession" ]; then
    mkdir -p "$scratch"   # not made by a release build when TOOLBOX names one already built
    swiftc -O -swift-version 6 Benchmarks/Sources/URLSessionHTTPBench/main.swift -o "$urlsession" >&2
fi
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
    HTTPS_PORT=$(field https_port)
    COSMOS_ENDPOINT=$(field cosmos_endpoint)
    COSMOS_KEY=$(field cosmos_key)
    COSMOS_CS=$(field cosmos_connection_string)
    BLOB_CS=$(field blob_connection_string)
    BLOB_ENDPOINT=$(field blob_endpoint)
    EG_KEY=$(field eventgrid_key)
    EG=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["eventgrid_endpoints"].get("bench", ""))' "$workdir/ready")
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

if part messaging; then
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
# With --prefetch the bench adds RECEIVERS x SB_PREFETCH surplus messages, releases what is still prefetched at the
# end and removes the surplus, so q2 ends empty again.
record swift_sb_receive "$toolbox" bench servicebus --connection-string "$SB" --queue q2 --receive --count "$count_receive" --concurrency "$receivers" --max-messages 10 --prefetch "$sb_prefetch" --size "$size" --json
record swift_sb_receive_noprefetch "$toolbox" bench servicebus --connection-string "$SB" --queue q2 --receive --count "$count_receive" --concurrency "$receivers" --max-messages 10 --size "$size" --json
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
fi

if part pool; then
    # The pool's selection policy, 64 callers: all on one connection (selectionPolicy .shareFirst, the default) vs
    # .spread over up to maxSize 10 connections, the way the Python library spreads them.
    start_emulator
    record pool_eh_c64_shared "$toolbox" bench eventhubs --connection-string "$EH" --count "$count_64" --concurrency 64 --size "$size" --json
    record pool_eh_c64_spread "$toolbox" bench eventhubs --connection-string "$EH" --count "$count_64" --concurrency 64 --size "$size" --pool-policy spread --max-size 10 --json
    record pool_eh_c64_shared_tls "$toolbox" bench eventhubs --connection-string "$EH_TLS" --ca-file "$CA" --count "$count_64" --concurrency 64 --size "$size" --json
    record pool_eh_c64_spread_tls "$toolbox" bench eventhubs --connection-string "$EH_TLS" --ca-file "$CA" --count "$count_64" --concurrency 64 --size "$size" --pool-policy spread --max-size 10 --json
    stop_emulator
fi

if part http; then
    start_emulator --cosmos-container db/c --blob-container bench --eventgrid-topic bench
    cosmos=(--connection-string "$COSMOS_CS" --ca-file "$CA" --database db --container c)
    cosmos_py=(--endpoint "$COSMOS_ENDPOINT" --key "$COSMOS_KEY" --ca-file "$CA" --database db --container c)
    # The floor: wrk's keep-alive request over one TLS connection, to the emulator's cheapest route and to the very
    # Cosmos point read the clients make (headers signed once with the master key; valid for the run).
    mapfile -t signed < <("$python" - "$COSMOS_KEY" <<'PY'
import base64, hashlib, hmac, sys, urllib.parse
from email.utils import formatdate
date = formatdate(usegmt=True)
payload = f"get\ndocs\ndbs/db/colls/c/docs/bench-read\n{date.lower()}\n\n".encode()
signature = base64.b64encode(hmac.new(base64.b64decode(sys.argv[1]), payload, hashlib.sha256).digest()).decode()
print("authorization: " + urllib.parse.quote(f"type=master&ver=1.0&sig={signature}", safe=""))
print(f"x-ms-date: {date}")
print("x-ms-version: 2020-07-15")
print('x-ms-documentdb-partitionkey: ["bench-read"]')
PY
)
    cosmos_headers=()
    for header in "${signed[@]}"; do cosmos_headers+=(--header "$header"); done
    record swift_cosmos_read_c1 "$toolbox" bench cosmos "${cosmos[@]}" --operation read --count "$count_http_c1" --json
    record wrk_health_c1 python3 scripts/wrk-json.py "https://127.0.0.1:$HTTPS_PORT/_emulator/health" --connections 1 --seconds 5
    record wrk_cosmos_read_c1 python3 scripts/wrk-json.py "${COSMOS_ENDPOINT}dbs/db/colls/c/docs/bench-read" --connections 1 --seconds 5 "${cosmos_headers[@]}"
    record python_cosmos_read_c1 "$python" "$anchor" cosmos "${cosmos_py[@]}" --operation read --count "$count_http_c1"
    record swift_cosmos_read_c64 "$toolbox" bench cosmos "${cosmos[@]}" --operation read --count "$count_http" --concurrency 64 --json
    record python_cosmos_read_c64 "$python" "$anchor" cosmos "${cosmos_py[@]}" --operation read --count "$count_http" --concurrency 64
    record swift_cosmos_create_c64 "$toolbox" bench cosmos "${cosmos[@]}" --operation create --count "$count_create" --concurrency 64 --json
    record python_cosmos_create_c64 "$python" "$anchor" cosmos "${cosmos_py[@]}" --operation create --count "$count_create" --concurrency 64
    record swift_eventgrid_c64 "$toolbox" eventgrid publish --endpoint "$EG" --key "$EG_KEY" --ca-file "$CA" --event-type Contoso.Bench \
        --subject bench/swift --data '{"filler": "xxxxxxxxxxxxxxxx"}' --count "$count_eg" --concurrency 64
    # The same publishes with EventGridClientOptions.coalescing on (opt-in; its own row, next to the plain one).
    record swift_eventgrid_c64_coalesced "$toolbox" eventgrid publish --endpoint "$EG" --key "$EG_KEY" --ca-file "$CA" --event-type Contoso.Bench \
        --subject bench/swift --data '{"filler": "xxxxxxxxxxxxxxxx"}' --count "$count_eg" --concurrency 64 --coalesce
    record python_eventgrid_c64 "$python" "$anchor" eventgrid --endpoint "$EG" --key "$EG_KEY" --ca-file "$CA" --count "$count_eg" --concurrency 64 --size 16
    # Blob: BLOB_MIB over HTTPS, streamed from and to files by all three clients (so max RSS shows their buffers).
    blob_size=$((blob_mib << 20))
    head -c "$blob_size" /dev/urandom >"$workdir/blob.bin"
    # Written back now, not during the transfers: the kernel flushing this file's 256 MiB while the downloads
    # wrote theirs made the first downloads of every client 3-4x slower (seen 2026-12-07, Swift and Python alike).
    sync "$workdir/blob.bin"
    # One untimed transfer first for both libraries: the first transfers after gigabytes of uploads varied 2-4x
    # between runs for every client (Python's too), and a single one decided the row.
    blob=(--connection-string "$BLOB_CS" --ca-file "$CA" --container bench --size "$blob_size" --count "$count_blob" --warmup 1 --file "$workdir/blob.bin" --json)
    blob_py=(--connection-string "$BLOB_CS" --ca-file "$CA" --container bench --size "$blob_size" --count "$count_blob" --warmup 1 --file "$workdir/blob.bin")
    sas=$("$python" - "$BLOB_CS" <<'PY'
import sys
from datetime import datetime, timedelta, timezone
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
parts = dict(p.split("=", 1) for p in sys.argv[1].split(";") if "=" in p)
print(generate_container_sas(parts["AccountName"], "bench", account_key=parts["AccountKey"],
                             permission=ContainerSasPermissions(read=True, write=True, create=True, delete=True),
                             expiry=datetime.now(timezone.utc) + timedelta(hours=2)))
PY
)
    record swift_blob_upload "$toolbox" bench blob "${blob[@]}" --operation upload
    record python_blob_upload "$python" "$anchor" blob "${blob_py[@]}" --operation upload
    record curl_blob_upload python3 scripts/curl-json.py upload "$blob_size" -- --cacert "$CA" -X PUT \
        -H "x-ms-blob-type: BlockBlob" -T "$workdir/blob.bin" -o /dev/null "$BLOB_ENDPOINT/bench/curl-bench?$sas"
    record swift_blob_download "$toolbox" bench blob "${blob[@]}" --operation download
    record python_blob_download "$python" "$anchor" blob "${blob_py[@]}" --operation download
    record curl_blob_download python3 scripts/curl-json.py download "$blob_size" -- --cacert "$CA" \
        -o "$workdir/curl.download" "$BLOB_ENDPOINT/bench/curl-bench?$sas"
    rm -f "$workdir/blob.bin" "$workdir/curl.download"
    stop_emulator
    # `toolbox bench http` (default callback queue and inline completions) vs URLSession and wrk, one nginx.
    BASELINE="$urlsession" TOOLBOX="$toolbox" WRK_SECONDS=5 scripts/bench-http.sh "$http_requests" 32 \
        2>"$workdir/bench-http.log" | while read -r line; do
            name=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(("http_%s_%s" % (r["client"], r["scheme"])).replace("-", "_"))' "$line")
            printf '{"case": "%s", "result": %s}\n' "$name" "$line" | tee -a "$results"
        done
    grep -i "ratio\|refused" "$workdir/bench-http.log" >&2 || true
fi

"$python" scripts/compare-report.py "$results" --plot "${results%.jsonl}.png"
