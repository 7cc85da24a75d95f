import AzureEmulator
import Foundation
import ToolboxCLITestSupport
import XCTest

/// `toolbox eventhubs send` and `toolbox servicebus send|receive` as a black box against the emulator.
final class MessagingCLITests: XCTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, lines: [[String: Any]], stderr: String) {
        let output = try ToolboxCLI.run(arguments)
        return (output.status, output.jsonLines, output.stderr)
    }

    func testEventHubsSendSummary() throws {
        var configuration = EmulatorConfiguration()
        configuration.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 2)]
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        for mode in ["--pooled", "--no-pooled"] {
            let send = try run(["eventhubs", "send", "--connection-string", cs, "--partition-key", "k", "--count", "20",
                                "--concurrency", "4", "--size", "100", mode, "--json"])
            XCTAssertEqual(send.status, 0, send.stderr)
            let summary = try XCTUnwrap(send.lines.last)
            XCTAssertEqual(Set(summary.keys), ["sent", "failed", "seconds", "events_per_sec", "p50_ms", "p99_ms"])
            XCTAssertEqual(summary["sent"] as? Int, 20)
            XCTAssertEqual(summary["failed"] as? Int, 0)
            XCTAssertFalse(send.stderr.contains("SAS_KEY_VALUE"))
        }
        let wrong = cs.replacingOccurrences(of: "SAS_KEY_VALUE", with: "wrong-key")
        let refused = try run(["eventhubs", "send", "--connection-string", wrong, "--count", "1", "--json"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertEqual(refused.lines.last?["failed"] as? Int, 1)
        XCTAssertFalse(refused.stderr.contains("wrong-key"), "the key must not be printed")
    }

    func testServiceBusSendAndReceiveLines() throws {
        var configuration = EmulatorConfiguration()
        configuration.queues = ["q1"]
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let cs = emulator.serviceBusConnectionString
        let send = try run(["servicebus", "send", "--connection-string", cs, "--queue", "q1", "--count", "3",
                            "--message-id", "m", "--body", "hi", "--json"])
        XCTAssertEqual(send.status, 0, send.stderr)
        XCTAssertEqual(Set(try XCTUnwrap(send.lines.last).keys), ["sent", "failed", "seconds", "events_per_sec", "p50_ms", "p99_ms"])
        let delayed = try run(["servicebus", "send", "--connection-string", cs, "--queue", "q1", "--delay-seconds", "0",
                               "--body", "later", "--no-pooled", "--json"])
        XCTAssertEqual(delayed.lines.last?["sent"] as? Int, 1, delayed.stderr)

        let abandon = try run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--count", "1",
                               "--timeout", "10", "--settle", "abandon", "--json"])
        XCTAssertEqual(abandon.status, 0, abandon.stderr)
        let receive = try run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--count", "4",
                               "--timeout", "10", "--json"])
        XCTAssertEqual(receive.status, 0, receive.stderr)
        XCTAssertEqual(receive.lines.count, 5)
        for line in receive.lines.prefix(4) {
            XCTAssertEqual(Set(line.keys), ["body", "message_id", "sequence_number", "delivery_count"])
        }
        XCTAssertEqual(receive.lines.first?["delivery_count"] as? Int, 1, "the abandoned message comes back first")
        XCTAssertEqual(receive.lines.prefix(4).compactMap { $0["body"] as? String }.sorted(), ["hi", "hi", "hi", "later"])
        XCTAssertEqual(receive.lines.last?["received"] as? Int, 4)

        let empty = try run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--count", "1",
                             "--timeout", "0.3", "--receive-and-delete", "--json"])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertEqual(empty.lines.last?["received"] as? Int, 0)
        XCTAssertTrue(empty.stderr.contains("no more arrived"), empty.stderr)

        // A failure still prints the summary line, then the reason; one that never connected says so.
        let refused = try run(["servicebus", "receive", "--connection-string",
                               "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=v", "--queue", "q1",
                               "--count", "1", "--timeout", "5", "--json"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.lines.last?["received"] as? Int, 0, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("connectionRefused") || refused.stderr.contains("no connection"), refused.stderr)
    }

    /// Ctrl-C during `servicebus receive` ends the wait, prints the summary and closes cleanly (exit 130): the
    /// process died at once, and what it had received stayed locked until the locks lapsed.
    func testAnInterruptedReceiveStopsWithItsSummary() throws {
        let cs = try startServiceBusEmulator(self).serviceBusConnectionString
        XCTAssertEqual(try run(["servicebus", "send", "--connection-string", cs, "--queue", "q1", "--body", "one"]).status, 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ToolboxCLI.executablePath())
        process.arguments = ["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--count", "5",
                             "--timeout", "60", "--json"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        try process.run()
        // The first line is the message, printed once it was received and completed; then the wait for more.
        var firstLine = Data()
        let reader = output.fileHandleForReading
        while !firstLine.contains(UInt8(ascii: "\n")) {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            firstLine.append(chunk)
        }
        process.interrupt()
        process.waitUntilExit()
        let rest = reader.readDataToEndOfFile()
        XCTAssertEqual(process.terminationStatus, 130)
        let text = String(decoding: firstLine + rest, as: UTF8.self)
        XCTAssertTrue(text.contains(#""body":"one""#) && text.contains(#"{"received":1}"#), text)
        // It was completed before the interruption: nothing is left for the next receiver.
        let after = try run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--count", "1",
                             "--timeout", "0.5", "--receive-and-delete", "--json"])
        XCTAssertEqual(after.lines.last?["received"] as? Int, 0)
    }

    /// Ctrl-C during `eventhubs send` stops starting sends, lets those in flight finish, closes the producer and
    /// prints the summary with `"interrupted": true` (exit 130): the process died at once, saying nothing of what
    /// it had sent.
    func testAnInterruptedSendStopsWithItsSummary() throws {
        var configuration = EmulatorConfiguration()
        configuration.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 2)]
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ToolboxCLI.executablePath())
        process.arguments = ["eventhubs", "send", "--connection-string", emulator.eventHubsConnectionString(eventHub: "eh1"),
                             "--count", "100000000", "--concurrency", "4", "--json"]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // A command that does not stop fails the test instead of hanging it.
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        defer { watchdog.cancel() }
        // Once the producer has connected the signals are watched (they are before the producer is made).
        let connected = Date().addingTimeInterval(60)
        while emulator.connectionCount == 0 && Date() < connected && process.isRunning { usleep(20_000) }
        XCTAssertGreaterThan(emulator.connectionCount, 0)
        process.interrupt()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, stderr)
        XCTAssertEqual(process.terminationReason, .exit, "it exits, not killed by the signal")
        let summary = try XCTUnwrap(String(decoding: stdout, as: UTF8.self).split(separator: "\n").last
            .flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }, stderr)
        XCTAssertEqual(summary["interrupted"] as? Bool, true)
        XCTAssertEqual(summary["failed"] as? Int, 0, stderr)
        XCTAssertLessThan(summary["sent"] as? Int ?? .max, 100_000_000)
        XCTAssertTrue(stderr.contains("interrupted:"), stderr)
    }

    /// `toolbox amqp` with the namespace's key name and key over SASL PLAIN reaches any entity, as Service Bus
    /// allows: the emulator checked the pair and then refused every link for want of a CBS token. A wrong key is
    /// refused at SASL.
    func testAMQPCommandsWithThePlainKeyReachTheEmulatorsEntities() throws {
        let emulator = try startServiceBusEmulator(self)
        let configuration = EmulatorConfiguration()  // the key name and key the emulator was started with
        let base = "127.0.0.1:\(emulator.amqpPort)/q1"
        let user = configuration.keyName
        let good = "amqp://\(user):\(configuration.key.exposedValue)@\(base)"
        let send = try run(["amqp", "send", "--url", good, "--count", "2", "--body", "plain", "--json"])
        XCTAssertEqual(send.status, 0, send.stderr)
        let receive = try run(["amqp", "receive", "--url", good, "--count", "2", "--timeout", "10", "--json"])
        XCTAssertEqual(receive.status, 0, receive.stderr)
        // A URL whose path is only "/" names no node: refused (it was sent to, as an address).
        let root = try run(["amqp", "send", "--url", "amqp://\(user):\(configuration.key.exposedValue)@127.0.0.1:"
                            + "\(emulator.amqpPort)/", "--json"])
        XCTAssertEqual(root.status, 1)
        XCTAssertTrue(root.stderr.contains("needs an address path"), root.stderr)
        let wrong = try run(["amqp", "send", "--url", "amqp://\(user):wrong-key@\(base)", "--json"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertFalse(wrong.stderr.contains("wrong-key"), "the password is never printed: \(wrong.stderr)")
    }

    /// `amqp send` exits non-zero when the peer did not accept every message (here a full queue rejects them),
    /// with the summary first: it exited 0 with "accepted": 0.
    func testAMQPSendFailsWhenMessagesAreNotAccepted() throws {
        let emulator = try startServiceBusEmulator(self) { $0.limits.maxMessagesPerQueue = 1 }
        let configuration = EmulatorConfiguration()
        let url = "amqp://\(configuration.keyName):\(configuration.key.exposedValue)@127.0.0.1:\(emulator.amqpPort)/q1"
        let send = try run(["amqp", "send", "--url", url, "--count", "3", "--body", "full", "--json"])
        XCTAssertEqual(send.status, 1, send.stderr)
        let summary = try XCTUnwrap(send.lines.last)
        XCTAssertEqual(summary["accepted"] as? Int, 1)
        XCTAssertEqual((summary["rejected"] as? Int ?? 0) + (summary["other"] as? Int ?? 0) + (summary["released"] as? Int ?? 0), 2)
        XCTAssertTrue(send.stderr.contains("2 of 3 messages were not accepted"), send.stderr)
    }

    /// `servicebus receive --prefetch N`: what the receiver took ahead and never printed goes back to the queue on
    /// exit, untouched (delivery count 0), for the next receiver.
    func testServiceBusReceiveWithPrefetchGivesBackWhatItDidNotPrint() throws {
        var configuration = EmulatorConfiguration()
        configuration.queues = ["q1"]
        configuration.lockDuration = .seconds(300)
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let cs = emulator.serviceBusConnectionString
        let send = try run(["servicebus", "send", "--connection-string", cs, "--queue", "q1", "--count", "6",
                            "--body", "p", "--json"])
        XCTAssertEqual(send.lines.last?["sent"] as? Int, 6, send.stderr)
        let first = try run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--count", "2",
                             "--prefetch", "10", "--timeout", "10", "--json"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(first.lines.last?["received"] as? Int, 2)
        XCTAssertNotNil(first.lines.last?["prefetched_unhanded"] as? Int)
        let rest = try run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--count", "4",
                            "--timeout", "10", "--json"])
        XCTAssertEqual(rest.status, 0, rest.stderr)
        XCTAssertEqual(rest.lines.prefix(4).compactMap { $0["delivery_count"] as? Int }, [0, 0, 0, 0])
        XCTAssertEqual(rest.lines.last?["received"] as? Int, 4)
        let refused = try run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--prefetch", "-1"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--prefetch"), refused.stderr)
        // Receive-and-delete would delete what is prefetched beyond --count: the combination is refused, nothing read.
        let both = try run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--count", "1",
                            "--receive-and-delete", "--prefetch", "1000", "--json"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("--prefetch") && both.stderr.contains("--receive-and-delete"), both.stderr)
        XCTAssertTrue(both.lines.isEmpty, "\(both.lines)")
    }
}
