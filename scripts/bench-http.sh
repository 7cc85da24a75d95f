#!/usr/bin/env bash
# Runs `toolbox bench http` against a private nginx (HTTP and HTTPS with a generated CA) and, when built, the
# URLSession baseline from Benchmarks/ over HTTPS and HTTP, all in one run. Prints one JSON line per run, with the
# client's CPU time per request and peak RSS added (from /usr/bin/time), then the HTTPS ratio ours/URLSession.
# Checks that an untrusted CA is refused, by our client and by URLSession.
#   scripts/bench-http.sh [REQUESTS] [CONCURRENCY]
# Environment:
#   TOOLBOX=path         the toolbox binary (default .build-transport/release/toolbox, else .build/release/toolbox)
#   TOOLBOX_BEFORE=path  a second toolbox binary (an older build) measured in the same run, labelled "before"
#   BASELINE=path        the URLSession baseline (default Benchmarks/.build/release/URLSessionHTTPBench)
#   ROUNDS=n             repeat the whole set n times, interleaved (default 1)
#   NGINX_WORKERS=n      nginx worker processes (default 2)
#   SERVE=1              only start nginx, print its ports and CA, and keep it up until interrupted (profiling)
#   WRK_SECONDS=n        with wrk installed, also measure wrk on as many connections for n seconds (default 5)
# Needs nginx-light, openssl, python3, util-linux's unshare and a release build:
#   swift build -c release --scratch-path .build-transport --product toolbox
#
# URLSession over HTTPS: FoundationNetworking on Linux is libcurl, which trusts only the system store
# (/etc/ssl/certs/ca-certificates.crt and the hashed directory /etc/ssl/certs); it cannot be given a CA
# in-process. So the baseline runs in a private mount namespace (`unshare -rm`, unprivileged user namespaces or
# root) in which a copy of /etc/ssl/certs, whose bundle has the test CA appended and which holds the test CA under
# its hash name, is bind-mounted over /etc/ssl/certs. Nothing outside that one process sees the change. The same
# setup with the unrelated CA must fail, which shows that the verification is real.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requests=${1:-20000}
concurrency=${2:-32}
toolbox=${TOOLBOX:-$root/.build-transport/release/toolbox}
[ -n "${TOOLBOX:-}" ] || [ -x "$toolbox" ] || toolbox=$root/.build/release/toolbox
before=${TOOLBOX_BEFORE:-}
baseline=${BASELINE:-$root/Benchmarks/.build/release/URLSessionHTTPBench}
rounds=${ROUNDS:-1}
workers=${NGINX_WORKERS:-2}
[ "${SERVE:-}" = 1 ] || [ -x "$toolbox" ] || { echo "build toolbox first: swift build -c release --scratch-path .build-transport --product toolbox" >&2; exit 2; }
[ -z "$before" ] || [ -x "$before" ] || { echo "bench-http: TOOLBOX_BEFORE=$before is not executable" >&2; exit 2; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)

