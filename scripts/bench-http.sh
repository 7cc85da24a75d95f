#!/usr/bin/env bash
# Runs `toolbox bench http` against a private nginx (HTTP and HTTPS with a generated CA) and, when built, the
# URLSession baseline from Benchmarks/. Prints one JSON line per run; checks that an untrusted CA exits non-zero.
#   scripts/bench-http.sh [REQUESTS] [CONCURRENCY]
# Needs nginx-light, openssl, python3 (to pick free ports) and a release build:
#   swift build -c release --scratch-path .build-transport --product toolbox
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requests=${1:-20000}
concurrency=${2:-32}
toolbox=${TOOLBOX:-$root/.build-transport/release/toolbox}
baseline=$root/Benchmarks/.build/release/URLSessionHTTPBench
[ -x "$toolbox" ] || { echo "build toolbox first: swift build -c release --scratch-path .build-transport --product toolbox" >&2; exit 2; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)

dir=$(mktemp -d /tmp/toolbox-bench-http.XXXXXX)
cleanup() { [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
"$root/scripts/make-test-certs.sh" "$dir/pki" >/dev/null
mkdir -p "$dir/www" "$dir/tmp"
echo hello > "$dir/www/hello.txt"
read -r http https < <(python3 -c 'import socket
ports=[]
socks=[socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1",0)); ports.append(s.getsockname()[1])
print(*ports)')
cat > "$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
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

"$toolbox" bench http --url "https://localhost:$https/hello.txt" --ca-file "$dir/pki/ca.pem" \
    --requests "$requests" --concurrency "$concurrency" --json
"$toolbox" bench http --url "http://127.0.0.1:$http/hello.txt" --requests "$requests" --concurrency "$concurrency" --json
[ -x "$baseline" ] && "$baseline" "http://127.0.0.1:$http/hello.txt" "$requests" "$concurrency"
if "$toolbox" bench http --url "https://localhost:$https/hello.txt" --ca-file "$dir/pki/other-ca.pem" \
    --requests 1 --json 2>"$dir/err"; then
    echo "bench-http: an untrusted CA was accepted" >&2
    exit 1
fi
grep -q untrustedIssuer "$dir/err" || { echo "bench-http: unexpected error: $(cat "$dir/err")" >&2; exit 1; }
echo "untrusted CA correctly refused: $(cat "$dir/err")" >&2
