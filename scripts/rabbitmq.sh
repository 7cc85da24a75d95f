#!/usr/bin/env bash
# Starts/stops a private RabbitMQ 3.10 with the AMQP 1.0 plugin for ToolboxAMQP's interop tests.
#
#   scripts/rabbitmq.sh start [DIR]   # prints the env file path on stdout (last line)
#   scripts/rabbitmq.sh stop  [DIR]
#
# Everything (mnesia, logs, config, Erlang cookie, generated CA and server certificate) lives under DIR
# (default $TOOLBOX_RABBITMQ_DIR or /tmp/toolbox-rabbitmq). All ports are free ports picked at start and bound
# to 127.0.0.1 only. The env file DIR/env holds:
#   TOOLBOX_RABBITMQ_HOST, TOOLBOX_RABBITMQ_AMQP_PORT, TOOLBOX_RABBITMQ_AMQPS_PORT, TOOLBOX_RABBITMQ_CA_FILE,
#   TOOLBOX_RABBITMQ_CLIENT_CERT, TOOLBOX_RABBITMQ_CLIENT_KEY (CN=guest, for SASL EXTERNAL over TLS),
#   TOOLBOX_RABBITMQ_USER, TOOLBOX_RABBITMQ_PASSWORD
# Tests find it through TOOLBOX_RABBITMQ_ENV=DIR/env.
# Needs: rabbitmq-server (Debian), openssl, python3. Runs without systemd (see shared/protocol/amqp/real-brokers.md).
set -euo pipefail

cmd=${1:-}
DIR=${2:-${TOOLBOX_RABBITMQ_DIR:-/tmp/toolbox-rabbitmq}}
RABBIT_BIN=/usr/lib/rabbitmq/bin

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

rabbit_env() {
    # shellcheck disable=SC1091
    source "$DIR/node.env"
    export HOME="$DIR/home"
    export RABBITMQ_NODENAME RABBITMQ_CONFIG_FILE="$DIR/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
    export RABBITMQ_MNESIA_BASE="$DIR/mnesia" RABBITMQ_LOG_BASE="$DIR/log"
    export RABBITMQ_DIST_PORT ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

make_certs() {
    local c="$DIR/certs"
    mkdir -p "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=ToolboxAMQP Test CA" \
        -keyout "$c/ca.key" -out "$c/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$c/server.key" -out "$c/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$c/server.ext"
    openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial -days 30 \
        -extfile "$c/server.ext" -out "$c/server.pem" 2>/dev/null
    # A client certificate whose CN is the user: SASL EXTERNAL logs in as "guest" with it.
    openssl req -newkey rsa:2048 -nodes -subj "/CN=guest" -keyout "$c/client.key" -out "$c/client.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > "$c/client.ext"
    openssl x509 -req -in "$c/client.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial -days 30 \
        -extfile "$c/client.ext" -out "$c/client.pem" 2>/dev/null
    chmod 644 "$c"/*.pem "$c"/*.key
}

wait_for_amqp() {
    python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"AMQP\x03\x01\x00\x00")
        if s.recv(8) == b"AMQP\x03\x01\x00\x00":
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.3)
sys.exit(1)
PY
}

start() {
    command -v openssl >/dev/null || { echo "openssl CLI missing (apt-get install -y openssl)" >&2; exit 1; }
    [ -x "$RABBIT_BIN/rabbitmq-server" ] || { echo "rabbitmq-server missing (apt-get install -y rabbitmq-server)" >&2; exit 1; }
    if [ -f "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
        echo "already running; env file:" >&2; echo "$DIR/env"; return 0
    fi
    rm -rf "$DIR"; mkdir -p "$DIR/home" "$DIR/mnesia" "$DIR/log"
    local amqp amqps dist epmd
    amqp=$(free_port); amqps=$(free_port); dist=$(free_port); epmd=$(free_port)
    cat > "$DIR/node.env" <<ENV
RABBITMQ_NODENAME=toolbox-amqp-$amqp@localhost
RABBITMQ_DIST_PORT=$dist
ERL_EPMD_PORT=$epmd
ENV
    make_certs
    echo '[rabbitmq_amqp1_0,rabbitmq_auth_mechanism_ssl].' > "$DIR/enabled_plugins"
    cat > "$DIR/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp
listeners.ssl.1 = 127.0.0.1:$amqps
ssl_options.cacertfile = $DIR/certs/ca.pem
ssl_options.certfile = $DIR/certs/server.pem
ssl_options.keyfile = $DIR/certs/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
ssl_cert_login_from = common_name
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
loopback_users = none
amqp1_0.default_user = guest
amqp1_0.protocol_strict_mode = false
CONF
    rabbit_env
    nohup "$RABBIT_BIN/rabbitmq-server" > "$DIR/stdout.log" 2>&1 &
    echo $! > "$DIR/pid"
    if ! wait_for_amqp "$amqp" 120; then
        echo "RabbitMQ did not answer on 127.0.0.1:$amqp within 120 s; see $DIR/stdout.log and $DIR/log" >&2
        tail -20 "$DIR/stdout.log" >&2 || true
        exit 1
    fi
    cat > "$DIR/env" <<ENV
TOOLBOX_RABBITMQ_HOST=127.0.0.1
TOOLBOX_RABBITMQ_AMQP_PORT=$amqp
TOOLBOX_RABBITMQ_AMQPS_PORT=$amqps
TOOLBOX_RABBITMQ_CA_FILE=$DIR/certs/ca.pem
TOOLBOX_RABBITMQ_CLIENT_CERT=$DIR/certs/client.pem
TOOLBOX_RABBITMQ_CLIENT_KEY=$DIR/certs/client.key
TOOLBOX_RABBITMQ_USER=guest
TOOLBOX_RABBITMQ_PASSWORD=guest
ENV
    echo "RabbitMQ ready: amqp 127.0.0.1:$amqp, amqps 127.0.0.1:$amqps; export TOOLBOX_RABBITMQ_ENV=$DIR/env" >&2
    echo "$DIR/env"
}

stop() {
    [ -f "$DIR/node.env" ] || { echo "nothing to stop in $DIR" >&2; return 0; }
    rabbit_env
    "$RABBIT_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || true
    if [ -f "$DIR/pid" ]; then
        local pid; pid=$(cat "$DIR/pid")
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill "$pid" 2>/dev/null || true
    fi
    # The epmd the node spawned outlives it; stop only the one on our private port.
    epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
    if command -v ss >/dev/null 2>&1; then
        local epmd_pid
        epmd_pid=$(ss -ltnpH "sport = :$ERL_EPMD_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
        [ -n "${epmd_pid:-}" ] && kill "$epmd_pid" 2>/dev/null || true
    fi
    rm -f "$DIR/pid"
    echo "stopped RabbitMQ in $DIR" >&2
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac
