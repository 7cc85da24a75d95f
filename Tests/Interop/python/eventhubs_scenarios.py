"""azure-eventhub against the emulator: producer with partition key and partition id, properties, consumer."""
import threading
import time
import uuid

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

from common import EH_CONN, EH_NAME, check, run

RUN = uuid.uuid4().hex[:8]
KEY = f"customer-{RUN}"


def producer():
    return EventHubProducerClient.from_connection_string(EH_CONN, eventhub_name=EH_NAME)


def send_with_partition_key():
    with producer() as client:
        for batch_number in range(2):
            batch = client.create_batch(partition_key=KEY)
            check(batch.max_size_in_bytes == 1048576, f"max size from the attach: {batch.max_size_in_bytes}")
            for index in range(3):
                event = EventData(f"keyed-{RUN}-{batch_number}-{index}")
                event.properties = {"color": "red", "n": index}
                event.content_type = "text/plain"
                batch.add(event)
            client.send_batch(batch)


def send_with_partition_id():
    with producer() as client:
        batch = client.create_batch(partition_id="2")
        batch.add(EventData(f"pinned-{RUN}-0"))
        batch.add(EventData(f"pinned-{RUN}-1"))
        client.send_batch(batch)


def properties():
    with producer() as client:
        hub = client.get_eventhub_properties()
        check(hub["eventhub_name"] == EH_NAME, f"name: {hub}")
        check(list(hub["partition_ids"]) == ["0", "1", "2", "3"], f"ids: {hub}")
        check(client.get_partition_ids() == ["0", "1", "2", "3"], "partition ids")
        partition = client.get_partition_properties("2")
        check(partition["id"] == "2", f"partition: {partition}")
        check(partition["last_enqueued_sequence_number"] >= 1, f"partition 2 has our events: {partition}")
        check(not partition["is_empty"], f"not empty: {partition}")


def consume_everything():
    expected_pinned = {f"pinned-{RUN}-0", f"pinned-{RUN}-1"}
    expected_keyed = {f"keyed-{RUN}-{b}-{i}" for b in range(2) for i in range(3)}
    seen = {}
    lock = threading.Lock()
    consumer = EventHubConsumerClient.from_connection_string(EH_CONN, consumer_group="$Default", eventhub_name=EH_NAME)

    def on_event(partition_context, event):
        if event is None:
            return
        with lock:
            seen[event.body_as_str()] = (partition_context.partition_id, event)

    worker = threading.Thread(target=lambda: consumer.receive(on_event=on_event, starting_position="-1",
                                                              max_wait_time=1), daemon=True)
    worker.start()
    deadline = time.time() + 60
    while time.time() < deadline:
        with lock:
            if expected_pinned | expected_keyed <= set(seen):
                break
        time.sleep(0.2)
    consumer.close()
    worker.join(timeout=15)
    missing = (expected_pinned | expected_keyed) - set(seen)
    check(not missing, f"consumer did not read {sorted(missing)}")
    check({seen[body][0] for body in expected_pinned} == {"2"}, "partition id 2 honoured")
    keyed_partitions = {seen[body][0] for body in expected_keyed}
    check(len(keyed_partitions) == 1, f"partition key sticks to one partition: {keyed_partitions}")
    event = seen[f"keyed-{RUN}-0-1"][1]
    key = event.partition_key.decode() if isinstance(event.partition_key, bytes) else event.partition_key
    check(key == KEY, f"partition key annotation: {event.partition_key}")
    check(event.properties.get(b"color") == b"red" or event.properties.get("color") == "red", f"properties: {event.properties}")
    check(event.sequence_number >= 0 and event.offset is not None and event.enqueued_time is not None, "x-opt annotations")


def consume_from_sequence_number():
    with producer() as client:
        before = client.get_partition_properties("2")["last_enqueued_sequence_number"]
        client.send_batch([EventData(f"after-{RUN}")], partition_id="2")
    got = []
    metrics = []
    consumer = EventHubConsumerClient.from_connection_string(EH_CONN, consumer_group="$Default", eventhub_name=EH_NAME)

    def on_event(partition_context, event):
        if event is not None:
            got.append(event)
            metrics.append(partition_context.last_enqueued_event_properties)

    worker = threading.Thread(target=lambda: consumer.receive(on_event=on_event, partition_id="2",
                                                              starting_position=before, max_wait_time=1,
                                                              track_last_enqueued_event_properties=True), daemon=True)
    worker.start()
    deadline = time.time() + 30
    while not got and time.time() < deadline:
        time.sleep(0.2)
    consumer.close()
    worker.join(timeout=15)
    check([e.body_as_str() for e in got[:1]] == [f"after-{RUN}"], f"starting after sequence {before}: {[e.body_as_str() for e in got]}")
    check(metrics[0] and metrics[0].get("sequence_number") == before + 1, f"runtime metrics: {metrics[:1]}")


def consume_after_the_largest_sequence_number():
    """Issue 13: a selector after sequence number 2^63-1 made the emulator's `n + 1` trap (SIGILL)."""
    received = []
    errors = []
    consumer = EventHubConsumerClient.from_connection_string(EH_CONN, consumer_group="$Default", eventhub_name=EH_NAME)
    worker = threading.Thread(target=lambda: consumer.receive(
        on_event=lambda _, event: event is not None and received.append(event),
        on_error=lambda _, error: errors.append(error), partition_id="1",
        starting_position=9223372036854775807, starting_position_inclusive=False, max_wait_time=1), daemon=True)
    worker.start()
    time.sleep(3)
    consumer.close()
    worker.join(timeout=15)
    check(received == [], f"nothing comes after the largest sequence number: {received[:1]}")
    # The emulator is still there and still serves the partition.
    with producer() as client:
        client.send_batch([EventData(f"still-alive-{RUN}")], partition_id="1")
        check(client.get_partition_properties("1")["last_enqueued_sequence_number"] >= 0, "partition properties")


run([
    ("eventhubs: send_batch with partition key", send_with_partition_key),
    ("eventhubs: send_batch with partition id", send_with_partition_id),
    ("eventhubs: hub and partition properties", properties),
    ("eventhubs: consumer reads everything back with annotations", consume_everything),
    ("eventhubs: consumer from a sequence number", consume_from_sequence_number),
    ("eventhubs: consumer after the largest sequence number leaves the emulator running",
     consume_after_the_largest_sequence_number),
])
