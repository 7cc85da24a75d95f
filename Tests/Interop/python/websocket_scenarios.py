"""AMQP over WebSockets: azure-eventhub and azure-servicebus with TransportType.AmqpOverWebsocket against the
emulator's WebSocket listeners, plain (ws://, UseDevelopmentEmulator=true) and TLS (wss://, its CA passed as
connection_verify). custom_endpoint_address carries the listener's port (the SDKs otherwise fix 443) and the SDKs
append /$servicebus/websocket to it; the namespace (and so the CBS audience) stays the connection string's."""
import os
import uuid

from azure.core.credentials import AzureNamedKeyCredential
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient, TransportType
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus import TransportType as ServiceBusTransportType

from common import EH_CONN, EH_NAME, SB_CONN, check, run

WS_PORT = os.environ["AMQP_WS_PORT"]
WSS_PORT = os.environ["AMQPS_WS_PORT"]
CA_FILE = os.environ["CA_FILE"]
CREDENTIAL = AzureNamedKeyCredential("RootManageSharedAccessKey", "SAS_KEY_VALUE")
RUN = uuid.uuid4().hex[:8]
WS = {"transport_type": TransportType.AmqpOverWebsocket, "custom_endpoint_address": f"sb://127.0.0.1:{WS_PORT}"}
WSS = {"transport_type": TransportType.AmqpOverWebsocket, "custom_endpoint_address": f"sb://localhost:{WSS_PORT}",
       "connection_verify": CA_FILE}


def eventhubs_send_and_properties_over_ws():
    producer = EventHubProducerClient.from_connection_string(EH_CONN, **WS)
    with producer:
        properties = producer.get_eventhub_properties()  # $management over the WebSocket
        check(properties["eventhub_name"] == EH_NAME, f"properties {properties}")
        before = producer.get_partition_properties("0")["last_enqueued_sequence_number"]
        batch = producer.create_batch(partition_id="0")
        for index in range(3):
            batch.add(EventData(f"ws-{RUN}-{index}"))
        producer.send_batch(batch)
        after = producer.get_partition_properties("0")["last_enqueued_sequence_number"]
        check(after == before + 3, f"sequence number {before} -> {after}")


def eventhubs_receive_over_ws():
    marker = f"ws-receive-{RUN}"
    producer = EventHubProducerClient.from_connection_string(EH_CONN, **WS)
    with producer:
        start = producer.get_partition_properties("2")["last_enqueued_sequence_number"]
        # A large event crosses several WebSocket frames and AMQP transfer frames.
        producer.send_batch([EventData(marker), EventData("x" * 200_000)], partition_id="2")
    received = []
    consumer = EventHubConsumerClient.from_connection_string(EH_CONN, consumer_group="$Default", **WS)

    def on_event_batch(context, events):
        received.extend(events)
        if len(received) >= 2:
            consumer.close()

    with consumer:
        # An int is a sequence number; a str would be an offset (bytes, not events), which pointed at older events
        # once other scenarios had filled the partition.
        consumer.receive_batch(on_event_batch, partition_id="2", max_wait_time=2,
                               starting_position=start, starting_position_inclusive=False)
    bodies = [event.body_as_str() for event in received[:2]]
    check(bodies[0] == marker and len(bodies[1]) == 200_000, f"received {[len(b) for b in bodies]}")


def eventhubs_over_wss():
    client = EventHubProducerClient(fully_qualified_namespace="localhost", eventhub_name=EH_NAME, credential=CREDENTIAL,
                                    **WSS)
    with client:
        before = client.get_partition_properties("1")["last_enqueued_sequence_number"]
        client.send_batch([EventData(f"wss-{RUN}")], partition_id="1")
        after = client.get_partition_properties("1")["last_enqueued_sequence_number"]
        check(after == before + 1, f"sequence number {before} -> {after}")


def servicebus_over_ws():
    queue = f"ws-{RUN}"
    with ServiceBusClient.from_connection_string(SB_CONN, transport_type=ServiceBusTransportType.AmqpOverWebsocket,
                                                 custom_endpoint_address=f"sb://127.0.0.1:{WS_PORT}") as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages([ServiceBusMessage(f"m{index}") for index in range(3)])
        with sb.get_queue_receiver(queue) as receiver:
            peeked = receiver.peek_messages(max_message_count=3)  # $management over the WebSocket
            check([str(m) for m in peeked] == ["m0", "m1", "m2"], f"peeked {[str(m) for m in peeked]}")
            got = []
            for _ in range(5):
                got += receiver.receive_messages(max_message_count=3 - len(got), max_wait_time=5)
                if len(got) >= 3:
                    break
            check(sorted(str(m) for m in got) == ["m0", "m1", "m2"], f"received {[str(m) for m in got]}")
            for message in got:
                receiver.complete_message(message)


def servicebus_over_wss():
    queue = f"wss-{RUN}"
    with ServiceBusClient(fully_qualified_namespace="localhost", credential=CREDENTIAL,
                          transport_type=ServiceBusTransportType.AmqpOverWebsocket,
                          custom_endpoint_address=f"sb://localhost:{WSS_PORT}", connection_verify=CA_FILE) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage("over wss"))
        with sb.get_queue_receiver(queue) as receiver:
            got = receiver.receive_messages(max_message_count=1, max_wait_time=5)
            check([str(m) for m in got] == ["over wss"], f"received {[str(m) for m in got]}")
            receiver.complete_message(got[0])


run([
    ("websocket: event hubs send + management over ws", eventhubs_send_and_properties_over_ws),
    ("websocket: event hubs receive (large event) over ws", eventhubs_receive_over_ws),
    ("websocket: event hubs over wss", eventhubs_over_wss),
    ("websocket: service bus send, peek, receive, complete over ws", servicebus_over_ws),
    ("websocket: service bus over wss", servicebus_over_wss),
])
