"""AMQPS: azure-eventhub and azure-servicebus over TLS to the emulator's generated certificate (its CA passed as
connection_verify; custom_endpoint_address carries the port, which the SDKs otherwise fix at 5671)."""
import os
import uuid

from azure.core.credentials import AzureNamedKeyCredential
from azure.eventhub import EventData, EventHubProducerClient, TransportType
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus import TransportType as ServiceBusTransportType

from common import EH_NAME, check, run

PORT = os.environ["AMQPS_PORT"]
CA_FILE = os.environ["CA_FILE"]
CREDENTIAL = AzureNamedKeyCredential("RootManageSharedAccessKey", "SAS_KEY_VALUE")
RUN = uuid.uuid4().hex[:8]


def eventhubs_over_tls():
    client = EventHubProducerClient(fully_qualified_namespace="localhost", eventhub_name=EH_NAME, credential=CREDENTIAL,
                                    transport_type=TransportType.Amqp, custom_endpoint_address=f"sb://localhost:{PORT}",
                                    connection_verify=CA_FILE)
    with client:
        before = client.get_partition_properties("1")["last_enqueued_sequence_number"]
        client.send_batch([EventData(f"tls-{RUN}")], partition_id="1")
        after = client.get_partition_properties("1")["last_enqueued_sequence_number"]
        check(after == before + 1, f"sequence number {before} -> {after}")


def servicebus_over_tls():
    queue = f"tls-{RUN}"
    with ServiceBusClient(fully_qualified_namespace="localhost", credential=CREDENTIAL,
                          transport_type=ServiceBusTransportType.Amqp, custom_endpoint_address=f"sb://localhost:{PORT}",
                          connection_verify=CA_FILE) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage("over tls"))
        with sb.get_queue_receiver(queue) as receiver:
            got = receiver.receive_messages(max_message_count=1, max_wait_time=5)
            check([str(m) for m in got] == ["over tls"], f"received {[str(m) for m in got]}")
            receiver.complete_message(got[0])


run([
    ("tls: event hubs over AMQPS", eventhubs_over_tls),
    ("tls: service bus over AMQPS", servicebus_over_tls),
])
