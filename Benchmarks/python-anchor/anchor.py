"""The peer in the same run: aio-azure-clients-toolbox 1.5.0 (the Python library AzureClientsToolbox ports),
driven like `toolbox bench eventhubs`: warm-up, then COUNT single sends from CONCURRENCY concurrent callers
(asyncio.gather, bounded by a semaphore), against a given emulator. Prints one JSON line with the same keys.

    python anchor.py eventhubs  --connection-string CS [--eventhub eh1] [--count N] [--concurrency C] [--size B]
                                [--batch-size N]
    python anchor.py servicebus --connection-string CS --queue q1 [--count N] [--concurrency C] [--size B]
                                [--receive [--max-messages 10]]

--batch-size N drives the library's `ManagedAzureEventhubProducer.send_events_batch` with N bodies per call (COUNT
counts events and is rounded up to whole batches; latencies are per batch), like `toolbox bench eventhubs
--batch-size N`. --receive pre-fills the queue (untimed, plain azure-servicebus batch sends), then CONCURRENCY
receivers from the library's `get_receiver()` (azure-servicebus peek-lock receivers, one connection each) call
`receive_messages(max_message_count=M)` and `complete_message` on each message until COUNT are completed; a
message's latency runs from the start of its receive call to its completion, like `toolbox bench servicebus
--receive`.

The HTTP services, against the emulator's HTTP(S) listener (--ca-file trusts its CA; SSL_CERT_FILE is set from it):

    python anchor.py cosmos    --endpoint URL --key KEY --database db --container c [--operation read|create]
                               [--count N] [--concurrency C] [--size B]
    python anchor.py blob      --connection-string CS --container c --operation upload|download --size BYTES
                               [--count N] [--concurrency C] [--file PATH]
    python anchor.py eventgrid --endpoint URL --key KEY [--count N] [--concurrency C] [--size B]

cosmos drives `ManagedCosmos.get_container_client()` + `read_item` (one item upserted first) or `create_item`, like
`toolbox bench cosmos`. blob drives `AzureBlobStorageClient.upload_blob` / `download_blob` (the library reads the
whole blob into memory; with --file, uploads pass the open file and downloads go through
`get_blob_download_stream` chunk by chunk into PATH.<n>), and reports max_rss_mb like `toolbox bench blob`.
eventgrid drives `EventGridClient.async_emit_event` (one EventGridEvent per request) with an AzureKeyCredential,
like `toolbox eventgrid publish`.
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


async def receive_main(args):
    """Service Bus receive+complete through the library's get_receiver(); see the module docstring."""
    from aio_azure_clients_toolbox.clients.service_bus import AzureServiceBus, ManagedAzureServiceBusSender
    from azure.servicebus import ServiceBusMessage
    body = "x" * args.size
    url = f"sb://{namespace(args.connection_string)}"
    warm = args.warmup if args.warmup is not None else max(2 * args.concurrency * args.max_messages, 50)
    filler = AzureServiceBus(url, args.queue, connection_string=args.connection_string)
    prefill_began = time.perf_counter()
    try:
        sender = filler.get_sender()
        remaining = warm + args.count
        while remaining > 0:
            batch = await sender.create_message_batch()
            added = 0
            while added < min(remaining, 100):
                batch.add_message(ServiceBusMessage(body))
                added += 1
            await sender.send_messages(batch)
            remaining -= added
    finally:
        await filler.close()
    prefill_seconds = time.perf_counter() - prefill_began
    managers = [ManagedAzureServiceBusSender(url, args.queue, connection_string=args.connection_string)
                for _ in range(args.concurrency)]
    receivers = [manager.get_receiver() for manager in managers]
    latencies, errors, last_error = [], 0, None

    async def run(receiver, quota, sink):
        """Receives and completes until no message of QUOTA[0] (shared across receivers) is left to take."""
        nonlocal errors, last_error
        while quota[0] > 0:
            take = min(args.max_messages, quota[0])
            quota[0] -= take  # reserved before awaiting, so concurrent receivers never take more than COUNT
            began = time.perf_counter()
            try:
                messages = await receiver.receive_messages(max_message_count=take, max_wait_time=args.receive_timeout)
            except Exception as error:  # noqa: BLE001 - counted and reported
                errors += 1
                last_error = repr(error)
                quota[0] += take
                break  # this receiver is done; the others take what is left
            quota[0] += take - len(messages)
            if not messages:
                errors += 1
                last_error = "receive_messages returned nothing within the receive timeout"
                break
            for message in messages:
                try:
                    await receiver.complete_message(message)
                    if sink is not None:
                        sink.append(time.perf_counter() - began)
                except Exception as error:  # noqa: BLE001 - counted and reported
                    errors += 1
                    last_error = repr(error)

    try:
        warmup = [warm]
        await asyncio.gather(*(run(receiver, warmup, None) for receiver in receivers))
        timed = [args.count]
        cpu_before = cpu_seconds()
        start = time.perf_counter()
        await asyncio.gather(*(run(receiver, timed, latencies) for receiver in receivers))
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_before
    finally:
        for manager in managers:
            await manager.close()
    if last_error:
        print(f"last error: {last_error}", file=sys.stderr)
    latencies.sort()
    print(json.dumps({
        "mode": "python-receive", "service": "servicebus", "library": "aio-azure-clients-toolbox==1.5.0",
        "count": args.count, "concurrency": args.concurrency, "size": args.size, "max_messages": args.max_messages,
        "messages_per_sec": round(len(latencies) / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 4), "p99_ms": round(percentile(latencies, 0.99) * 1000, 4),
        "mean_ms": round(sum(latencies) / len(latencies) * 1000, 4) if latencies else 0.0,
        "errors": errors, "seconds": round(seconds, 3), "prefill_seconds": round(prefill_seconds, 3),
        "connections": args.concurrency, "cpu_us_per_message": round(cpu * 1e6 / max(args.count, 1), 1),
    }, sort_keys=True))
    return 1 if errors else 0


def rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def http_summary(mode, args, latencies, errors, seconds, cpu, last_error, per_sec_key, **extra):
    if last_error:
        print(f"last error: {last_error}", file=sys.stderr)
    latencies.sort()
    print(json.dumps({
        "mode": mode, "library": "aio-azure-clients-toolbox==1.5.0", "count": args.count,
        "concurrency": args.concurrency, "size": args.size,
        per_sec_key: round(len(latencies) / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 4), "p99_ms": round(percentile(latencies, 0.99) * 1000, 4),
        "mean_ms": round(sum(latencies) / len(latencies) * 1000, 4) if latencies else 0.0,
        "errors": errors, "seconds": round(seconds, 3), "cpu_us_per_op": round(cpu * 1e6 / max(args.count, 1), 1),
        "max_rss_mb": rss_mb(), **extra,
    }, sort_keys=True))
    return 1 if errors else 0


async def timed(send, args):
    warm = args.warmup if args.warmup is not None else max(2 * args.concurrency, 20)
    _, _, _, warm_error = await drive(send, warm, args.concurrency)
    if warm_error:
        print(f"warm-up: {warm_error}", file=sys.stderr)
    cpu_before = cpu_seconds()
    latencies, errors, seconds, last_error = await drive(send, args.count, args.concurrency)
    return latencies, errors, seconds, cpu_seconds() - cpu_before, last_error


