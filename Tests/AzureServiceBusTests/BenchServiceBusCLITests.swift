import AzureEmulator
import AzureServiceBus
import Foundation
import ToolboxCLITestSupport
import XCTest

/// Black-box tests of `toolbox bench servicebus` (sends, and `--receive`) against the in-process emulator: its
/// flags and JSON keys are a public interface. Speed is never asserted; only shape and counts.
final class BenchServiceBusCLITests: XCTestCase {
    private func run(_ arguments: [String]) throws -> ToolboxCLI.Output { try ToolboxCLI.run(arguments) }

    private func startEmulator() throws -> Emulator {
        var configuration = EmulatorConfiguration()
        configuration.queues = ["q1"]
        let emulator = try Emulator.start(configuration)
        addTeardownBlock { emulator.stop() }
        return emulator
    }

    /// Messages left in `q1`, read in receive-and-delete mode until a read comes back empty.
    private func drainedCount(_ emulator: Emulator) throws -> Int {
        let receiver = try ServiceBusReceiver(connectionString: emulator.serviceBusConnectionString, queueName: "q1",
                                              receiveMode: .receiveAndDelete)
        defer { try? receiver.close() }
        var total = 0
        while true {
            let batch = try receiver.receive(maxMessages: 100, timeout: .seconds(0.5))
            if batch.isEmpty { return total }
            total += batch.count
        }
    }

    func testPooledSendBenchPrintsItsKeys() throws {
        let emulator = try startEmulator()
        let result = try run(["bench", "servicebus", "--connection-string", emulator.serviceBusConnectionString,
                              "--queue", "q1", "--count", "20", "--concurrency", "4", "--warmup", "5", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        for key in ["count", "concurrency", "size", "events_per_sec", "p50_ms", "p99_ms", "mean_ms", "errors",
                    "connections", "seconds", "cpu_us_per_event"] {
            XCTAssertNotNil(object[key], "missing \(key) in \(result.stdout)")
        }
        XCTAssertEqual(object["mode"] as? String, "pooled")
        XCTAssertEqual(object["errors"] as? Int, 0)
        XCTAssertEqual(try drainedCount(emulator), 25)
    }

    func testReceiveBenchPrefillsReceivesAndCompletesEveryMessage() throws {
        let emulator = try startEmulator()
        let result = try run(["bench", "servicebus", "--connection-string", emulator.serviceBusConnectionString,
                              "--queue", "q1", "--receive", "--count", "40", "--concurrency", "3", "--max-messages", "7",
                              "--warmup", "6", "--size", "16", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        for key in ["messages_per_sec", "p50_ms", "p99_ms", "mean_ms", "seconds", "prefill_seconds",
                    "cpu_us_per_message"] {
            XCTAssertNotNil(object[key], "missing \(key) in \(result.stdout)")
        }
        XCTAssertEqual(object["mode"] as? String, "receive")
        XCTAssertEqual(object["count"] as? Int, 40)
        XCTAssertEqual(object["concurrency"] as? Int, 3)
        XCTAssertEqual(object["size"] as? Int, 16)
        XCTAssertEqual(object["max_messages"] as? Int, 7)
        XCTAssertEqual(object["errors"] as? Int, 0)
        XCTAssertEqual(object["connections"] as? Int, 3, "one connection per receiver")
        XCTAssertGreaterThan(object["messages_per_sec"] as? Double ?? 0, 0)
        XCTAssertLessThanOrEqual(object["p50_ms"] as? Double ?? .infinity, object["p99_ms"] as? Double ?? 0)
        XCTAssertFalse(result.stdout.contains("SAS_KEY_VALUE"), "no key in the output")
        // every pre-filled message (6 warm-up + 40 timed) was completed: none is left to receive
        XCTAssertEqual(try drainedCount(emulator), 0)
    }

    /// With --prefetch the receivers hold messages ahead; the bench still completes exactly --count (none twice,
    /// none starved), releases what is still prefetched and removes its surplus, so the queue ends as it began.
    func testReceiveBenchWithPrefetchCompletesExactlyTheCountAndLeavesTheQueueEmpty() throws {
        let emulator = try startEmulator()
        let result = try run(["bench", "servicebus", "--connection-string", emulator.serviceBusConnectionString,
                              "--queue", "q1", "--receive", "--count", "50", "--concurrency", "3", "--max-messages", "4",
                              "--prefetch", "6", "--warmup", "5", "--size", "16", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        XCTAssertEqual(object["prefetch"] as? Int, 6)
        XCTAssertEqual(object["count"] as? Int, 50)
        XCTAssertEqual(object["errors"] as? Int, 0, result.stderr)
        XCTAssertEqual(object["surplus"] as? Int, 18, "3 receivers x prefetch 6")
        XCTAssertEqual(object["surplus_removed"] as? Int, 18)
        XCTAssertNotNil(object["prefetched_at_end"] as? Int)
        XCTAssertEqual(object["connections"] as? Int, 3)
        XCTAssertEqual(try drainedCount(emulator), 0)
        XCTAssertEqual(try run(["bench", "servicebus", "--connection-string", "x", "--prefetch", "3", "--json"]).status == 0,
                       false, "--prefetch needs --receive")
    }

    func testReceiveBenchRejectsBadFlags() throws {
        for flags in [["--receive", "--cold"], ["--receive", "--scheduled"], ["--receive", "--max-messages", "0"]] {
            let bad = try run(["bench", "servicebus", "--connection-string", "x", "--json"] + flags)
            XCTAssertNotEqual(bad.status, 0, "\(flags)")
            XCTAssertTrue(bad.stderr.contains(flags.last == "0" ? "--max-messages" : "--receive"), bad.stderr)
            XCTAssertEqual(bad.stdout, "")
        }
    }
}
