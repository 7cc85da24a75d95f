import Foundation
import ToolboxCLITestSupport
import XCTest

/// Black-box tests of `toolbox bench eventhubs` (single events, `--batch-size`, `--cold`, `--idle-connections`) and
/// `toolbox bench tcp-pingpong`: their flags and JSON keys are a
/// public interface. Speed is never asserted; only shape and counts.
final class BenchEventHubsCLITests: XCTestCase {
    private func run(_ arguments: [String]) throws -> ToolboxCLI.Output { try ToolboxCLI.run(arguments) }

    func testPooledBenchSendsEveryEventAndPrintsItsKeys() throws {
        let emulator = try startEventHubsEmulator(self)
        let result = try run(["bench", "eventhubs", "--connection-string", emulator.eventHubsConnectionString(eventHub: "eh1"),
                              "--count", "60", "--concurrency", "8", "--size", "64", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        for key in ["count", "concurrency", "size", "events_per_sec", "p50_ms", "p99_ms", "errors", "connections"] {
            XCTAssertNotNil(object[key], "missing \(key) in \(result.stdout)")
        }
        XCTAssertEqual(object["mode"] as? String, "pooled")
        XCTAssertEqual(object["count"] as? Int, 60)
        XCTAssertEqual(object["concurrency"] as? Int, 8)
        XCTAssertEqual(object["size"] as? Int, 64)
        XCTAssertEqual(object["errors"] as? Int, 0)
        XCTAssertGreaterThanOrEqual(object["connections"] as? Int ?? 0, 1)
        XCTAssertGreaterThan(object["events_per_sec"] as? Double ?? 0, 0)
        XCTAssertLessThanOrEqual(object["p50_ms"] as? Double ?? .infinity, object["p99_ms"] as? Double ?? 0)
        XCTAssertFalse(result.stdout.contains("SAS_KEY_VALUE"), "no key in the output")
        // warm-up (max(2 × 8, 50)) plus the 60 timed sends all reached the hub
        let stored = try readAll(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"), partitions: 4,
                                 expected: 110)
        XCTAssertEqual(stored.count, 110)
    }

    func testBlockingBenchSendsEveryEventFromItsThreads() throws {
        let emulator = try startEventHubsEmulator(self)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let result = try run(["bench", "eventhubs", "--connection-string", cs, "--count", "40", "--concurrency", "4",
                              "--warmup", "10", "--blocking", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        XCTAssertEqual(object["mode"] as? String, "pooled-blocking")
        XCTAssertEqual(object["count"] as? Int, 40)
        XCTAssertEqual(object["errors"] as? Int, 0)
        XCTAssertEqual(object["connections"] as? Int, 1)
        XCTAssertEqual(try readAll(connectionString: cs, partitions: 4, expected: 50).count, 50)
        // blocking batches: 2 warm-up + 3 timed batches of 5
        let batches = try run(["bench", "eventhubs", "--connection-string", cs, "--count", "15", "--batch-size", "5",
                               "--warmup", "2", "--blocking", "--json"])
        XCTAssertEqual(batches.status, 0, batches.stderr)
        XCTAssertEqual(try batches.singleJSONObject()["batches"] as? Int, 3)
        XCTAssertEqual(try readAll(connectionString: cs, partitions: 4, expected: 75).count, 75)
        let refused = try run(["bench", "eventhubs", "--connection-string", cs, "--blocking", "--cold", "--json"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--blocking"), refused.stderr)
    }

    /// `--client-limit` below `--concurrency` spreads the callers over more connections (the policy compare.sh
    /// measures), within `--max-size`.
    func testClientLimitSpreadsCallersOverConnections() throws {
        let emulator = try startEventHubsEmulator(self)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let result = try run(["bench", "eventhubs", "--connection-string", cs, "--count", "40", "--concurrency", "8",
                              "--warmup", "16", "--client-limit", "2", "--max-size", "4", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        XCTAssertEqual(object["errors"] as? Int, 0)
        // 8 callers with 2 per connection always queue some, so a second connection opens; --max-size caps them.
        let connections = try XCTUnwrap(object["connections"] as? Int)
        XCTAssertTrue((2...4).contains(connections), "8 callers, 2 per connection, at most 4: \(connections)")
        XCTAssertEqual(try readAll(connectionString: cs, partitions: 4, expected: 56).count, 56)
        let refused = try run(["bench", "eventhubs", "--connection-string", cs, "--client-limit", "0", "--json"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--client-limit"), refused.stderr)
    }

    /// `--pool-policy spread` opens a connection per concurrent caller (up to `--max-size`) where the default
    /// `shareFirst` keeps them all on one; an unknown policy is refused naming the flag.
    func testPoolPolicySpreadOpensMoreConnectionsThanShareFirst() throws {
        let emulator = try startEventHubsEmulator(self)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        var opened: [String: Int] = [:]
        for policy in ["shareFirst", "spread"] {
            // Long enough for the extra connections to open while the callers share the first (a handful of sends
            // can finish before a second connection's AMQP open does).
            let result = try run(["bench", "eventhubs", "--connection-string", cs, "--count", "3000", "--concurrency",
                                  "8", "--warmup", "400", "--max-size", "4", "--pool-policy", policy, "--json"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let object = try result.singleJSONObject()
            XCTAssertEqual(object["errors"] as? Int, 0)
            opened[policy] = try XCTUnwrap(object["connections"] as? Int)
        }
        XCTAssertEqual(opened["shareFirst"], 1, "8 callers fit one connection's clientLimit of 100")
        XCTAssertTrue((2...4).contains(opened["spread"] ?? 0), "spread over at most --max-size 4: \(opened)")
        let refused = try run(["bench", "eventhubs", "--connection-string", cs, "--pool-policy", "everywhere", "--json"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--pool-policy"), refused.stderr)
    }

    func testColdBenchOpensOneConnectionPerSend() throws {
        let emulator = try startEventHubsEmulator(self)
        let result = try run(["bench", "eventhubs", "--connection-string", emulator.eventHubsConnectionString(eventHub: "eh1"),
                              "--count", "5", "--cold", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        XCTAssertEqual(object["mode"] as? String, "cold")
        XCTAssertEqual(object["connections"] as? Int, 5)
        XCTAssertEqual(object["errors"] as? Int, 0)
    }

    func testBatchBenchSendsWholeBatchesAndCountsEvents() throws {
        let emulator = try startEventHubsEmulator(self)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        // 25 events in batches of 10: rounded up to 3 batches (30 events), after 2 untimed warm-up batches
        let result = try run(["bench", "eventhubs", "--connection-string", cs, "--count", "25", "--batch-size", "10",
                              "--concurrency", "2", "--warmup", "2", "--size", "32", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        for key in ["events_per_sec", "p50_ms", "p99_ms", "mean_ms", "seconds", "cpu_us_per_event"] {
            XCTAssertNotNil(object[key], "missing \(key) in \(result.stdout)")
        }
        XCTAssertEqual(object["mode"] as? String, "pooled")
        XCTAssertEqual(object["batch_size"] as? Int, 10)
        XCTAssertEqual(object["batches"] as? Int, 3)
        XCTAssertEqual(object["count"] as? Int, 30)
        XCTAssertEqual(object["errors"] as? Int, 0)
        XCTAssertEqual(object["connections"] as? Int, 1)
        XCTAssertGreaterThan(object["events_per_sec"] as? Double ?? 0, 0)
        let stored = try readAll(connectionString: cs, partitions: 4, expected: 50)
        XCTAssertEqual(stored.count, 50)
        XCTAssertTrue(stored.allSatisfy { $0.event.body.count == 32 })
    }

    func testColdBatchBenchOpensOneConnectionPerBatch() throws {
        let emulator = try startEventHubsEmulator(self)
        let result = try run(["bench", "eventhubs", "--connection-string", emulator.eventHubsConnectionString(eventHub: "eh1"),
                              "--count", "6", "--batch-size", "3", "--cold", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        XCTAssertEqual(object["mode"] as? String, "cold")
        XCTAssertEqual(object["batches"] as? Int, 2)
        XCTAssertEqual(object["count"] as? Int, 6)
        XCTAssertEqual(object["connections"] as? Int, 2)
        XCTAssertEqual(object["errors"] as? Int, 0)
    }

    func testBatchBenchRejectsBadBatchFlags() throws {
        let zero = try run(["bench", "eventhubs", "--connection-string", "x", "--batch-size", "0", "--json"])
        XCTAssertNotEqual(zero.status, 0)
        XCTAssertTrue(zero.stderr.contains("--batch-size"), zero.stderr)
        XCTAssertEqual(zero.stdout, "")
        let idle = try run(["bench", "eventhubs", "--connection-string", "x", "--batch-size", "5",
                            "--idle-connections", "2", "--json"])
        XCTAssertNotEqual(idle.status, 0)
        XCTAssertTrue(idle.stderr.contains("--batch-size"), idle.stderr)
    }

    func testBatchBenchRefusesBatchesLargerThanTheLink() throws {
        let emulator = try startEventHubsEmulator(self)
        // 2,000 events of 1,000 bytes do not fit the emulator's 1 MiB max message size
        let result = try run(["bench", "eventhubs", "--connection-string", emulator.eventHubsConnectionString(eventHub: "eh1"),
                              "--count", "2000", "--batch-size", "2000", "--size", "1000", "--json"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("max message size"), result.stderr)
        XCTAssertEqual(result.stdout, "")
    }

    func testIdleMemoryModeReportsPerConnectionFigure() throws {
        let emulator = try startEventHubsEmulator(self)
        let result = try run(["bench", "eventhubs", "--connection-string", emulator.eventHubsConnectionString(eventHub: "eh1"),
                              "--idle-connections", "3", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        XCTAssertEqual(object["idle_connections"] as? Int, 3)
        // Two waves of 3: the second is measured on top of the first.
        XCTAssertEqual(object["second_wave_connections"] as? Int, 3)
        XCTAssertEqual(object["connections"] as? Int, 7)
        XCTAssertEqual(object["errors"] as? Int, 0)
        XCTAssertNotNil(object["kb_per_idle_connection"] as? Double)
        XCTAssertNotNil(object["kb_per_idle_connection_second_wave"] as? Double)
        let first = try XCTUnwrap(object["rss_after_kb"] as? Int)
        XCTAssertGreaterThan(try XCTUnwrap(object["rss_after_second_wave_kb"] as? Int), 0)
        XCTAssertGreaterThan(first, 0)
    }

    func testBenchRejectsBadFlags() throws {
        let bad = try run(["bench", "eventhubs", "--connection-string", "x", "--concurrency", "0", "--json"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--concurrency"), bad.stderr)
        XCTAssertEqual(bad.stdout, "")
    }

    func testTCPPingPongPrintsItsKeys() throws {
        let result = try run(["bench", "tcp-pingpong", "--size", "100", "--count", "200", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        XCTAssertEqual(object["size"] as? Int, 100)
        XCTAssertEqual(object["errors"] as? Int, 0)
        XCTAssertGreaterThan(object["round_trips_per_sec"] as? Double ?? 0, 0)
    }
}
