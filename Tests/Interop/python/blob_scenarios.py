"""azure-storage-blob (sync and async) and the Python toolbox's AzureBlobStorageClient against the emulator's Blob
Storage: containers, small and chunked (>4 MiB, forced blocks) uploads, whole and ranged (chunked) downloads, list
with prefix, delimiter and pages, properties and metadata, conditional failures, delete, Put Blob From URL,
service-SAS and user-delegation-SAS URLs fetched with plain urllib, and the SDK's own errors for a wrong key and a
tampered SAS."""
import asyncio
import hashlib
import json
import os
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

CA_FILE = os.environ["CA_FILE"]
# requests (sync) and aiohttp (async) trust the emulator's CA through these (blob.md §1).
os.environ["REQUESTS_CA_BUNDLE"] = CA_FILE
os.environ["SSL_CERT_FILE"] = CA_FILE

from azure.core import MatchConditions  # noqa: E402
from azure.core.exceptions import (  # noqa: E402
    ClientAuthenticationError, HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError,
)
from azure.storage.blob import (  # noqa: E402
    BlobClient, BlobSasPermissions, BlobServiceClient, ContainerClient, ContainerSasPermissions, ContentSettings,
    generate_blob_sas, generate_container_sas,
)
from azure.storage.blob.aio import BlobServiceClient as AioBlobServiceClient  # noqa: E402

from common import check, run  # noqa: E402

READY = json.loads(open(os.environ["READY_JSON"]).readline())
CONN = READY["blob_connection_string"]
HTTPS_ENDPOINT = READY["blob_endpoint"]  # https://127.0.0.1:P/devstoreaccount1
PLAIN_ENDPOINT = f"http://127.0.0.1:{READY['http_port']}/devstoreaccount1"
ACCOUNT = "devstoreaccount1"
KEY = CONN.split("AccountKey=")[1].split(";")[0]
SHARED_KEY = {"account_name": ACCOUNT, "account_key": KEY}
AUTHORITY = READY["authority_host"]
RUN = uuid.uuid4().hex[:8]


def service(endpoint=PLAIN_ENDPOINT, **kwargs):
    return BlobServiceClient(endpoint, credential=SHARED_KEY, **kwargs)


def new_container(client, prefix):
    name = f"{prefix}-{RUN}"
    client.create_container(name)
    return client.get_container_client(name)


def fetch(url):
    """GET with a plain HTTP client (no SDK), trusting the emulator's CA for https."""
    import ssl
    context = ssl.create_default_context(cafile=CA_FILE)
    with urllib.request.urlopen(url, context=context if url.startswith("https") else None, timeout=30) as response:
        return response.status, response.read()


def containers_and_small_blobs():
    client = service()
    container = new_container(client, "small")
    try:
        client.create_container(container.container_name)
        raise AssertionError("no ResourceExistsError for an existing container")
    except ResourceExistsError as error:
        check(error.error_code == "ContainerAlreadyExists", f"code {error.error_code}")
    check(container.container_name in [c.name for c in client.list_containers(name_starts_with="small-")], "listed")
    check("interop" in [c.name for c in client.list_containers()], "the --blob-container interop exists")
    body = b"hello blob world\n" * 10
    blob = container.get_blob_client("dir/small file.txt")
    blob.upload_blob(body, metadata={"color": "blue"},
                     content_settings=ContentSettings(content_type="text/plain", content_language="en",
                                                      cache_control="no-cache", content_disposition="inline"))
    try:
        blob.upload_blob(body)
        raise AssertionError("no ResourceExistsError without overwrite")
    except ResourceExistsError as error:
        check(error.error_code == "BlobAlreadyExists", f"code {error.error_code}")
    check(blob.download_blob().readall() == body, "whole download")
    check(blob.download_blob(offset=5, length=10).readall() == body[5:15], "ranged download")
    properties = blob.get_blob_properties()
    check(properties.size == len(body) and properties.metadata == {"color": "blue"}, f"properties {properties}")
    settings = properties.content_settings
    check(settings.content_type == "text/plain" and settings.content_language == "en"
          and settings.cache_control == "no-cache" and settings.content_disposition == "inline", f"settings {settings}")
    check(bytes(settings.content_md5) == hashlib.md5(body).digest(), "content md5")
    blob.set_blob_metadata({"size": "small"})
    check(blob.get_blob_properties().metadata == {"size": "small"}, "metadata replaced")
    check(container.get_container_properties().name == container.container_name, "container properties")
    empty = container.get_blob_client("empty.bin")
    empty.upload_blob(b"")
    check(empty.download_blob().readall() == b"", "empty blob (416 then 200)")
    blob.delete_blob()
    try:
        blob.delete_blob()
        raise AssertionError("no ResourceNotFoundError for a deleted blob")
    except ResourceNotFoundError as error:
        check(error.error_code == "BlobNotFound", f"code {error.error_code}")
    try:
        blob.download_blob().readall()
        raise AssertionError("no ResourceNotFoundError downloading a deleted blob")
    except ResourceNotFoundError:
        pass
    container.delete_container()
    try:
        container.get_container_properties()
        raise AssertionError("no ResourceNotFoundError for a deleted container")
    except ResourceNotFoundError:
        pass


