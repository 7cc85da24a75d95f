import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

/// `toolbox amqp send` / `receive` as a black box, against our broker role on a loopback port.
final class CLITests: XCTestCase {
    /// The toolbox binary next to the test bundle (`swift build --build-tests` builds both).
    func toolboxPath() throws -> String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("toolbox").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        XCTFail("no toolbox executable next to \(directory.path); build it first with `swift build --build-tests`")
        throw AMQPError(.invalidArgument, "toolbox not built")
    }

    func run(_ arguments: [String]) throws -> (status: Int32, lines: [[String: Any]], stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try toolboxPath())
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        return (process.terminationStatus, lines, String(decoding: stderr, as: UTF8.self))
    }

    func testSendAndReceiveJSON() throws {
        let broker = MiniBroker()
        let listener = try AMQPListener(server: broker.configuration(password: "pw"),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: 10)) { _ in }
        defer { listener.close() }
        let url = "amqp://user:pw@127.0.0.1:\(listener.port)/cli-queue"
        let send = try run(["amqp", "send", "--url", url, "--count", "3", "--body", "hello", "--json"])
        XCTAssertEqual(send.status, 0, send.stderr)
        XCTAssertEqual(send.lines.count, 1)
        let summary = try XCTUnwrap(send.lines.first)
        XCTAssertEqual(Set(summary.keys), ["sent", "accepted", "rejected", "released", "seconds", "messages_per_sec"])
        XCTAssertEqual(summary["sent"] as? Int, 3)
        XCTAssertEqual(summary["accepted"] as? Int, 3)
        XCTAssertFalse(send.stderr.contains("pw@"), "the password must not be printed")

        let receive = try run(["amqp", "receive", "--url", url, "--count", "3", "--timeout", "10", "--print-bodies", "--json"])
        XCTAssertEqual(receive.status, 0, receive.stderr)
        XCTAssertEqual(receive.lines.count, 4)
        for line in receive.lines.prefix(3) {
            XCTAssertEqual(line["body_base64"] as? String, Data("hello".utf8).base64EncodedString())
            XCTAssertEqual(line["size"] as? Int, 5)
            XCTAssertNotNil(line["message_id"] as? String)
        }
        XCTAssertEqual(receive.lines.last?["received"] as? Int, 3)

        // Fewer messages than --count before the timeout: non-zero exit, summary still printed.
        let short = try run(["amqp", "receive", "--url", url, "--count", "1", "--timeout", "0.5", "--json"])
        XCTAssertNotEqual(short.status, 0)
        XCTAssertEqual(short.lines.last?["received"] as? Int, 0)
    }
}
