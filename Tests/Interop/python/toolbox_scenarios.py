"""The Python aio-azure-clients-toolbox (1.5.0) against the emulator, through connection strings."""
import asyncio
import uuid

from aio_azure_clients_toolbox.clients.eventhub import ManagedAzureEventhubProducer
from aio_azure_clients_toolbox.clients.service_bus import ManagedAzureServiceBusSender
from azure.servicebus import ServiceBusClient

from common import EH_CONN, EH_NAME, SB_CONN, check, run

RUN = uuid.uuid4().hex[:8]


def namespace(connection_string):
    endpoint = next(p for p in connection_string.split(";") if p.startswith("Endpoint="))
    return endpoint.split("://", 1)[1].rstrip("/")


def eventhub_send_event():
    async def scenario():
        producer = ManagedAzureEventhubProducer(namespace(EH_CONN), EH_NAME, connection_string=EH_CONN)
        try:
            await producer.send_event(f"toolbox-{RUN}", partition_key="toolbox")
            await producer.send_event(f"toolbox-{RUN}-2")
        finally:
            await producer.close()
    asyncio.run(scenario())


def servicebus_send_message():
    name = f"toolbox-{RUN}"

    async def scenario():
        sender = ManagedAzureServiceBusSender(f"sb://{namespace(SB_CONN)}", name, connection_string=SB_CONN)
        try:
            numbers = await sender.send_message(f"hello-{RUN}")
            check(numbers and all(isinstance(n, int) for n in numbers), f"sequence numbers: {numbers}")
        finally:
            await sender.close()
    asyncio.run(scenario())
    with ServiceBusClient.from_connection_string(SB_CONN) as sb, sb.get_queue_receiver(name) as receiver:
        bodies = [str(m) for m in receiver.receive_messages(max_message_count=10, max_wait_time=5)]
        check(f"hello-{RUN}" in bodies, f"received {bodies}")


def servicebus_many_send_messages():
    # Each send_message is a $management schedule-message request on one link: more than the emulator's prefetch of
    # 100 proves it keeps topping up credit although pyamqp's flows echo a stale link-credit.
    name = f"toolbox-many-{RUN}"

    async def scenario():
        sender = ManagedAzureServiceBusSender(f"sb://{namespace(SB_CONN)}", name, connection_string=SB_CONN)
        try:
            for index in range(250):
                await asyncio.wait_for(sender.send_message(f"many-{index}"), 10)
        finally:
            await sender.close()
    asyncio.run(scenario())


run([
    ("toolbox: ManagedAzureEventhubProducer.send_event", eventhub_send_event),
    ("toolbox: ManagedAzureServiceBusSender.send_message", servicebus_send_message),
    ("toolbox: 250 send_message calls on one $management link", servicebus_many_send_messages),
])
