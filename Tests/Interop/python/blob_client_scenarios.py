"""Blobs written by the Swift client (through `toolbox blob`) are read by azure-storage-blob, and the reverse.

Environment (scripts/interop.sh): TOOLBOX (the built CLI), BLOB_CONN (the emulator's HTTPS connection string),
BLOB_ENDPOINT, CA_FILE (the emulator's CA). Container `interop` exists.
"""
import hashlib
import json
import os
import subprocess
import tempfile
import uuid
from datetime import datetime, timedelta, timezone

from azure.storage.blob import BlobClient, BlobSasPermissions, BlobServiceClient, generate_blob_sas

from common import check, run

TOOLBOX = os.environ["TOOLBOX"]
BLOB_CONN = os.environ["BLOB_CONN"]
BLOB_ENDPOINT = os.environ["BLOB_ENDPOINT"]
CA_FILE = os.environ["CA_FILE"]
CONTAINER = "interop"
ACCOUNT = "devstoreaccount1"
KEY = dict(p.split("=", 1) for p in BLOB_CONN.split(";") if p)["AccountKey"]


def toolbox(*args, expect_ok=True):
    result = subprocess.run([TOOLBOX, "blob", *args, "--container", CONTAINER, "--ca-file", CA_FILE, "--json",
                             "--no-progress"], capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    if expect_ok:
        check(result.returncode == 0, f"toolbox blob {args[0]} failed: {result.stderr}")
    return result.returncode, lines


def service():
    # Small single-put and block sizes so the SDK, too, goes through Put Block / Put Block List and ranged GETs.
    return BlobServiceClient.from_connection_string(
        BLOB_CONN, connection_verify=CA_FILE, max_single_put_size=64 * 1024, max_block_size=64 * 1024,
        max_single_get_size=64 * 1024, max_chunk_get_size=64 * 1024)


def payload(size, seed):
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def swift_writes_sdk_reads():
    data = payload(700_000, "swift")
    name = f"swift/{uuid.uuid4()}/dir/ümlaut file.bin"
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(data)
    try:
        _, lines = toolbox("upload", "--connection-string", BLOB_CONN, "--name", name, "--file", f.name,
                           "--block-size", "131072", "--concurrency", "4", "--md5")
    finally:
        os.unlink(f.name)
    check(lines[-1]["size"] == len(data) and lines[-1]["blocks"] == 6, f"upload summary {lines[-1]}")
    blob = service().get_blob_client(CONTAINER, name)
    check(blob.download_blob().readall() == data, "azure-storage-blob read different bytes")
    props = blob.get_blob_properties()
    check(props.size == len(data), f"size {props.size}")
    check(props.etag.strip('"') == lines[-1]["etag"].strip('"'), "ETag differs")
    check(bytes(props.content_settings.content_md5) == hashlib.md5(data).digest(), "stored MD5 differs")
    names = [b.name for b in service().get_container_client(CONTAINER).list_blobs(name_starts_with="swift/")]
    check(name in names, "the SDK's listing misses the blob")


def sdk_writes_swift_reads():
    data = payload(500_000, "sdk")
    name = f"sdk/{uuid.uuid4()}/a+b=c&d;e,f'(g)!.bin"
    service().get_blob_client(CONTAINER, name).upload_blob(data, metadata={"origin": "python"})
    with tempfile.TemporaryDirectory() as directory:
        target = os.path.join(directory, "out.bin")
        _, lines = toolbox("download", "--connection-string", BLOB_CONN, "--name", name, "--file", target,
                           "--concurrency", "4", "--chunk-size", "65536")
        check(lines[-1]["sha256"] == hashlib.sha256(data).hexdigest(), f"sha256 {lines[-1]}")
        with open(target, "rb") as f:
            check(f.read() == data, "the file differs")
    _, listed = toolbox("list", "--connection-string", BLOB_CONN, "--prefix", name)
    check(listed[0]["name"] == name and listed[0]["size"] == len(data), f"listing {listed}")
    check(listed[-1] == {"count": 1}, f"count line {listed[-1]}")


def swift_sas_sdk_reads():
    data = b"signed by the Swift client"
    name = f"sas/{uuid.uuid4()}.txt"
    service().get_blob_client(CONTAINER, name).upload_blob(data)
    _, lines = toolbox("sas", "--connection-string", BLOB_CONN, "--name", name, "--expiry-seconds", "600")
    url = lines[-1]["url"]
    check("sig=" in url and lines[-1]["expires_on"] > datetime.now(timezone.utc).timestamp(), f"sas {lines[-1]}")
    blob = BlobClient.from_blob_url(url, connection_verify=CA_FILE)
    check(blob.download_blob().readall() == data, "the SDK could not read through the Swift SAS")


def sdk_sas_swift_reads():
    data = b"signed by azure-storage-blob"
    name = f"sas/{uuid.uuid4()}.txt"
    service().get_blob_client(CONTAINER, name).upload_blob(data)
    token = generate_blob_sas(ACCOUNT, CONTAINER, name, account_key=KEY, permission=BlobSasPermissions(read=True),
                              expiry=datetime.now(timezone.utc) + timedelta(minutes=10))
    with tempfile.TemporaryDirectory() as directory:
        target = os.path.join(directory, "out.txt")
        _, lines = toolbox("download", "--account-url", f"{BLOB_ENDPOINT}?{token}", "--name", name, "--file", target)
        check(lines[-1]["sha256"] == hashlib.sha256(data).hexdigest(), "bytes differ")
    tampered = token.replace("sig=", "sig=AAAA")
    status, lines = toolbox("download", "--account-url", f"{BLOB_ENDPOINT}?{tampered}", "--name", name, "--file",
                            "/dev/null", expect_ok=False)
    check(status == 1 and lines[-1]["error"]["status"] == 403, f"tampered SAS: {lines}")


def swift_copy_from_sdk_blob():
    data = payload(200_000, "copy")
    source = f"copy/{uuid.uuid4()}-source.bin"
    client = service().get_blob_client(CONTAINER, source)
    client.upload_blob(data)
    token = generate_blob_sas(ACCOUNT, CONTAINER, source, account_key=KEY, permission=BlobSasPermissions(read=True),
                              expiry=datetime.now(timezone.utc) + timedelta(minutes=10))
    target = source.replace("-source", "-copy")
    _, lines = toolbox("upload-from-url", "--connection-string", BLOB_CONN, "--name", target, "--source-url",
                       f"{client.url}?{token}")
    check(lines[-1]["name"] == target, f"copy {lines}")
    check(service().get_blob_client(CONTAINER, target).download_blob().readall() == data, "copy differs")
    _, deleted = toolbox("delete", "--connection-string", BLOB_CONN, "--name", target)
    check(deleted[-1] == {"deleted": True}, f"delete {deleted}")
    check(not service().get_blob_client(CONTAINER, target).exists(), "the SDK still sees the deleted blob")


run([
    ("blob: written by the Swift client (blocks), read by azure-storage-blob", swift_writes_sdk_reads),
    ("blob: written by azure-storage-blob (blocks), read by the Swift client (ranges)", sdk_writes_swift_reads),
    ("blob: SAS signed by the Swift client, used by azure-storage-blob", swift_sas_sdk_reads),
    ("blob: SAS signed by azure-storage-blob, used by the Swift client (tampered: 403)", sdk_sas_swift_reads),
    ("blob: Put Blob From URL by the Swift client from an SDK blob, then delete", swift_copy_from_sdk_blob),
])