async def cosmos_main(args):
    """ManagedCosmos point read or create; see the module docstring."""
    import itertools
    import uuid
    from aio_azure_clients_toolbox import ManagedCosmos
    class MasterKey(str):
        """The key as azure-cosmos takes it (a str); the library closes credentials, a key has nothing to close."""
        async def close(self):
            pass

    client = ManagedCosmos(args.endpoint, args.database, args.container, lambda: MasterKey(args.key))
    filler = "x" * args.size
    async with client.get_container_client() as container:
        properties = await container.read()
    paths = properties.get("partitionKey", {}).get("paths", ["/id"])

    def item(identifier):
        document = {"id": identifier, "filler": filler}
        for path in paths:
            if path != "/id":
                document[path.strip("/").split("/")[0]] = "bench"
        return document

    def key(identifier):
        return identifier if paths == ["/id"] else "bench"

    async with client.get_container_client() as container:
        await container.upsert_item(item("bench-read"))
    run, counter = uuid.uuid4().hex[:8], itertools.count()

    async def read():
        async with client.get_container_client() as container:
            await container.read_item("bench-read", partition_key=key("bench-read"))

    async def create():
        identifier = f"py-{run}-{next(counter)}"
        async with client.get_container_client() as container:
            await container.create_item(item(identifier))

    try:
        latencies, errors, seconds, cpu, last_error = await timed(read if args.operation == "read" else create, args)
    finally:
        await client.close()
    return http_summary("python-cosmos", args, latencies, errors, seconds, cpu, last_error, "ops_per_sec",
                        operation=args.operation)


def account_from(connection_string):
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    return parts["AccountName"], parts["AccountKey"], parts["BlobEndpoint"].rstrip("/")


