"""Runs wrk (the C load generator, Debian's `wrk`) and prints its result as one JSON line, with the keys of
`toolbox bench http`: requests, requests_per_sec, p50_ms, p99_ms, errors, connections.

    python3 scripts/wrk-json.py URL [--connections C] [--threads T] [--seconds S] [--header 'Name: value' ...]

wrk keeps every connection alive and sends the next request as soon as the previous answer is read, so with one
connection its p50 is the floor for one keep-alive request on this machine; with C connections its rate is the
ceiling a client can get from that server. It does not verify TLS certificates (it only measures).
"""
import argparse
import json
import re
import subprocess
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def milliseconds(text):
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"wrk printed an unexpected latency '{text}'")
    return float(match.group(1)) * UNITS[match.group(2)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    threads = args.threads or min(args.connections, 2)
    command = ["wrk", "--latency", "-t", str(threads), "-c", str(args.connections), "-d", f"{args.seconds}s"]
    for header in args.header:
        command += ["-H", header]
    completed = subprocess.run(command + [args.url], capture_output=True, text=True)
    out = completed.stdout
    if completed.returncode != 0:
        print(f"wrk exited with {completed.returncode}: {completed.stderr.strip()}", file=sys.stderr)
        return 1
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    if not (total and rate and "50" in percentiles):
        print(f"wrk-json: cannot read wrk's output:\n{out}", file=sys.stderr)
        return 1
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    print(json.dumps({
        "client": "wrk", "url": args.url, "requests": int(total.group(1)), "errors": errors,
        "requests_per_sec": float(rate.group(1)), "p50_ms": round(milliseconds(percentiles["50"]), 4),
        "p99_ms": round(milliseconds(percentiles.get("99", percentiles["50"])), 4),
        "connections": args.connections, "threads": threads, "seconds": args.seconds,
    }, sort_keys=True))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