def chunked_upload_and_download():
    data = os.urandom(9 * 1024 * 1024 + 123)
    client = service(max_single_put_size=1024 * 1024, max_block_size=1024 * 1024,
                     max_single_get_size=1024 * 1024, max_chunk_get_size=1024 * 1024)
    container = new_container(client, "chunked")
    blob = container.get_blob_client("big/blocks.bin")
    blob.upload_blob(data)
    check(len(blob.get_block_list("committed")[0]) == 10, "uploaded as 10 blocks")
    check(blob.download_blob().readall() == data, "chunked download equals the upload")
    check(blob.download_blob(offset=1024 * 1024 - 7, length=3 * 1024 * 1024).readall()
          == data[1024 * 1024 - 7:4 * 1024 * 1024 - 7], "ranged chunked download across blocks")
    parallel = container.get_blob_client("big/parallel.bin")
    parallel.upload_blob(data, max_concurrency=4)
    check(parallel.download_blob(max_concurrency=4).readall() == data, "parallel upload and download")
    # Default thresholds: a 5 MiB upload is one Put Blob, its download one 32 MiB-range GET.
    default = service().get_blob_client(container.container_name, "default.bin")
    default.upload_blob(data[:5 * 1024 * 1024])
    check(default.download_blob().readall() == data[:5 * 1024 * 1024], "default thresholds")


def listing_with_prefix_delimiter_and_pages():
    container = new_container(service(), "list")
    names = ["a.txt", "dir/one.txt", "dir/two.txt", "dir/sub/three.txt", "other/x.txt"]
    for name in names:
        container.upload_blob(name, name.encode())
    check([b.name for b in container.list_blobs(name_starts_with="dir/")]
          == ["dir/one.txt", "dir/sub/three.txt", "dir/two.txt"], "prefix")
    pages = [[b.name for b in page] for page in container.list_blobs(results_per_page=2).by_page()]
    check(pages == [["a.txt", "dir/one.txt"], ["dir/sub/three.txt", "dir/two.txt"], ["other/x.txt"]], f"pages {pages}")
    # The SDK yields a page's BlobPrefix entries before its blobs.
    walked = [b.name for b in container.walk_blobs(delimiter="/")]
    check(sorted(walked) == ["a.txt", "dir/", "other/"], f"walk {walked}")
    nested = [b.name for b in container.walk_blobs(name_starts_with="dir/", delimiter="/")]
    check(sorted(nested) == ["dir/one.txt", "dir/sub/", "dir/two.txt"], f"walk dir/ {nested}")
    check([b.name for b in container.list_blobs(include=["metadata"])] == sorted(names), "all names")


def conditional_failures():
    container = new_container(service(), "cond")
    blob = container.get_blob_client("c.txt")
    etag = blob.upload_blob(b"one")["etag"]
    blob.upload_blob(b"two", overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)
    try:
        blob.upload_blob(b"three", overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)
        raise AssertionError("no ResourceModifiedError for a stale ETag")
    except ResourceModifiedError as error:
        check(error.error_code == "ConditionNotMet", f"code {error.error_code}")
    current = blob.get_blob_properties().etag
    try:
        blob.download_blob(etag=current, match_condition=MatchConditions.IfModified).readall()
        raise AssertionError("no error for If-None-Match on an unchanged blob")
    except (ResourceModifiedError, HttpResponseError) as error:
        check(error.status_code == 304, f"status {error.status_code}")
    check(blob.download_blob().readall() == b"two", "the stale write changed nothing")


