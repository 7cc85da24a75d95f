"""azure-eventgrid and the Python toolbox's EventGridClient against the emulator's Event Grid topics: both schemas,
key, SAS token and bearer (from the emulator's Entra ID), sync and async, namespace topics; every event is read back
from /_emulator/eventgrid/<topic>/events with its schema and fields intact. Wrong keys get the SDK's own errors."""
import asyncio
import json
import os
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

CA_FILE = os.environ["CA_FILE"]
# The sync publisher drops constructor kwargs (connection_verify), so HTTPS trust comes from these (eventgrid.md).
os.environ["REQUESTS_CA_BUNDLE"] = CA_FILE
os.environ["SSL_CERT_FILE"] = CA_FILE

from azure.core.credentials import AzureKeyCredential, AzureSasCredential  # noqa: E402
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError  # noqa: E402
from azure.core.messaging import CloudEvent  # noqa: E402
from azure.eventgrid import EventGridEvent, EventGridPublisherClient, generate_sas  # noqa: E402
from azure.eventgrid.aio import EventGridPublisherClient as AioPublisher  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402
from azure.identity.aio import ClientSecretCredential as AioClientSecretCredential  # noqa: E402

from common import check, run  # noqa: E402

READY = json.loads(open(os.environ["READY_JSON"]).readline())
KEY = READY["eventgrid_key"]
ORDERS = READY["eventgrid_endpoints"]["orders"]  # https://127.0.0.1:P/eventgrid/orders/api/events
PLAIN = f"http://127.0.0.1:{READY['http_port']}"
PLAIN_ORDERS = f"{PLAIN}/eventgrid/orders/api/events"
AUTHORITY = READY["authority_host"]


def kept(topic="orders"):
    with urllib.request.urlopen(f"{PLAIN}/_emulator/eventgrid/{topic}/events") as response:
        return json.loads(response.read())["events"]


def kept_by_id(event_id, topic="orders"):
    matches = [entry for entry in kept(topic) if entry["event"].get("id") == str(event_id)]
    check(len(matches) == 1, f"event {event_id} kept once, found {len(matches)}")
    return matches[0]


def eventgrid_event(marker):
    return EventGridEvent(subject=f"orders/{marker}", data={"orderId": marker, "items": [1, 2], "note": "ünïcode"},
                          event_type="Contoso.Orders.Created", data_version="v1")


def cloud_event(marker):
    return CloudEvent(source="/contoso/orders", type="Contoso.Orders.Created", data={"orderId": marker},
                      subject=f"orders/{marker}", extensions={"tenant": "contoso"})


def check_eventgrid_kept(event, topic="orders"):
    entry = kept_by_id(event.id, topic)
    check(entry["schema"] == "eventgrid", f"schema {entry['schema']}")
    body = entry["event"]
    check(body["subject"] == event.subject and body["eventType"] == event.event_type, f"fields {body}")
    check(body["data"] == event.data and body["dataVersion"] == "v1", f"data {body}")


def check_cloud_kept(event, topic="orders"):
    entry = kept_by_id(event.id, topic)
    check(entry["schema"] == "cloudevent", f"schema {entry['schema']}")
    body = entry["event"]
    check(body["source"] == event.source and body["type"] == event.type and body["specversion"] == "1.0",
          f"fields {body}")
    check(body["data"] == event.data and body["subject"] == event.subject, f"data {body}")


def key_sync_both_schemas():
    client = EventGridPublisherClient(ORDERS, AzureKeyCredential(KEY))
    single, batch, cloud = eventgrid_event(1), [eventgrid_event(2), eventgrid_event(3)], cloud_event(4)
    client.send(single)
    client.send(batch)
    client.send(cloud)
    for event in [single] + batch:
        check_eventgrid_kept(event)
    check_cloud_kept(cloud)
    # Key auth over the plain listener too.
    plain = eventgrid_event(5)
    EventGridPublisherClient(PLAIN_ORDERS, AzureKeyCredential(KEY)).send(plain)
    check_eventgrid_kept(plain)