async def blob_main(args):
    """AzureBlobStorageClient upload_blob / download_blob; see the module docstring."""
    import os
    import uuid
    from aio_azure_clients_toolbox import AzureBlobStorageClient
    name, key, endpoint = account_from(args.connection_string)
    client = AzureBlobStorageClient(endpoint, args.container, {"account_name": name, "account_key": key})
    run = uuid.uuid4().hex[:8]
    payload = None if args.file else bytes((i * 31 + 7) & 0xFF for i in range(256)) * (args.size // 256) \
        + bytes(args.size % 256)
    source = f"py-bench-{run}/source"
    counter = iter(range(10 ** 9))

    async def upload():
        blob = f"py-bench-{run}/{next(counter)}"
        if args.file:
            with open(args.file, "rb") as handle:
                ok, result = await client.upload_blob(blob, handle, overwrite=True, length=args.size)
        else:
            ok, result = await client.upload_blob(blob, payload, overwrite=True)
        if not ok:
            raise RuntimeError(f"upload_blob: {result}")

    async def download():
        if args.file:
            path, written = f"{args.file}.py{next(counter)}", 0
            try:
                async with client.get_blob_download_stream(source) as stream:
                    with open(path, "wb") as handle:
                        async for chunk in stream.chunks():
                            handle.write(chunk)
                            written += len(chunk)
            finally:
                if os.path.exists(path):
                    os.unlink(path)
        else:
            written = len(await client.download_blob(source))
        if written != args.size:
            raise RuntimeError(f"downloaded {written} bytes, expected {args.size}")

    if args.operation == "download":
        if args.file:
            with open(args.file, "rb") as handle:
                await client.upload_blob(source, handle, overwrite=True, length=args.size)
        else:
            await client.upload_blob(source, payload, overwrite=True)
    args.warmup = 0 if args.warmup is None else args.warmup
    latencies, errors, seconds, cpu, last_error = await timed(upload if args.operation == "upload" else download, args)
    return http_summary("python-blob", args, latencies, errors, seconds, cpu, last_error, "ops_per_sec",
                        operation=args.operation, streamed=bool(args.file),
                        mb_per_sec=round(args.size * len(latencies) / 1e6 / seconds, 1) if seconds > 0 else 0.0)


async def eventgrid_main(args):
    """EventGridClient.async_emit_event, one event per request; see the module docstring."""
    from aio_azure_clients_toolbox import EventGridClient, EventGridConfig, EventGridTopicConfig
    from azure.core.credentials import AzureKeyCredential
    config = EventGridConfig([EventGridTopicConfig("bench", args.endpoint)])
    client = EventGridClient(config, async_credential=AzureKeyCredential(args.key))
    data = {"filler": "x" * args.size}

    async def publish():
        await client.async_emit_event("bench", "Contoso.Bench", "bench/python", data)

    try:
        latencies, errors, seconds, cpu, last_error = await timed(publish, args)
    finally:
        await client.get_async_client("bench").close()
    return http_summary("python-eventgrid", args, latencies, errors, seconds, cpu, last_error, "events_per_sec")


async def main(args):
    if args.service == "cosmos":
        return await cosmos_main(args)
    if args.service == "blob":
        return await blob_main(args)
    if args.service == "eventgrid":
        return await eventgrid_main(args)
    if args.receive:
        return await receive_main(args)
    body = b"x" * args.size
    if args.service == "eventhubs":
        from aio_azure_clients_toolbox.clients.eventhub import ManagedAzureEventhubProducer
        hub = args.eventhub or entity_path(args.connection_string)
        client = ManagedAzureEventhubProducer(namespace(args.connection_string), hub,
                                              connection_string=args.connection_string)
        if args.batch_size:
            bodies = [body] * args.batch_size
            send = lambda: client.send_events_batch(bodies)  # noqa: E731
        else:
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
        operations = -(-args.count // args.batch_size) if args.batch_size else args.count
        latencies, errors, seconds, last_error = await drive(send, operations, args.concurrency)
        cpu = cpu_seconds() - cpu_before
    finally:
        await client.close()
    if last_error:
        print(f"last error: {last_error}", file=sys.stderr)
    latencies.sort()
    per = args.batch_size or 1
    extra = {"batch_size": args.batch_size, "batches": operations} if args.batch_size else {}
    print(json.dumps({
        "mode": "python-pooled", "service": args.service, "library": "aio-azure-clients-toolbox==1.5.0",
        "count": operations * per, "concurrency": args.concurrency, "size": args.size,
        "events_per_sec": round(len(latencies) * per / seconds, 1) if seconds > 0 else 0.0, **extra,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 4), "p99_ms": round(percentile(latencies, 0.99) * 1000, 4),
        "mean_ms": round(sum(latencies) / len(latencies) * 1000, 4) if latencies else 0.0,
        "errors": errors, "seconds": round(seconds, 3),
        "cpu_us_per_event": round(cpu * 1e6 / max(operations * per, 1), 1),
    }, sort_keys=True))
    return 1 if errors else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=["eventhubs", "servicebus", "cosmos", "blob", "eventgrid"])
    parser.add_argument("--connection-string")
    parser.add_argument("--endpoint", help="cosmos: account endpoint; eventgrid: the topic's publish URL")
    parser.add_argument("--key", help="cosmos: master key; eventgrid: topic key")
    parser.add_argument("--database", default="db")
    parser.add_argument("--container", default="c")
    parser.add_argument("--operation", default="read", help="cosmos: read|create; blob: upload|download")
    parser.add_argument("--file", help="blob: stream from/to this file instead of memory")
    parser.add_argument("--ca-file", help="PEM CA to trust (the emulator's); sets SSL_CERT_FILE")
    parser.add_argument("--eventhub")
    parser.add_argument("--queue", default="q1")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--warmup", type=int, help="untimed operations first (sends, batches, or messages received)")
    parser.add_argument("--batch-size", type=int, help="eventhubs: events per send_events_batch call")
    parser.add_argument("--receive", action="store_true", help="servicebus: receive+complete instead of sending")
    parser.add_argument("--max-messages", type=int, default=10, help="--receive: max_message_count per receive call")
    parser.add_argument("--receive-timeout", type=float, default=10, help="--receive: max_wait_time per receive call")
    arguments = parser.parse_args()
    if arguments.ca_file:
        import os
        os.environ["SSL_CERT_FILE"] = arguments.ca_file
        os.environ["REQUESTS_CA_BUNDLE"] = arguments.ca_file
    if arguments.service in ("eventhubs", "servicebus", "blob") and not arguments.connection_string:
        parser.error("--connection-string is required")
    if arguments.service in ("cosmos", "eventgrid") and not (arguments.endpoint and arguments.key):
        parser.error("--endpoint and --key are required")
    if arguments.batch_size is not None and (arguments.service != "eventhubs" or arguments.batch_size < 1):
        parser.error("--batch-size needs eventhubs and a value of at least 1")
    if arguments.receive and arguments.service != "servicebus":
        parser.error("--receive needs servicebus")
    sys.exit(asyncio.run(main(arguments)))