def async_client():
    async def body():
        async with AioBlobServiceClient(PLAIN_ENDPOINT, credential=SHARED_KEY, max_single_put_size=512 * 1024,
                                        max_block_size=512 * 1024, max_single_get_size=512 * 1024,
                                        max_chunk_get_size=512 * 1024) as client:
            container = client.get_container_client(f"async-{RUN}")
            await container.create_container()
            data = os.urandom(5 * 1024 * 1024 + 1)
            await container.upload_blob("q?hash#.txt", data)
            downloaded = await (await container.download_blob("q?hash#.txt")).readall()
            check(downloaded == data, "async chunked round trip")
            names = [b.name async for b in container.list_blobs()]
            check(names == ["q?hash#.txt"], f"names {names}")
            await container.delete_blob("q?hash#.txt")
    asyncio.run(body())


def service_sas_urls():
    client = service()
    container = new_container(client, "sas")
    container.upload_blob("dir/read me.txt", b"sas content")
    expiry = datetime.now(timezone.utc) + timedelta(minutes=10)
    token = generate_blob_sas(ACCOUNT, container.container_name, "dir/read me.txt", account_key=KEY,
                              permission=BlobSasPermissions(read=True), expiry=expiry)
    for endpoint in (PLAIN_ENDPOINT, HTTPS_ENDPOINT):
        url = f"{endpoint}/{container.container_name}/dir/read%20me.txt?{token}"
        check(fetch(url) == (200, b"sas content"), f"plain GET of {endpoint}")
        check(BlobClient.from_blob_url(url, connection_verify=CA_FILE).download_blob().readall() == b"sas content",
              "SDK GET with the SAS")
    tampered = token.replace("sp=r", "sp=rw")
    try:
        fetch(f"{PLAIN_ENDPOINT}/{container.container_name}/dir/read%20me.txt?{tampered}")
        raise AssertionError("a tampered SAS was accepted")
    except urllib.error.HTTPError as error:
        check(error.code == 403 and error.headers["x-ms-error-code"] == "AuthenticationFailed", f"{error.code}")
    try:
        BlobClient.from_blob_url(f"{PLAIN_ENDPOINT}/{container.container_name}/dir/read%20me.txt?{tampered}") \
            .download_blob().readall()
        raise AssertionError("the SDK accepted a tampered SAS")
    except ClientAuthenticationError as error:
        check(error.error_code == "AuthenticationFailed", f"code {error.error_code}")
    expired = generate_blob_sas(ACCOUNT, container.container_name, "dir/read me.txt", account_key=KEY,
                                permission=BlobSasPermissions(read=True),
                                expiry=datetime.now(timezone.utc) - timedelta(minutes=1))
    try:
        fetch(f"{PLAIN_ENDPOINT}/{container.container_name}/dir/read%20me.txt?{expired}")
        raise AssertionError("an expired SAS was accepted")
    except urllib.error.HTTPError as error:
        check(error.code == 403, f"{error.code}")
    container_token = generate_container_sas(ACCOUNT, container.container_name, account_key=KEY,
                                             permission=ContainerSasPermissions(read=True, list=True, write=True),
                                             expiry=expiry)
    sas_container = ContainerClient.from_container_url(f"{PLAIN_ENDPOINT}/{container.container_name}?{container_token}")
    sas_container.upload_blob("by-sas.txt", b"written with a container SAS")
    check(sorted(b.name for b in sas_container.list_blobs()) == ["by-sas.txt", "dir/read me.txt"], "SAS listing")
    try:
        sas_container.delete_blob("by-sas.txt")
        raise AssertionError("a SAS without d deleted a blob")
    except HttpResponseError as error:
        check(error.status_code == 403 and error.error_code == "AuthorizationPermissionMismatch", f"{error.error_code}")


def wrong_key_is_an_authentication_error():
    wrong = BlobServiceClient(PLAIN_ENDPOINT, credential={"account_name": ACCOUNT,
                                                          "account_key": "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="})
    try:
        wrong.create_container(f"wrong-{RUN}")
        raise AssertionError("a wrong key was accepted")
    except ClientAuthenticationError as error:
        check(error.error_code == "AuthenticationFailed", f"code {error.error_code}")

    async def body():
        async with AioBlobServiceClient(PLAIN_ENDPOINT, credential={"account_name": ACCOUNT, "account_key": "d3Jvbmc="}) as client:
            try:
                await client.get_container_client("interop").get_container_properties()
            except ClientAuthenticationError:
                return
        raise AssertionError("a wrong key was accepted (async)")
    asyncio.run(body())


