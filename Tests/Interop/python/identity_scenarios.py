"""azure-identity against the emulator's Entra ID: client secret (sync via MSAL, async via azure-identity's own
client), managed identity over IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST) and App Service (IDENTITY_ENDPOINT +
IDENTITY_HEADER), workload identity, DefaultAzureCredential from environment variables; each token is then
accepted by emulator services (Event Hubs over AMQPS: $cbs takes the emulator's JWTs; Event Grid and Cosmos DB
over HTTPS). Wrong secrets get
ClientAuthenticationError."""
import asyncio
import base64
import json
import os
import tempfile

CA_FILE = os.environ["CA_FILE"]
# The emulator's HTTPS certificate comes from its own CA: requests (sync) and aiohttp (async) trust it through these.
os.environ["REQUESTS_CA_BUNDLE"] = CA_FILE
os.environ["SSL_CERT_FILE"] = CA_FILE

from azure.core.exceptions import ClientAuthenticationError  # noqa: E402
from azure.eventgrid import EventGridEvent, EventGridPublisherClient  # noqa: E402
from azure.eventhub import EventHubProducerClient, TransportType  # noqa: E402
from azure.identity import (  # noqa: E402
    ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential, WorkloadIdentityCredential,
)
from azure.identity.aio import (  # noqa: E402
    ClientSecretCredential as AioClientSecretCredential, DefaultAzureCredential as AioDefaultAzureCredential,
    ManagedIdentityCredential as AioManagedIdentityCredential,
)

from common import EH_NAME, check, run  # noqa: E402

READY = json.loads(open(os.environ["READY_JSON"]).readline())
AUTHORITY = READY["authority_host"]
TENANT = READY["tenant_id"]
CLIENT = READY["client_id"]
SECRET = READY["client_secret"]
IMDS = READY["imds_endpoint"]
AMQPS_PORT = os.environ["AMQPS_PORT"]
STORAGE = "https://storage.azure.com/.default"
IDENTITY_VARIABLES = ("AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                      "AZURE_POD_IDENTITY_AUTHORITY_HOST", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                      "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "IMDS_ENDPOINT")


class Environment:
    """Sets exactly the given identity variables for the duration of a scenario."""

    def __init__(self, **values):
        self.values = values

    def __enter__(self):
        self.saved = {name: os.environ.pop(name, None) for name in IDENTITY_VARIABLES}
        os.environ.update(self.values)

    def __exit__(self, *_):
        for name in IDENTITY_VARIABLES:
            os.environ.pop(name, None)
            if self.saved[name] is not None:
                os.environ[name] = self.saved[name]


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def check_token(access_token, audience="https://storage.azure.com/"):
    check(access_token.token.count(".") == 2, "a compact JWT")
    check(claims(access_token.token)["aud"] == audience, f"audience {claims(access_token.token)['aud']}")
    check(access_token.expires_on > 0, "expires_on")


def accepted_by_event_hubs(credential):
    """The credential's Event Hubs token opens an AMQPS connection to the emulator ($cbs put-token)."""
    client = EventHubProducerClient(fully_qualified_namespace="localhost", eventhub_name=EH_NAME,
                                    credential=credential, transport_type=TransportType.Amqp,
                                    custom_endpoint_address=f"sb://localhost:{AMQPS_PORT}", connection_verify=CA_FILE)
    try:
        properties = client.get_eventhub_properties()
        check(properties["eventhub_name"] == EH_NAME, f"properties {properties}")
    finally:
        client.close()


def accepted_by_event_grid(credential):
    """The credential's Event Grid token (bearer over HTTPS) publishes to the emulator's `orders` topic."""
    client = EventGridPublisherClient(READY["eventgrid_endpoints"]["orders"], credential)
    client.send(EventGridEvent(subject="identity/check", data={"by": type(credential).__name__},
                               event_type="Identity.Checked", data_version="v1"))


def accepted_by_cosmos(credential):
    """The credential's Cosmos token (scope https://127.0.0.1/.default) reads the emulator's container."""
    from azure.cosmos import CosmosClient
    client = CosmosClient(READY["cosmos_endpoint"], credential=credential)
    properties = client.get_database_client("interop").get_container_client("items").read()
    check(properties["id"] == "items", f"container {properties}")


def secret_sync():
    credential = ClientSecretCredential(TENANT, CLIENT, SECRET, authority=AUTHORITY, disable_instance_discovery=True)
    check_token(credential.get_token(STORAGE))
    check_token(credential.get_token("https://eventgrid.azure.net/.default"), "https://eventgrid.azure.net/")
    accepted_by_event_hubs(credential)


def secret_async():
    async def body():
        async with AioClientSecretCredential(TENANT, CLIENT, SECRET, authority=AUTHORITY) as credential:
            check_token(await credential.get_token(STORAGE))
    asyncio.run(body())


def wrong_secret_sync():
    credential = ClientSecretCredential(TENANT, CLIENT, "not-the-secret", authority=AUTHORITY,
                                        disable_instance_discovery=True)
    try:
        credential.get_token(STORAGE)
    except ClientAuthenticationError as error:
        check("AADSTS7000215" in str(error), f"message: {error}")
        return
    raise AssertionError("no ClientAuthenticationError with a wrong secret")