def key_async_both_schemas():
    async def body():
        async with AioPublisher(ORDERS, AzureKeyCredential(KEY), connection_verify=CA_FILE) as client:
            event, cloud = eventgrid_event(10), [cloud_event(11), cloud_event(12)]
            await client.send(event)
            await client.send(cloud)
            check_eventgrid_kept(event)
            for item in cloud:
                check_cloud_kept(item)
    asyncio.run(body())


def sas_token_sync_and_async():
    expiry = datetime.now(timezone.utc) + timedelta(minutes=10)
    sas = generate_sas(ORDERS, KEY, expiry)
    event = eventgrid_event(20)
    EventGridPublisherClient(ORDERS, AzureSasCredential(sas)).send(event)
    check_eventgrid_kept(event)

    async def body():
        async with AioPublisher(ORDERS, AzureSasCredential(sas)) as client:
            cloud = cloud_event(21)
            await client.send(cloud)
            check_cloud_kept(cloud)
    asyncio.run(body())


def bearer_sync_and_async():
    credential = ClientSecretCredential(READY["tenant_id"], READY["client_id"], READY["client_secret"],
                                        authority=AUTHORITY, disable_instance_discovery=True)
    event = eventgrid_event(30)
    EventGridPublisherClient(ORDERS, credential).send(event)
    check_eventgrid_kept(event)

    async def body():
        async with AioClientSecretCredential(READY["tenant_id"], READY["client_id"], READY["client_secret"],
                                             authority=AUTHORITY) as aio_credential:
            async with AioPublisher(ORDERS, aio_credential) as client:
                cloud = cloud_event(31)
                await client.send(cloud)
                check_cloud_kept(cloud)
    asyncio.run(body())


def namespace_topic():
    client = EventGridPublisherClient(READY["authority_host"], AzureKeyCredential(KEY), namespace_topic="cloud")
    cloud = cloud_event(40)
    client.send(cloud)
    check_cloud_kept(cloud, topic="cloud")


def wrong_key_sync_and_async():
    try:
        EventGridPublisherClient(ORDERS, AzureKeyCredential("d3Jvbmcta2V5")).send(eventgrid_event(50))
        raise AssertionError("no ClientAuthenticationError with a wrong key")
    except ClientAuthenticationError as error:
        check("401" in str(error) or "Unauthorized" in str(error), f"message: {error}")

    async def body():
        async with AioPublisher(ORDERS, AzureKeyCredential("d3Jvbmcta2V5")) as client:
            try:
                await client.send(cloud_event(51))
            except ClientAuthenticationError:
                return
        raise AssertionError("no ClientAuthenticationError with a wrong key (async)")
    asyncio.run(body())
    wrong_sas = generate_sas(ORDERS, "d3Jvbmcta2V5", datetime.now(timezone.utc) + timedelta(minutes=10))
    try:
        EventGridPublisherClient(ORDERS, AzureSasCredential(wrong_sas)).send(eventgrid_event(52))
        raise AssertionError("no ClientAuthenticationError with a SAS token under a wrong key")
    except ClientAuthenticationError:
        pass


def invalid_event_is_a_400():
    client = EventGridPublisherClient(ORDERS, AzureKeyCredential(KEY))
    try:
        client.send([{"id": str(uuid.uuid4()), "subject": "s", "eventType": "t", "data": {}, "dataVersion": "v1",
                      "eventTime": "not a time"}])
        raise AssertionError("no HttpResponseError for an invalid eventTime")
    except HttpResponseError as error:
        check(error.status_code == 400 and "eventTime" in str(error), f"error: {error}")


