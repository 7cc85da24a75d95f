"""Cross-checks of the Swift clients with Microsoft's SDKs through the toolbox CLI: our Event Hubs producer -> their
consumer; their Service Bus sender -> our receiver; our Service Bus sender -> their receiver."""
import json
import os
import subprocess
import threading
import time
import uuid

from azure.eventhub import EventHubConsumerClient
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from common import EH_CONN, EH_NAME, SB_CONN, check, run

RUN = uuid.uuid4().hex[:8]
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TOOLBOX = os.environ.get("TOOLBOX") or os.path.join(REPO, os.environ.get("TOOLBOX_SCRATCH", ".build"), "debug", "toolbox")


def toolbox(*args):
    """Runs the toolbox CLI; returns its JSON lines."""
    result = subprocess.run([TOOLBOX, *args, "--json"], capture_output=True, text=True, timeout=120)
    check(result.returncode == 0, f"toolbox {args[:2]} exited {result.returncode}: {result.stderr[-2000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def swift_producer_to_sdk_consumer():
    for pooled in ("--pooled", "--no-pooled"):
        body = f"swift-{RUN}{pooled}"
        summary = toolbox("eventhubs", "send", "--connection-string", EH_CONN, "--eventhub", EH_NAME,
                          "--partition-id", "3", "--count", "5", "--concurrency", "2", "--body", body, pooled)[-1]
        check(summary["sent"] == 5 and summary["failed"] == 0, f"toolbox eventhubs send: {summary}")
    seen = []
    lock = threading.Lock()
    consumer = EventHubConsumerClient.from_connection_string(EH_CONN, consumer_group="$Default", eventhub_name=EH_NAME)

    def on_event(_, event):
        if event is not None:
            with lock:
                seen.append(event.body_as_str())

    worker = threading.Thread(target=lambda: consumer.receive(on_event=on_event, partition_id="3", starting_position="-1",
                                                              max_wait_time=1), daemon=True)
    worker.start()
    deadline = time.time() + 60
    while time.time() < deadline:
        with lock:
            if sum(1 for b in seen if RUN in b) >= 10:
                break
        time.sleep(0.2)
    consumer.close()
    worker.join(timeout=15)
    ours = sorted(b for b in seen if RUN in b)
    check(ours == sorted([f"swift-{RUN}--pooled"] * 5 + [f"swift-{RUN}--no-pooled"] * 5),
          f"the SDK consumer read {ours}")


def sdk_sender_to_swift_receiver():
    queue = f"interop-in-{RUN}"
    with ServiceBusClient.from_connection_string(SB_CONN) as client, client.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage(f"from-sdk-{i}", message_id=f"sdk-{RUN}-{i}") for i in range(3)])
    lines = toolbox("servicebus", "receive", "--connection-string", SB_CONN, "--queue", queue, "--count", "3",
                    "--timeout", "20")
    check(lines[-1] == {"received": 3}, f"toolbox servicebus receive ended with {lines[-1]}")
    check([line["body"] for line in lines[:-1]] == [f"from-sdk-{i}" for i in range(3)], f"bodies: {lines[:-1]}")
    check([line["message_id"] for line in lines[:-1]] == [f"sdk-{RUN}-{i}" for i in range(3)], f"ids: {lines[:-1]}")
    check(all(line["sequence_number"] > 0 and line["delivery_count"] == 0 for line in lines[:-1]), f"{lines[:-1]}")
    with ServiceBusClient.from_connection_string(SB_CONN) as client, client.get_queue_receiver(queue, max_wait_time=1) as receiver:
        check(not receiver.receive_messages(max_message_count=5), "completed messages came back")


def swift_sender_to_sdk_receiver():
    queue = f"interop-out-{RUN}"
    summary = toolbox("servicebus", "send", "--connection-string", SB_CONN, "--queue", queue, "--count", "4",
                      "--concurrency", "2", "--body", f"from-swift-{RUN}")[-1]
    check(summary["sent"] == 4, f"toolbox servicebus send: {summary}")
    summary = toolbox("servicebus", "send", "--connection-string", SB_CONN, "--queue", queue, "--count", "1",
                      "--delay-seconds", "0", "--message-id", f"scheduled-{RUN}", "--body", "scheduled", "--no-pooled")[-1]
    check(summary["sent"] == 1, f"toolbox servicebus send --delay-seconds: {summary}")
    with ServiceBusClient.from_connection_string(SB_CONN) as client, client.get_queue_receiver(queue, max_wait_time=5) as receiver:
        got = []
        deadline = time.time() + 30
        while len(got) < 5 and time.time() < deadline:
            for message in receiver.receive_messages(max_message_count=5 - len(got), max_wait_time=2):
                got.append((str(message), message.message_id))
                receiver.complete_message(message)
    bodies = sorted(b for b, _ in got)
    check(bodies == sorted([f"from-swift-{RUN}"] * 4 + ["scheduled"]), f"the SDK receiver got {got}")
    check(f"scheduled-{RUN}" in [i for _, i in got], f"message id lost: {got}")


run([
    ("swift EventHubProducer/ManagedEventHubProducer -> azure-eventhub consumer", swift_producer_to_sdk_consumer),
    ("azure-servicebus sender -> swift ServiceBusReceiver", sdk_sender_to_swift_receiver),
    ("swift ServiceBusSender/ManagedServiceBusSender -> azure-servicebus receiver", swift_sender_to_sdk_receiver),
])