def wrong_secret_async():
    async def body():
        async with AioClientSecretCredential(TENANT, CLIENT, "not-the-secret", authority=AUTHORITY) as credential:
            try:
                await credential.get_token(STORAGE)
            except ClientAuthenticationError as error:
                check("invalid_client" in str(error), f"message: {error}")
                return
        raise AssertionError("no ClientAuthenticationError with a wrong secret (async)")
    asyncio.run(body())


def managed_identity_imds_sync():
    with Environment(AZURE_POD_IDENTITY_AUTHORITY_HOST=IMDS):
        check_token(ManagedIdentityCredential().get_token(STORAGE))
        check_token(ManagedIdentityCredential(client_id="22222222-aaaa-bbbb-cccc-000000000002").get_token(STORAGE))
        accepted_by_event_hubs(ManagedIdentityCredential())
        accepted_by_event_grid(ManagedIdentityCredential())


def managed_identity_imds_async():
    async def body():
        async with AioManagedIdentityCredential() as credential:
            check_token(await credential.get_token(STORAGE))
    with Environment(AZURE_POD_IDENTITY_AUTHORITY_HOST=IMDS):
        asyncio.run(body())


def managed_identity_app_service():
    with Environment(IDENTITY_ENDPOINT=READY["identity_endpoint"], IDENTITY_HEADER=READY["identity_header"]):
        check_token(ManagedIdentityCredential().get_token(STORAGE))

        async def body():
            async with AioManagedIdentityCredential() as credential:
                check_token(await credential.get_token(STORAGE))
        asyncio.run(body())
        accepted_by_event_hubs(ManagedIdentityCredential())
        accepted_by_event_grid(ManagedIdentityCredential())


def managed_identity_app_service_wrong_header():
    with Environment(IDENTITY_ENDPOINT=READY["identity_endpoint"], IDENTITY_HEADER="wrong"):
        try:
            ManagedIdentityCredential().get_token(STORAGE)
        except ClientAuthenticationError:
            return
    raise AssertionError("no ClientAuthenticationError with a wrong X-IDENTITY-HEADER")


def workload_identity():
    with tempfile.NamedTemporaryFile("w", suffix=".jwt", delete=False) as handle:
        handle.write(READY["federated_token"])
    try:
        with Environment(AZURE_AUTHORITY_HOST=AUTHORITY, AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT,
                         AZURE_FEDERATED_TOKEN_FILE=handle.name):
            check_token(WorkloadIdentityCredential().get_token(STORAGE))
            check_token(DefaultAzureCredential().get_token(STORAGE))
            accepted_by_event_grid(WorkloadIdentityCredential())
    finally:
        os.unlink(handle.name)


def default_from_environment():
    with Environment(AZURE_AUTHORITY_HOST=AUTHORITY, AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT,
                     AZURE_CLIENT_SECRET=SECRET):
        credential = DefaultAzureCredential(disable_instance_discovery=True)
        check_token(credential.get_token(STORAGE))
        check_token(credential.get_token("https://127.0.0.1/.default"), "https://127.0.0.1/")
        accepted_by_event_hubs(credential)
        accepted_by_event_grid(credential)
        accepted_by_cosmos(credential)

        async def body():
            async with AioDefaultAzureCredential() as aio:
                check_token(await aio.get_token(STORAGE))
        asyncio.run(body())


def default_wrong_secret():
    with Environment(AZURE_AUTHORITY_HOST=AUTHORITY, AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT,
                     AZURE_CLIENT_SECRET="not-the-secret"):
        try:
            DefaultAzureCredential(disable_instance_discovery=True, exclude_managed_identity_credential=True,
                                   exclude_cli_credential=True, exclude_developer_cli_credential=True,
                                   exclude_powershell_credential=True).get_token(STORAGE)
        except ClientAuthenticationError as error:
            check("AADSTS7000215" in str(error), f"message: {error}")
            return
    raise AssertionError("no ClientAuthenticationError from DefaultAzureCredential with a wrong secret")


run([
    ("identity: client secret (sync, MSAL) + Event Hubs accepts the token", secret_sync),
    ("identity: client secret (async)", secret_async),
    ("identity: wrong secret (sync) -> ClientAuthenticationError", wrong_secret_sync),
    ("identity: wrong secret (async) -> ClientAuthenticationError", wrong_secret_async),
    ("identity: managed identity IMDS (sync, system + user assigned)", managed_identity_imds_sync),
    ("identity: managed identity IMDS (async)", managed_identity_imds_async),
    ("identity: managed identity App Service (sync + async)", managed_identity_app_service),
    ("identity: App Service wrong identity header", managed_identity_app_service_wrong_header),
    ("identity: workload identity (federated token file)", workload_identity),
    ("identity: DefaultAzureCredential from environment variables", default_from_environment),
    ("identity: DefaultAzureCredential wrong secret", default_wrong_secret),
])
