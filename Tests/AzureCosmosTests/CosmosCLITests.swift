@testable import AzureCosmos
import Foundation
import ToolboxCLITestSupport
import XCTest

/// `toolbox cosmos ...` and `toolbox bench cosmos` as a black box, against the fake gateway.
final class CosmosCLITests: XCTestCase {
    var gateway: FakeCosmosGateway!

    override func setUpWithError() throws {
        gateway = try FakeCosmosGateway()
        gateway.addContainer("db", "items")
    }

    override func tearDown() { gateway.close() }

    func cosmos(_ arguments: [String]) throws -> ToolboxCLI.Output {
        try ToolboxCLI.run(["cosmos"] + arguments + ["--endpoint", gateway.endpoint, "--key", FakeCosmosGateway.key,
                                                    "--database", "db", "--container", "items", "--json"])
    }

    func testItemCommands() throws {
        let created = try cosmos(["create", "--item", #"{"id": "1", "pk": "a", "n": 1}"#])
        XCTAssertEqual(created.status, 0, created.stderr)
        let item = try created.singleJSONObject()
        XCTAssertEqual(item["id"] as? String, "1")
        let etag = try XCTUnwrap(item["_etag"] as? String)
        XCTAssertNotNil(item["_ts"])

        let read = try cosmos(["read", "--id", "1", "--partition-key", "a"])
        XCTAssertEqual(try read.singleJSONObject()["n"] as? Int, 1)

        // An item too large for a command line (one argument is at most 128 KiB on Linux) comes from a file.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cosmos-item-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let large = String(repeating: "x", count: 300_000)
        try Data(#"{"id": "large", "pk": "a", "text": "\#(large)"}"#.utf8).write(to: file)
        let fromFile = try cosmos(["create", "--item", "@" + file.path])
        XCTAssertEqual(fromFile.status, 0, fromFile.stderr)
        XCTAssertEqual((try fromFile.singleJSONObject()["text"] as? String)?.count, 300_000)
        let missingFile = try cosmos(["upsert", "--item", "@/nonexistent/item.json"])
        XCTAssertEqual(missingFile.status, 64)
        XCTAssertTrue(missingFile.stderr.contains("cannot open '/nonexistent/item.json'"), missingFile.stderr)
        XCTAssertEqual(try cosmos(["read", "--id", "1", "--partition-key", #""a""#]).status, 0)

        let replaced = try cosmos(["replace", "--item", #"{"id": "1", "pk": "a", "n": 2}"#, "--if-match", etag])
        XCTAssertEqual(try replaced.singleJSONObject()["n"] as? Int, 2)
        let stale = try cosmos(["replace", "--item", #"{"id": "1", "pk": "a", "n": 3}"#, "--if-match", etag])
        XCTAssertEqual(stale.status, 1)
        let error = try XCTUnwrap(try stale.singleJSONObject()["error"] as? [String: Any])
        XCTAssertEqual(error["status"] as? Int, 412)
        XCTAssertEqual(error["code"] as? String, "PreconditionFailed")
        XCTAssertNotNil(error["substatus"])
        XCTAssertNotNil(error["message"])
        XCTAssertTrue(stale.stderr.contains("412"), stale.stderr)

        let upserted = try cosmos(["upsert", "--item", #"{"id": "2", "pk": 7}"#])
        XCTAssertEqual(try upserted.singleJSONObject()["pk"] as? Int, 7)
        XCTAssertEqual(try cosmos(["read", "--id", "2", "--partition-key", "7"]).status, 0)

        let patched = try cosmos(["patch", "--id", "1", "--partition-key", "a", "--ops",
                                  #"[{"op": "incr", "path": "/n", "value": 5}, {"op": "set", "path": "/c", "value": "red"}]"#])
        XCTAssertEqual(try patched.singleJSONObject()["c"] as? String, "red")
        let refused = try cosmos(["patch", "--id", "1", "--partition-key", "a", "--ops", #"[{"op": "set", "path": "/d", "value": 1}]"#,
                                  "--condition", "from c where c.n > 100"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual((try refused.singleJSONObject()["error"] as? [String: Any])?["status"] as? Int, 412)

        let deleted = try cosmos(["delete", "--id", "1", "--partition-key", "a"])
        XCTAssertEqual(try deleted.singleJSONObject()["deleted"] as? Bool, true)
        let missing = try cosmos(["read", "--id", "1", "--partition-key", "a"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual((try missing.singleJSONObject()["error"] as? [String: Any])?["status"] as? Int, 404)
    }

    func testQueryCommand() throws {
        for index in 0..<6 {
            XCTAssertEqual(try cosmos(["create", "--item", #"{"id": "q\#(index)", "pk": "\#(index % 2 == 0 ? "a" : "x")", "n": \#(index)}"#]).status, 0)
        }
        let all = try cosmos(["query", "--query", "SELECT * FROM c WHERE c.n > @min", "--param", "@min=1", "--max-item-count", "2"])
        XCTAssertEqual(all.status, 0, all.stderr)
        let lines = all.jsonLines
        XCTAssertEqual(lines.count, 5)
        XCTAssertEqual(lines.last?["count"] as? Int, 4)
        XCTAssertGreaterThan(lines.last?["pages"] as? Int ?? 0, 1)
        XCTAssertNotNil(lines.last?["request_charge"])
        let ordered = try cosmos(["query", "--query", "SELECT * FROM c ORDER BY c.n DESC"])
        XCTAssertEqual(ordered.jsonLines.dropLast().map { $0["n"] as? Int }, [5, 4, 3, 2, 1, 0])
        let single = try cosmos(["query", "--query", "SELECT * FROM c", "--partition-key", "a"])
        XCTAssertEqual(single.jsonLines.last?["count"] as? Int, 3)
        let count = try cosmos(["query", "--query", "SELECT VALUE COUNT(1) FROM c"])
        XCTAssertTrue(count.stdout.hasPrefix("6\n"), count.stdout)
    }

    func testUsageErrors() throws {
        let noAuth = try ToolboxCLI.run(["cosmos", "read", "--id", "1", "--partition-key", "a", "--endpoint", gateway.endpoint,
                                         "--database", "db", "--container", "items"])
        XCTAssertNotEqual(noAuth.status, 0)
        XCTAssertTrue(noAuth.stderr.contains("--key"), noAuth.stderr)
        let badOps = try cosmos(["patch", "--id", "1", "--partition-key", "a", "--ops", #"[{"op": "explode", "path": "/a"}]"#])
        XCTAssertNotEqual(badOps.status, 0)
        XCTAssertTrue(badOps.stderr.contains("--ops") && badOps.stderr.contains("toolbox cosmos patch"), badOps.stderr)
        let badKey = try cosmos(["read", "--id", "1", "--partition-key", #"{"a": 1}"#])
        XCTAssertTrue(badKey.stderr.contains("toolbox cosmos read"), badKey.stderr)
        let badItem = try cosmos(["create", "--item", "[1]"])
        XCTAssertTrue(badItem.stderr.contains("--item") && badItem.stderr.contains("toolbox cosmos create"), badItem.stderr)
        let notJSON = try cosmos(["upsert", "--item", #"{"id": "#])
        XCTAssertTrue(notJSON.stderr.contains("--item is not valid JSON") && notJSON.stderr.contains("toolbox cosmos upsert"),
                      notJSON.stderr)
        // replace reads the id from --item: a missing or non-string one is a usage error of replace (it showed the root's).
        for item in [#"{"id": 7, "pk": "a"}"#, #"{"pk": "a"}"#, #"{"id": "", "pk": "a"}"#] {
            let replace = try cosmos(["replace", "--item", item])
            XCTAssertEqual(replace.status, 64, replace.stderr)
            XCTAssertTrue(replace.stderr.contains("non-empty string \"id\"") && replace.stderr.contains("toolbox cosmos replace"),
                          replace.stderr)
        }
        for bad in [["--param", "min=1"], ["--max-item-count", "0"]] {
            let query = try cosmos(["query", "--query", "SELECT * FROM c WHERE c.n > @min"] + bad)
            XCTAssertNotEqual(query.status, 0)
            XCTAssertTrue(query.stderr.contains(bad[0]) && query.stderr.contains("toolbox cosmos query"), query.stderr)
        }
        let refused = try ToolboxCLI.run(["cosmos", "read", "--id", "1", "--partition-key", "a", "--connection-string",
                                          "AccountEndpoint=http://127.0.0.1:1/;AccountKey=\(FakeCosmosGateway.key);",
                                          "--database", "db", "--container", "items", "--timeout", "5"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertNotNil(try refused.singleJSONObject()["error"])
        XCTAssertFalse(refused.stdout.contains(FakeCosmosGateway.key) || refused.stderr.contains(FakeCosmosGateway.key))
    }

    func testBenchCosmos() throws {
        for (operation, pooled) in [("read", "--pooled"), ("create", "--no-pooled"), ("upsert", "--pooled"), ("query", "--pooled")] {
            let output = try ToolboxCLI.run([
                "bench", "cosmos", "--connection-string", gateway.connectionString, "--database", "db", "--container", "items",
                "--operation", operation, "--count", "40", "--concurrency", "4", "--size", "64", pooled, "--json",
            ])
            XCTAssertEqual(output.status, 0, output.stderr)
            let summary = try output.singleJSONObject()
            for key in ["operation", "count", "concurrency", "ops_per_sec", "p50_ms", "p99_ms", "errors", "connections", "cpu_us_per_op"] {
                XCTAssertNotNil(summary[key], "\(operation): \(key)")
            }
            XCTAssertEqual(summary["operation"] as? String, operation)
            XCTAssertEqual(summary["errors"] as? Int, 0)
            XCTAssertLessThanOrEqual(summary["connections"] as? Int ?? 99, 4)
        }
    }

    /// A container keyed on `/id` (the emulator's default) or a nested path: the bench's items carry the key where
    /// the container has it, instead of a fixed `pk` field the service refuses (400/1001).
    func testBenchCosmosFollowsTheContainersPartitionKeyPath() throws {
        gateway.addContainer("db", "byid", pkPath: "/id")
        for operation in ["read", "create", "upsert", "query"] {
            let output = try ToolboxCLI.run([
                "bench", "cosmos", "--connection-string", gateway.connectionString, "--database", "db", "--container", "byid",
                "--operation", operation, "--count", "10", "--concurrency", "2", "--json",
            ])
            XCTAssertEqual(output.status, 0, "\(operation): \(output.stderr)")
            XCTAssertEqual(try output.singleJSONObject()["errors"] as? Int, 0, operation)
        }
    }
}
