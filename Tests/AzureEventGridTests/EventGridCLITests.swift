import AzureAuth
import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import ToolboxCLITestSupport
import ToolboxCore
import XCTest

/// `toolbox eventgrid publish` as a black box: flags, the one JSON line, exit statuses, events read back.
final class EventGridCLITests: XCTestCase {
    private func publish(_ emulator: TestEmulator, _ extra: [String], topic: String = "orders",
                         environment: [String: String] = [:]) throws -> ToolboxCLI.Output {
        try ToolboxCLI.run(["eventgrid", "publish", "--endpoint", XCTUnwrap(emulator.eventGridEndpoint(topic)),
                            "--ca-file", XCTUnwrap(emulator.emulator.caFile), "--event-type", "Cli.Tested",
                            "--subject", "cli/1", "--data", #"{"n": 1, "s": "ü"}"#] + extra, environment: environment)
    }

    func testCoalescedPublishesAllArriveOnceAndTheSummarySaysSo() throws {
        let emulator = try startEventGridEmulator()
        let output = try publish(emulator, ["--key", emulator.eventGridKey, "--count", "40", "--concurrency", "16",
                                            "--coalesce", "--max-requests-in-flight", "1"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let summary = try output.singleJSONObject()
        XCTAssertEqual(summary["coalesced"] as? Bool, true)
        XCTAssertEqual(summary["published"] as? Int, 40)
        let kept = emulator.eventGridEvents("orders")
        XCTAssertEqual(Set(kept.compactMap { $0.object()?["id"] as? String }).count, 40)
        XCTAssertEqual(kept.count, 40)
    }

    func testPublishesBatchesConcurrentlyAndPrintsTheSummary() throws {
        let emulator = try startEventGridEmulator()
        let output = try publish(emulator, ["--key", emulator.eventGridKey, "--count", "25", "--batch-size", "4",
                                            "--concurrency", "3"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let summary = try output.singleJSONObject()
        XCTAssertEqual(Set(summary.keys), ["published", "failed", "seconds", "events_per_sec", "coalesced"])
        XCTAssertEqual(summary["coalesced"] as? Bool, false)
        XCTAssertEqual(summary["published"] as? Int, 25)
        XCTAssertEqual(summary["failed"] as? Int, 0)
        XCTAssertNotNil(summary["seconds"] as? Double)
        let kept = emulator.eventGridEvents("orders")
        XCTAssertEqual(kept.count, 25)
        XCTAssertEqual(Set(kept.compactMap { $0.object()?["id"] as? String }).count, 25)
        let event = try XCTUnwrap(kept.first?.object())
        XCTAssertEqual(kept.first?.schema, .eventGrid)
        XCTAssertEqual(event["eventType"] as? String, "Cli.Tested")
        XCTAssertEqual(event["subject"] as? String, "cli/1")
        XCTAssertEqual((event["data"] as? [String: Any])?["s"] as? String, "ü")
        XCTAssertEqual(event["dataVersion"] as? String, "v1")
    }

    func testCloudEventsWithASASTokenAndWithDefaultAzureCredential() throws {
        let emulator = try startEventGridEmulator()
        let sas = try EventGridSharedAccessSignature.token(
            endpoint: XCTUnwrap(emulator.eventGridEndpoint("audit")), key: Secret(emulator.eventGridKey),
            expiry: UTCDate.nowUnixSeconds() + 600)
        let cloud = try publish(emulator, ["--sas-token", sas.exposedValue, "--schema", "cloudevent", "--count", "2",
                                           "--batch-size", "2"], topic: "audit")
        XCTAssertEqual(cloud.status, 0, cloud.stderr)
        XCTAssertEqual(try cloud.singleJSONObject()["published"] as? Int, 2)
        let kept = emulator.eventGridEvents("audit")
        XCTAssertEqual(kept.map(\.schema), [.cloudEvent, .cloudEvent])
        XCTAssertEqual(kept.first?.object()?["type"] as? String, "Cli.Tested")
        XCTAssertEqual(kept.first?.object()?["specversion"] as? String, "1.0")

        let environment = [
            "AZURE_AUTHORITY_HOST": try XCTUnwrap(emulator.emulator.authorityHost),
            "AZURE_TENANT_ID": EmulatorWellKnown.tenantID, "AZURE_CLIENT_ID": EmulatorWellKnown.clientID,
            "AZURE_CLIENT_SECRET": EmulatorWellKnown.clientSecret,
        ]
        let bearer = try publish(emulator, ["--credential", "default"], environment: environment)
        XCTAssertEqual(bearer.status, 0, bearer.stderr)
        XCTAssertEqual(try bearer.singleJSONObject()["published"] as? Int, 1)
    }

    func testFailuresExitOneWithOneErrorLine() throws {
        let emulator = try startEventGridEmulator()
        let wrongKey = "d3Jvbmcta2V5LWZvci1jbGk="
        let refused = try publish(emulator, ["--key", wrongKey, "--count", "3"])
        XCTAssertEqual(refused.status, 1)
        let line = try refused.singleJSONObject()
        let error = try XCTUnwrap(line["error"] as? [String: Any])
        XCTAssertEqual(error["status"] as? Int, 401)
        XCTAssertEqual(error["code"] as? String, "Unauthorized")
        XCTAssertFalse((error["message"] as? String ?? "").isEmpty)
        XCTAssertEqual(line["failed"] as? Int, 3)
        XCTAssertFalse(refused.stdout.contains(wrongKey) || refused.stderr.contains(wrongKey))
        XCTAssertTrue(refused.stderr.contains("401"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("topic 'orders'"), "names the topic, not a placeholder: \(refused.stderr)")

        let invalid = try ToolboxCLI.run(["eventgrid", "publish", "--endpoint", XCTUnwrap(emulator.eventGridEndpoint("orders")),
                                          "--ca-file", XCTUnwrap(emulator.emulator.caFile), "--key", emulator.eventGridKey,
                                          "--event-type", "t", "--subject", "", "--data", "{}"])
        XCTAssertEqual(invalid.status, 1)
        let invalidError = try XCTUnwrap(try invalid.singleJSONObject()["error"] as? [String: Any])
        XCTAssertEqual(invalidError["status"] as? Int, 400)
        XCTAssertEqual(invalidError["code"] as? String, "BadRequest")
        XCTAssertTrue((invalidError["message"] as? String)?.contains("subject") == true)

        let badData = try publish(emulator, ["--key", emulator.eventGridKey, "--data", "{not json"])
        XCTAssertEqual(badData.status, 1)
        XCTAssertEqual((try badData.singleJSONObject()["error"] as? [String: Any])?["code"] as? String, "invalidArgument")

        let nowhere = try ToolboxCLI.run(["eventgrid", "publish", "--endpoint", "http://127.0.0.1:1/api/events", "--key",
                                          emulator.eventGridKey, "--event-type", "t", "--subject", "s", "--data", "{}",
                                          "--timeout", "3"])
        XCTAssertEqual(nowhere.status, 1)
        let nowhereError = try XCTUnwrap(try nowhere.singleJSONObject()["error"] as? [String: Any])
        XCTAssertEqual(nowhereError["status"] as? Int, 0)
        XCTAssertFalse((nowhereError["code"] as? String ?? "").isEmpty)

        let usage = try ToolboxCLI.run(["eventgrid", "publish", "--endpoint", "https://x/api/events", "--key", "a",
                                        "--sas-token", "b", "--event-type", "t", "--subject", "s", "--data", "{}"])
        XCTAssertNotEqual(usage.status, 0)
        XCTAssertTrue(usage.stderr.contains("exactly one of"), usage.stderr)
    }

    func testThrottledAndDroppedRequestsAreRetriedByTheCLI() throws {
        let emulator = try startEventGridEmulator { configuration in
            configuration.faults.httpThrottleRate = 0.3
            configuration.faults.httpDropProbability = 0.2
        }
        let output = try publish(emulator, ["--key", emulator.eventGridKey, "--count", "6"])
        // Three retries each: a publish fails only if four tries in a row are hit (about 1 %, for six publishes
        // about 6 %); the summary must account for every event either way.
        let line = try XCTUnwrap(output.jsonLines.first)
        let published = line["published"] as? Int ?? 0
        let failed = line["failed"] as? Int ?? 0
        XCTAssertEqual(published + failed, 6, output.stdout)
        XCTAssertEqual(emulator.eventGridEvents("orders").count, published, "faults strike before the topic keeps anything")
        XCTAssertEqual(output.status, failed == 0 ? 0 : 1)
    }
}
