#!/usr/bin/env bash
# Builds the libFuzzer targets for ToolboxAMQP's decoders, AzureAuth's token-response parser and ToolboxTransport's
# WebSocket frame decoder (with the HTTP head parser of upgrade and proxy answers), and runs each for a bounded time.
#
#   Fuzz/run.sh [SECONDS_PER_TARGET]     (default 60)
#
# Each target is one module compiled with -sanitize=fuzzer,address from ToolboxCore plus the sources that read
# outside bytes (ToolboxAMQP's codec, frame and message sources; AzureAuth's token-response parser), so it needs no
# networking code. Corpora persist in
# Fuzz/corpus/<target> (seeded with the transcripts' byte vectors); crashes land in Fuzz/artifacts/.
# Exits non-zero if a target finds a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
OUT=${FUZZ_BUILD_DIR:-.build-fuzz}
mkdir -p "$OUT" Fuzz/artifacts

SOURCES=(Sources/ToolboxCore/*.swift Sources/ToolboxAMQP/Codec/*.swift Sources/ToolboxAMQP/Frames/*.swift
         Sources/ToolboxAMQP/Messaging/AMQPMessage.swift Sources/ToolboxAMQP/AMQPError.swift Sources/ToolboxAMQP/AMQPRecovery.swift)

seed() {
    local dir=Fuzz/corpus/$1; mkdir -p "$dir"
    # A pyamqp Event Hubs batch entry (toolbox_async.log) and a few frames.
    printf '\x00Sp\xc0\x07\x05V\x01@@@@\x00Sr\xc1"\x02\xa3\x13x-opt-partition-key\xa1\npk-toolbox\x00Su\xa0\x0ftoolbox event 1' > "$dir/seed-batch"
    printf '\x00\x00\x00\x0c\x02\x00\x00\x00\x00S\x18E' > "$dir/seed-close"
    printf '\x00\x00\x00\x10\x02\x01\x00\x00\x00SD\xc0\x03\x01P\x00' > "$dir/seed-sasl-outcome"
    printf '\x00\x00\x00\x08\x02\x00\x00\x00' > "$dir/seed-heartbeat"
    printf '\xf0\x00\x00\x00\x12\x00\x00\x00\x02\xa3\x05PLAIN\x04ANON' > "$dir/seed-array"
}

# The token parser and what it needs of AzureAuth (the error type, AccessToken, the HTTP response type).
TOKEN_SOURCES=(Sources/ToolboxCore/*.swift Sources/AzureAuth/AuthError.swift Sources/AzureAuth/Credentials/AccessToken.swift
               Sources/AzureAuth/Credentials/TokenHTTPTransport.swift Sources/AzureAuth/Credentials/TokenResponseParser.swift)

# The WebSocket frame decoder and the head parser (no sockets, no OpenSSL).
WEBSOCKET_SOURCES=(Sources/ToolboxCore/*.swift Sources/ToolboxTransport/TransportError.swift
                   Sources/ToolboxTransport/WebSocket/WebSocketFrame.swift Sources/ToolboxTransport/WebSocket/HTTPHead.swift)

seed_websocket() {
    local dir=Fuzz/corpus/WebSocketFrameFuzzer; mkdir -p "$dir"
    # RFC 6455 §5.7: masked "Hello", a fragmented text message, a ping, a 16-bit length, a close with a code.
    printf '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58' > "$dir/seed-masked-hello"
    printf '\x01\x03Hel\x80\x02lo' > "$dir/seed-fragments"
    printf '\x89\x05Hello' > "$dir/seed-ping"
    printf '\x82\x7e\x00\x80%0128d' 0 > "$dir/seed-len16"
    printf '\x88\x05\x03\xe8bye' > "$dir/seed-close"
    printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: AMQPWSB10\r\n\r\n\x82\x02AM' > "$dir/seed-upgrade"
    printf 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="p"\r\n\r\n' > "$dir/seed-proxy"
}

status=0
for target in AMQPTypeFuzzer AMQPFrameFuzzer TokenResponseFuzzer WebSocketFrameFuzzer; do
    echo "building $target" >&2
    case "$target" in
        TokenResponseFuzzer) sources=("${TOKEN_SOURCES[@]}") ;;
        WebSocketFrameFuzzer) sources=("${WEBSOCKET_SOURCES[@]}") ;;
        *) sources=("${SOURCES[@]}") ;;
    esac
    # One module named ToolboxCore, so the sources' `import ToolboxCore` names the module itself.
    swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name ToolboxCore -package-name AzureClientsToolbox \
        -suppress-warnings "${sources[@]}" "Fuzz/$target/main.swift" -o "$OUT/$target"
    if [ "$target" = TokenResponseFuzzer ]; then
        mkdir -p "Fuzz/corpus/$target" && cp Fuzz/$target/seeds/* "Fuzz/corpus/$target/"
    elif [ "$target" = WebSocketFrameFuzzer ]; then
        seed_websocket
    else
        seed "$target"
    fi
    echo "running $target for ${SECONDS_PER_TARGET}s" >&2
    if ! "$OUT/$target" "Fuzz/corpus/$target" -max_total_time="$SECONDS_PER_TARGET" -max_len=70000 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix=Fuzz/artifacts/"$target"- -print_final_stats=1; then
        echo "$target found a problem; see Fuzz/artifacts/" >&2
        status=1
    fi
done
exit $status