def swift_cli_events_read_back_by_the_sdk():
    """Events published by our Swift client (`toolbox eventgrid publish`) parse as the SDK's own models."""
    import subprocess
    from azure.eventgrid import EventGridEvent as SdkEvent
    marker = str(uuid.uuid4())
    for schema, topic in (("eventgrid", "orders"), ("cloudevent", "cloud")):
        result = subprocess.run(
            [os.environ["TOOLBOX"], "eventgrid", "publish", "--endpoint", READY["eventgrid_endpoints"][topic],
             "--key", KEY, "--ca-file", CA_FILE, "--schema", schema, "--event-type", "Swift.Published",
             "--subject", f"swift/{marker}", "--data", json.dumps({"marker": marker, "n": [1, 2]}),
             "--count", "3", "--batch-size", "2"], capture_output=True, text=True, timeout=60)
        check(result.returncode == 0, f"toolbox failed: {result.stderr}")
        check(json.loads(result.stdout)["published"] == 3, f"summary {result.stdout}")
        entries = [entry for entry in kept(topic) if entry["event"].get("subject") == f"swift/{marker}"]
        check(len(entries) == 3 and all(entry["schema"] == schema for entry in entries), f"kept {entries}")
        for entry in entries:
            if schema == "eventgrid":
                event = SdkEvent.from_dict(entry["event"])
                check(event.event_type == "Swift.Published" and event.data_version == "v1"
                      and event.event_time is not None, f"event {event}")
            else:
                event = CloudEvent.from_dict(entry["event"])
                check(event.type == "Swift.Published" and event.specversion == "1.0" and event.time is not None,
                      f"event {event}")
            check(event.data == {"marker": marker, "n": [1, 2]}, f"data {event}")


def toolbox_event_grid_client():
    from aio_azure_clients_toolbox import EventGridClient, EventGridConfig, EventGridTopicConfig
    config = EventGridConfig([EventGridTopicConfig("orders", ORDERS),
                              EventGridTopicConfig("cloud", READY["eventgrid_endpoints"]["cloud"])])
    sync_credential = ClientSecretCredential(READY["tenant_id"], READY["client_id"], READY["client_secret"],
                                             authority=AUTHORITY, disable_instance_discovery=True)
    client = EventGridClient(config, credential=sync_credential)
    check(client.is_sync() and sorted(config.topics()) == ["cloud", "orders"], "config")
    marker = str(uuid.uuid4())
    client.emit_event("cloud", "Contoso.Toolbox.Sync", f"toolbox/{marker}", {"marker": marker})
    sync_kept = [entry for entry in kept("cloud") if entry["event"]["subject"] == f"toolbox/{marker}"]
    check(len(sync_kept) == 1 and sync_kept[0]["event"]["data"] == {"marker": marker}, f"kept {sync_kept}")

    async def body():
        async with AioClientSecretCredential(READY["tenant_id"], READY["client_id"], READY["client_secret"],
                                             authority=AUTHORITY) as aio_credential:
            aio_client = EventGridClient(config, async_credential=aio_credential)
            await aio_client.async_emit_event("orders", "Contoso.Toolbox.Async", f"toolbox/{marker}",
                                              {"marker": marker}, data_version="2.0")
            await aio_client.get_async_client("orders").close()
            await aio_client.get_async_client("cloud").close()
    asyncio.run(body())
    async_kept = [entry for entry in kept("orders") if entry["event"]["subject"] == f"toolbox/{marker}"]
    check(len(async_kept) == 1 and async_kept[0]["event"]["dataVersion"] == "2.0", f"kept {async_kept}")


run([
    ("eventgrid: key, sync, EventGridEvent single + batch and CloudEvent, https and http", key_sync_both_schemas),
    ("eventgrid: key, async, both schemas", key_async_both_schemas),
    ("eventgrid: SAS token (generate_sas), sync and async", sas_token_sync_and_async),
    ("eventgrid: bearer from the emulator's Entra ID, sync and async", bearer_sync_and_async),
    ("eventgrid: namespace topic (CloudEvents, SharedAccessKey)", namespace_topic),
    ("eventgrid: wrong key / wrong SAS -> ClientAuthenticationError", wrong_key_sync_and_async),
    ("eventgrid: invalid event -> HttpResponseError 400", invalid_event_is_a_400),
    ("eventgrid: toolbox EventGridClient sync + async (ClientSecretCredential)", toolbox_event_grid_client),
    ("eventgrid: events from our Swift client (toolbox eventgrid publish) parse as the SDK's models",
     swift_cli_events_read_back_by_the_sdk),
])
