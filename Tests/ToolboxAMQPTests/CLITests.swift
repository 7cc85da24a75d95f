import Foundation
import ToolboxCore
import ToolboxCLITestSupport
import XCTest

@testable import ToolboxAMQP

/// `toolbox amqp send` / `receive` as a black box, against our broker role on a loopback port.
final class CLITests: XCTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, lines: [[String: Any]], stderr: String) {
        let output = try ToolboxCLI.run(arguments)
        return (output.status, output.jsonLines, output.stderr)
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
