"""Our `toolbox cosmos` CLI and Microsoft's azure-cosmos against the emulator's Cosmos DB service: items written
by one are read back by the other, both ways (container interop/items, partition key /pk)."""
import json
import os
import subprocess
import uuid

from azure.cosmos import CosmosClient, exceptions

from common import check, run

TOOLBOX = os.environ["TOOLBOX"]
ENDPOINT = os.environ["COSMOS_ENDPOINT"]
KEY = os.environ["COSMOS_KEY"]
CA_FILE = os.environ.get("CA_FILE")
RUN = uuid.uuid4().hex[:8]


def toolbox(*arguments, expect=0):
    command = [TOOLBOX, "cosmos", *arguments, "--endpoint", ENDPOINT, "--key", KEY, "--database", "interop",
               "--container", "items", "--json"]
    if CA_FILE and ENDPOINT.startswith("https"):
        command += ["--ca-file", CA_FILE]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    check(result.returncode == expect, f"{arguments[0]} exited {result.returncode}: {result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def container():
    client = CosmosClient(ENDPOINT, credential=KEY, enable_endpoint_discovery=False)
    return client.get_database_client("interop").get_container_client("items")


def cli_writes_sdk_reads():
    item_id = f"cli-{RUN}"
    stored = toolbox("create", "--item", json.dumps({"id": item_id, "pk": "tenant-a", "n": 1}))[0]
    check(stored["id"] == item_id and "_etag" in stored and "_ts" in stored, f"stored: {stored}")
    read = container().read_item(item=item_id, partition_key="tenant-a")
    check(read["n"] == 1 and read["_etag"] == stored["_etag"], f"azure-cosmos read {read}")
    patched = toolbox("patch", "--id", item_id, "--partition-key", "tenant-a", "--ops",
                      json.dumps([{"op": "incr", "path": "/n", "value": 4}, {"op": "set", "path": "/c", "value": "red"}]))[0]
    check(patched["n"] == 5 and patched["c"] == "red", f"patched: {patched}")
    read = container().read_item(item=item_id, partition_key="tenant-a")
    check(read["n"] == 5 and read["c"] == "red", f"azure-cosmos read after patch {read}")
    deleted = toolbox("delete", "--id", item_id, "--partition-key", "tenant-a")[0]
    check(deleted["deleted"] is True, f"delete: {deleted}")
    try:
        container().read_item(item=item_id, partition_key="tenant-a")
        raise AssertionError("the item is still there")
    except exceptions.CosmosResourceNotFoundError:
        pass


def sdk_writes_cli_reads():
    item_id = f"sdk-{RUN}"
    box = container()
    created = box.create_item({"id": item_id, "pk": 7, "name": "from azure-cosmos"})
    read = toolbox("read", "--id", item_id, "--partition-key", "7")[0]
    check(read["name"] == "from azure-cosmos" and read["_etag"] == created["_etag"], f"toolbox read {read}")
    stale = toolbox("replace", "--item", json.dumps({"id": item_id, "pk": 7, "name": "x"}), "--if-match", '"stale"',
                    expect=1)[0]
    check(stale["error"]["status"] == 412, f"stale replace: {stale}")
    replaced = toolbox("replace", "--item", json.dumps({"id": item_id, "pk": 7, "name": "by toolbox"}),
                       "--if-match", created["_etag"])[0]
    check(replaced["name"] == "by toolbox", f"replaced {replaced}")
    check(box.read_item(item=item_id, partition_key=7)["name"] == "by toolbox", "azure-cosmos sees the replace")
    missing = toolbox("read", "--id", f"missing-{RUN}", "--partition-key", "7", expect=1)[0]
    check(missing["error"]["status"] == 404, f"missing: {missing}")


def queries_agree():
    box = container()
    for index in range(5):
        box.upsert_item({"id": f"q-{RUN}-{index}", "pk": f"p{index % 3}", "run": RUN, "n": index})
    lines = toolbox("query", "--query", "SELECT * FROM c WHERE c.run = @run ORDER BY c.n DESC", "--param",
                    f'@run="{RUN}"', "--max-item-count", "2")
    check(lines[-1]["count"] == 5, f"summary {lines[-1]}")
    check([line["n"] for line in lines[:-1]] == [4, 3, 2, 1, 0], f"order {lines[:-1]}")
    sdk = list(box.query_items("SELECT VALUE COUNT(1) FROM c WHERE c.run = @run",
                               parameters=[{"name": "@run", "value": RUN}], enable_cross_partition_query=True))
    count = toolbox("query", "--query", "SELECT VALUE COUNT(1) FROM c WHERE c.run = @run", "--param", f'@run="{RUN}"')
    check(sum(sdk) == 5 and count[0] == 5, f"counts: sdk {sdk}, toolbox {count}")
    single = toolbox("query", "--query", "SELECT * FROM c WHERE c.run = @run", "--param", f'@run="{RUN}"',
                     "--partition-key", "p0")
    check(single[-1]["count"] == 2, f"single partition {single[-1]}")


run([
    ("cosmos_cli_writes_sdk_reads", cli_writes_sdk_reads),
    ("cosmos_sdk_writes_cli_reads", sdk_writes_cli_reads),
    ("cosmos_queries_agree", queries_agree),
])
