"""A wrong key fails with the SDKs' authentication errors."""
from azure.eventhub import EventHubProducerClient
from azure.eventhub.exceptions import AuthenticationError
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusAuthenticationError

from common import EH_CONN, EH_NAME, SB_CONN, check, run, wrong_key


def eventhubs_wrong_key():
    client = EventHubProducerClient.from_connection_string(wrong_key(EH_CONN), eventhub_name=EH_NAME, retry_total=0)
    try:
        client.get_eventhub_properties()
    except AuthenticationError as error:
        check("401" in str(error), f"status in the error: {error}")
        return
    finally:
        client.close()
    raise AssertionError("no AuthenticationError with a wrong key")


def servicebus_wrong_key():
    with ServiceBusClient.from_connection_string(wrong_key(SB_CONN), retry_total=0) as sb:
        try:
            with sb.get_queue_sender("auth-check") as sender:
                sender.send_messages(ServiceBusMessage("never"))
        except ServiceBusAuthenticationError:
            return
    raise AssertionError("no ServiceBusAuthenticationError with a wrong key")


run([
    ("auth: event hubs with a wrong key", eventhubs_wrong_key),
    ("auth: service bus with a wrong key", servicebus_wrong_key),
])