def identity_environment():
    os.environ.update(AZURE_AUTHORITY_HOST=AUTHORITY, AZURE_TENANT_ID=READY["tenant_id"],
                      AZURE_CLIENT_ID=READY["client_id"], AZURE_CLIENT_SECRET=READY["client_secret"])


def user_delegation_sas_and_upload_from_url():
    from azure.identity import ClientSecretCredential
    credential = ClientSecretCredential(READY["tenant_id"], READY["client_id"], READY["client_secret"],
                                        authority=AUTHORITY, disable_instance_discovery=True)
    client = BlobServiceClient(HTTPS_ENDPOINT, credential=credential)
    container = new_container(client, "udk")
    container.upload_blob("report.txt", b"delegated")
    start = datetime.now(timezone.utc)
    key = client.get_user_delegation_key(start, start + timedelta(hours=1))
    token = generate_blob_sas(ACCOUNT, container.container_name, "report.txt", user_delegation_key=key,
                              permission=BlobSasPermissions(read=True), expiry=start + timedelta(minutes=30))
    url = f"{HTTPS_ENDPOINT}/{container.container_name}/report.txt?{token}"
    check(fetch(url) == (200, b"delegated"), "user-delegation SAS over https")
    check(fetch(f"{PLAIN_ENDPOINT}/{container.container_name}/report.txt?{token}") == (200, b"delegated"), "and http")
    tampered = token.replace("sig=", "sig=AA")
    try:
        fetch(f"{PLAIN_ENDPOINT}/{container.container_name}/report.txt?{tampered}")
        raise AssertionError("a tampered user-delegation SAS was accepted")
    except urllib.error.HTTPError as error:
        check(error.code == 403, f"{error.code}")
    copy = container.get_blob_client("copied.txt")
    copy.upload_blob_from_url(url)
    check(copy.download_blob().readall() == b"delegated", "Put Blob From URL with the SAS URL")


def toolbox_azure_blob_storage_client():
    from aio_azure_clients_toolbox import AzureBlobStorageClient
    from azure.identity.aio import DefaultAzureCredential

    identity_environment()

    async def body():
        async with DefaultAzureCredential(disable_instance_discovery=True) as credential:
            client = AzureBlobStorageClient(HTTPS_ENDPOINT, "interop", credential)
            name = f"toolbox/{RUN}/r1.txt"
            ok, result = await client.upload_blob(name, b"report one")
            check(ok and result.get("etag"), f"upload {result}")
            check(await client.download_blob(name) == b"report one", "download")
            listed = [b.name async for b in client.list_blobs(prefix=f"toolbox/{RUN}/")]
            check(listed == [name], f"listed {listed}")
            url = await client.get_blob_sas_url(name)
            check(fetch(url) == (200, b"report one"), "toolbox SAS URL fetched with urllib")
            await client.upload_blob_from_url(f"toolbox/{RUN}/copy.txt", url)
            check(await client.download_blob(f"toolbox/{RUN}/copy.txt") == b"report one", "upload_blob_from_url")
            await client.delete_blob(name)
            await client.delete_blob(f"toolbox/{RUN}/copy.txt")
            listed = [b.name async for b in client.list_blobs(prefix=f"toolbox/{RUN}/")]
            check(listed == [], f"after delete {listed}")
    asyncio.run(body())


run([
    ("blob: containers, small blobs, properties, metadata, delete (sync, shared key, http)", containers_and_small_blobs),
    ("blob: chunked >4 MiB uploads (forced blocks, parallel) and chunked ranged downloads", chunked_upload_and_download),
    ("blob: list with prefix, pages (results_per_page) and delimiter", listing_with_prefix_delimiter_and_pages),
    ("blob: conditional failures (stale ETag, If-None-Match)", conditional_failures),
    ("blob: async client chunked round trip", async_client),
    ("blob: service-SAS and container-SAS URLs (urllib and SDK), tampered and expired SAS", service_sas_urls),
    ("blob: wrong account key is ClientAuthenticationError (sync and async)", wrong_key_is_an_authentication_error),
    ("blob: bearer, user delegation key, user-delegation SAS via urllib, upload_blob_from_url",
     user_delegation_sas_and_upload_from_url),
    ("blob: Python toolbox AzureBlobStorageClient with DefaultAzureCredential", toolbox_azure_blob_storage_client),
])
