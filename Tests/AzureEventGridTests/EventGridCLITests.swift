import AzureClientsToolboxTesting
import Foundation
import ToolboxCLITestSupport
import XCTest

/// `toolbox eventgrid publish` as a black box: flags, JSON keys, the error line and exit status, no secrets.
final class EventGridCLITests: XCTestCase {
    private func publish(_ emulator: TestEmulator, _ arguments: [String], topic: String = "orders") throws -> ToolboxCLI.Output {
        let endpoint = try XCTUnwrap(emulator.eventGridEndpoint(topic))
        return try ToolboxCLI.run(["eventgrid", "publish", "--endpoint", endpoint, "--ca-file", emulator.emulator.caFile ?? "",
                                   "--event-type", "Shop.Order", "--subject", "orders/1", "--json"] + arguments)
    }

    func testPublishesBothSchemasInBatches() throws {
        let emulator = try startEventGridEmulator()
        for schema in ["eventgrid", "cloudevent"] {
            let output = try publish(emulator, ["--key", emulator.eventGridKey, "--schema", schema, "--data", #"{"n": 1}"#,
                                                "--count", "7", "--batch-size", "3", "--concurrency", "2"])
            XCTAssertEqual(output.status, 0, output.stderr)
            let summary = try output.singleJSONObject()
            for key in ["published", "failed", "seconds", "events_per_sec"] { XCTAssertNotNil(summary[key], key) }
            XCTAssertEqual(summary["published"] as? Int, 7)
            XCTAssertEqual(summary["failed"] as? Int, 0)
        }
        XCTAssertEqual(emulator.eventGridEvents("orders").count, 14)
    }

    /// Failures: exit 1, `{"error": {"status", "code", "message"}}` on stdout, the reason (naming the topic, not a
    /// placeholder) on stderr, and never the key.
    func testFailuresPrintTheErrorLineAndNoSecret() throws {
        let emulator = try startEventGridEmulator()
        let wrongKey = "V1JPTkctS0VZLVZBTFVFLTAxMjM0NTY3ODk="
        let refused = try publish(emulator, ["--key", wrongKey, "--data", "{}"])
        XCTAssertEqual(refused.status, 1)
        let error = try XCTUnwrap(try refused.singleJSONObject()["error"] as? [String: Any])
        XCTAssertEqual(error["status"] as? Int, 401)
        XCTAssertNotNil(error["code"] as? String)
        XCTAssertNotNil(error["message"] as? String)
        XCTAssertTrue(refused.stderr.contains("topic 'orders'"), refused.stderr)
        XCTAssertFalse(refused.stdout.contains(wrongKey) || refused.stderr.contains(wrongKey))

        let closed = try ToolboxCLI.run(["eventgrid", "publish", "--endpoint", "https://127.0.0.1:1/api/events",
                                         "--key", emulator.eventGridKey, "--event-type", "T", "--subject", "s",
                                         "--data", "{}", "--timeout", "5"])
        XCTAssertEqual(closed.status, 1)
        XCTAssertEqual((try closed.singleJSONObject()["error"] as? [String: Any])?["status"] as? Int, 0)
        XCTAssertFalse(closed.stderr.isEmpty)
        XCTAssertFalse(closed.stdout.contains(emulator.eventGridKey) || closed.stderr.contains(emulator.eventGridKey))

        let badData = try publish(emulator, ["--key", emulator.eventGridKey, "--data", "{not json"])
        XCTAssertEqual(badData.status, 1)
        XCTAssertTrue(badData.stderr.contains("--data"), badData.stderr)
        XCTAssertNotNil(try badData.singleJSONObject()["error"])
        XCTAssertTrue(emulator.eventGridEvents("orders").isEmpty)
    }
}
