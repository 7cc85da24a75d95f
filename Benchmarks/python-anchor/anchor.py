"""The peer in the same run: aio-azure-clients-toolbox 1.5.0 (the Python library AzureClientsToolbox ports),
driven like `toolbox bench eventhubs`: warm-up, then COUNT single sends from CONCURRENCY concurrent callers
(asyncio.gather, bounded by a semaphore), against a given emulator. Prints one JSON line with the same keys.

    python anchor.py eventhubs  --connection-string CS [--eventhub eh1] [--count N] [--concurrency C] [--size B]
    python anchor.py servicebus --connection-string CS --queue q1 [--count N] [--concurrency C] [--size B]
"""
import argparse
import asyncio
import json
import resource
import sys
import time


def namespace(connection_string):
    endpoint = next(p for p in connection_string.split(";") if p.startswith("Endpoint="))
    return endpoint.split("://", 1)[1].rstrip("/")


def entity_path(connection_string):
    return next((p.split("=", 1)[1] for p in connection_string.split(";") if p.startswith("EntityPath=")), None)


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    rank = max(1, int(-(-len(sorted_values) * q // 1)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(send, count, concurrency):
    """COUNT calls of send() with at most CONCURRENCY in flight; returns (latencies_s, errors, seconds, last_error)."""
    semaphore = asyncio.Semaphore(concurrency)
    latencies, errors, last_error = [], 0, None

    async def one():
        nonlocal errors, last_error
        async with semaphore:
            began = time.perf_counter()
            try:
                await send()
                latencies.append(time.perf_counter() - began)
            except Exception as error:  # noqa: BLE001 - counted and reported, the run goes on
                errors += 1
                last_error = repr(error)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return latencies, errors, time.perf_counter() - start, last_error


async def main(args):
    body = b"x" * args.size
    if args.service == "eventhubs":
        from aio_azure_clients_toolbox.clients.eventhub import ManagedAzureEventhubProducer
        hub = args.eventhub or entity_path(args.connection_string)
        client = ManagedAzureEventhubProducer(namespace(args.connection_string), hub,
                                              connection_string=args.connection_string)
        send = lambda: client.send_event(body)  # noqa: E731
    else:
        from aio_azure_clients_toolbox.clients.service_bus import ManagedAzureServiceBusSender
        client = ManagedAzureServiceBusSender(f"sb://{namespace(args.connection_string)}", args.queue,
                                              connection_string=args.connection_string)
        send = lambda: client.send_message(body.decode())  # noqa: E731
    try:
        warm = args.warmup if args.warmup is not None else max(2 * args.concurrency, 50)
        _, warm_errors, _, warm_error = await drive(send, warm, args.concurrency)
        if warm_error:
            print(f"warm-up: {warm_error}", file=sys.stderr)
        cpu_before = cpu_seconds()
        latencies, errors, seconds, last_error = await drive(send, args.count, args.concurrency)
        cpu = cpu_seconds() - cpu_before
    finally:
        await client.close()
    if last_error:
        print(f"last error: {last_error}", file=sys.stderr)
    latencies.sort()
    print(json.dumps({
        "mode": "python-pooled", "service": args.service, "library": "aio-azure-clients-toolbox==1.5.0",
        "count": args.count, "concurrency": args.concurrency, "size": args.size,
        "events_per_sec": round(len(latencies) / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 4), "p99_ms": round(percentile(latencies, 0.99) * 1000, 4),
        "mean_ms": round(sum(latencies) / len(latencies) * 1000, 4) if latencies else 0.0,
        "errors": errors, "seconds": round(seconds, 3),
        "cpu_us_per_event": round(cpu * 1e6 / max(args.count, 1), 1),
    }, sort_keys=True))
    return 1 if errors else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=["eventhubs", "servicebus"])
    parser.add_argument("--connection-string", required=True)
    parser.add_argument("--eventhub")
    parser.add_argument("--queue", default="q1")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--warmup", type=int)
    sys.exit(asyncio.run(main(parser.parse_args())))
