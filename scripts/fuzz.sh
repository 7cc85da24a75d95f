#!/usr/bin/env bash
# Builds the libFuzzer target for ToolboxTransport's HTTP/1.1 parser and runs it for a bounded time.
#   scripts/fuzz.sh [SECONDS]   (default 60; .ci/run uses a short run)
# Needs a Swift toolchain with libFuzzer (the Linux toolchains ship it: swiftc -sanitize=fuzzer).
# The parser sources are compiled straight into the fuzzer together with Fuzz/HTTPParser/FuzzMain.swift, so
# the coverage instrumentation covers exactly the code under test.
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/Fuzz/.build-fuzz"
corpus="$root/Fuzz/corpus-http"
rm -rf "$work/src" && mkdir -p "$work/src" "$corpus"
cp "$root"/Fuzz/HTTPParser/seeds/* "$corpus"/

# One module: drop the imports of ToolboxCore, whose sources (ToolboxError and what it uses) are compiled in alongside.
for f in TransportError.swift HTTP/HTTPParser.swift HTTP/HTTPParser+Lines.swift HTTP/HTTPParserLimits.swift \
         HTTP/HTTPHeaders.swift HTTP/HTTPMessages.swift HTTP/HTTPKnownStrings.swift; do
    sed '/^import ToolboxCore$/d' "$root/Sources/ToolboxTransport/$f" > "$work/src/$(basename "$f")"
done
cp "$root"/Sources/ToolboxCore/*.swift "$work/src/"

swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name HTTPParserFuzz -package-name AzureClientsToolbox \
    "$root/Fuzz/HTTPParser/FuzzMain.swift" "$work"/src/*.swift -o "$work/http-parser-fuzzer"

# -rss_limit_mb and -malloc_limit_mb make "allocates without bound" a failure, not just slowness.
"$work/http-parser-fuzzer" "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -rss_limit_mb=1024 -malloc_limit_mb=64 -print_final_stats=1 -artifact_prefix="$work/"