dir=$(mktemp -d /tmp/toolbox-bench-http.XXXXXX)
cleanup() { [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
"$root/scripts/make-test-certs.sh" "$dir/pki" >/dev/null
mkdir -p "$dir/www" "$dir/tmp"
echo hello > "$dir/www/hello.txt"
# With a master process, nginx's workers drop root: they must be able to read the document root.
chmod 755 "$dir" "$dir/www"
chmod 644 "$dir/www/hello.txt"
read -r http https < <(python3 -c 'import socket
ports=[]
socks=[socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1",0)); ports.append(s.getsockname()[1])
print(*ports)')
master=off
[ "$workers" -gt 1 ] && master=on
cat > "$dir/nginx.conf" <<CONF
daemon off;
master_process $master;
worker_processes $workers;
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy; fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$http;
        listen 127.0.0.1:$https ssl;
        ssl_certificate $dir/pki/server.pem;
        ssl_certificate_key $dir/pki/server.key;
        root $dir/www;
    }
}
CONF
"$nginx" -c "$dir/nginx.conf" -p "$dir" &
echo $! > "$dir/pid"
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$https") 2>/dev/null && break; sleep 0.1; done

https_url="https://localhost:$https/hello.txt"
http_url="http://127.0.0.1:$http/hello.txt"

if [ "${SERVE:-}" = 1 ]; then
    echo "{\"https_url\":\"$https_url\",\"http_url\":\"$http_url\",\"ca_file\":\"$dir/pki/ca.pem\"}"
    echo "bench-http: nginx is up; interrupt to stop it" >&2
    wait "$(cat "$dir/pid")" || true
    exit 0
fi

# A copy of /etc/ssl/certs that also trusts CA ($1), both as bundle (CAfile) and as hashed directory (CApath).
make_store() {
    local store=$dir/store-$(basename "$1" .pem)
    mkdir -p "$store"
    cp -a /etc/ssl/certs/. "$store/"
    rm -f "$store/ca-certificates.crt"
    cat /etc/ssl/certs/ca-certificates.crt "$1" > "$store/ca-certificates.crt"
    cp "$1" "$store/toolbox-bench-$(basename "$1")"
    ln -s "toolbox-bench-$(basename "$1")" "$store/$(openssl x509 -hash -noout -in "$1").0"
    echo "$store"
}
# Prefix that runs a command with the system trust store replaced by the store named next, in a private mount
# namespace: "${with_store[@]}" STORE COMMAND ARGS...
with_store=(unshare -rm sh -c 'mount --bind "$0" /etc/ssl/certs && exec "$@"')

# URLSession does not say how many connections it opened: where perf can count connect(2) calls, the baseline
# runs under `perf stat` and that count is reported as its connections_opened.
count_connects=()
if perf stat -x, -e syscalls:sys_enter_connect -o /dev/null true >/dev/null 2>&1; then
    count_connects=(perf stat -x, -e syscalls:sys_enter_connect -o "$dir/connects" --)
fi

# Runs one client, adds "client", "scheme", client CPU per request (user+sys) and max RSS to its JSON line.
measure() {
    local client=$1 scheme=$2
    shift 2
    local status=0
    rm -f "$dir/connects"
    if [ "$client" = urlsession ]; then set -- "${count_connects[@]}" "$@"; fi
    /usr/bin/time -o "$dir/time" -f '%U %S %M' "$@" > "$dir/out" 2>"$dir/stderr" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "bench-http: $client $scheme exited with $status: $(tail -n 3 "$dir/stderr")" >&2
        grep -q '^{' "$dir/out" || return 1
    fi
    python3 - "$client" "$scheme" "$requests" "$dir/out" "$dir/time" <<'PY' | tee -a "$dir/results"
import json, sys
client, scheme, requests, out, timing = sys.argv[1:]
line = [l for l in open(out).read().splitlines() if l.startswith("{")][-1]
result = json.loads(line)
requests = result.get("requests", requests)  # wrk runs for a time and says how many it sent
user, system, rss = open(timing).read().split()[-3:]
try:
    for l in open(out.rsplit("/", 1)[0] + "/connects"):
        if "sys_enter_connect" in l:
            result["connections_opened"] = int(l.split(",")[0])
except (OSError, ValueError):
    pass
result.update(client=client, scheme=scheme,
              cpu_us_per_request=round((float(user) + float(system)) * 1e6 / int(requests), 1),
              max_rss_mb=round(int(rss) / 1024, 1))
print(json.dumps(result, sort_keys=True))
PY
}

# Builds that have HTTPClientConfiguration.inlineCompletions are also measured with it ("toolbox-inline").
inline=0
"$toolbox" bench http --help 2>/dev/null | grep -q -- --inline-completions && inline=1

[ -x "$baseline" ] && trusted_store=$(make_store "$dir/pki/ca.pem") && untrusted_store=$(make_store "$dir/pki/other-ca.pem")

for _ in $(seq "$rounds"); do
    measure toolbox https "$toolbox" bench http --url "$https_url" --ca-file "$dir/pki/ca.pem" \
        --requests "$requests" --concurrency "$concurrency" --json
    measure toolbox http "$toolbox" bench http --url "$http_url" --requests "$requests" --concurrency "$concurrency" --json
    if [ "$inline" = 1 ]; then
        measure toolbox-inline https "$toolbox" bench http --url "$https_url" --ca-file "$dir/pki/ca.pem" \
            --requests "$requests" --concurrency "$concurrency" --inline-completions --json
        measure toolbox-inline http "$toolbox" bench http --url "$http_url" --requests "$requests" \
            --concurrency "$concurrency" --inline-completions --json
    fi
    if [ -n "$before" ]; then
        measure before https "$before" bench http --url "$https_url" --ca-file "$dir/pki/ca.pem" \
            --requests "$requests" --concurrency "$concurrency" --json
        measure before http "$before" bench http --url "$http_url" --requests "$requests" --concurrency "$concurrency" --json
    fi
    if command -v wrk >/dev/null 2>&1; then
        measure wrk https python3 "$root/scripts/wrk-json.py" "https://127.0.0.1:$https/hello.txt" \
            --connections "$concurrency" --seconds "${WRK_SECONDS:-5}"
        measure wrk http python3 "$root/scripts/wrk-json.py" "$http_url" --connections "$concurrency" \
            --seconds "${WRK_SECONDS:-5}"
    fi
    if [ -x "$baseline" ]; then
        measure urlsession https "${with_store[@]}" "$trusted_store" "$baseline" "$https_url" "$requests" "$concurrency"
        measure urlsession http "$baseline" "$http_url" "$requests" "$concurrency"
    fi
done

# Untrusted CA: both clients must refuse the server.
if "$toolbox" bench http --url "$https_url" --ca-file "$dir/pki/other-ca.pem" --requests 1 --json 2>"$dir/err"; then
    echo "bench-http: an untrusted CA was accepted" >&2
    exit 1
fi
grep -q untrustedIssuer "$dir/err" || { echo "bench-http: unexpected error: $(cat "$dir/err")" >&2; exit 1; }
echo "untrusted CA correctly refused: $(cat "$dir/err")" >&2
if [ -x "$baseline" ]; then
    if "${with_store[@]}" "$untrusted_store" "$baseline" "$https_url" 1 1 >/dev/null 2>"$dir/err"; then
        echo "bench-http: URLSession accepted the server with only the unrelated CA trusted" >&2
        exit 1
    fi
    grep -qi certificate "$dir/err" || { echo "bench-http: URLSession failed otherwise: $(cat "$dir/err")" >&2; exit 1; }
    echo "URLSession with the unrelated CA correctly refused: $(head -n 1 "$dir/err")" >&2
fi

# Ratios of the medians (requests per second) over the rounds, all from this run.
python3 - "$dir/results" <<'PY' >&2
import json, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rates.setdefault((r["client"], r["scheme"]), []).append(r["requests_per_sec"])
med = {k: statistics.median(v) for k, v in rates.items()}
for scheme in ("https", "http"):
    theirs, old, floor = med.get(("urlsession", scheme)), med.get(("before", scheme)), med.get(("wrk", scheme))
    for client in ("toolbox", "toolbox-inline"):
        ours = med.get((client, scheme))
        if ours and theirs:
            print(f"{scheme.upper()} ratio {client}/URLSession: {ours / theirs:.1f}x ({ours:.0f} vs {theirs:.0f} req/s)")
        if ours and floor:
            print(f"{scheme.upper()} ratio wrk/{client}: {floor / ours:.2f}x ({floor:.0f} vs {ours:.0f} req/s)")
        if ours and old:
            print(f"{scheme.upper()} ratio {client}/before: {ours / old:.2f}x ({ours:.0f} vs {old:.0f} req/s)")
PY
