import Foundation
import ToolboxCore
import ToolboxCLITestSupport
import XCTest

@testable import ToolboxAMQP
import ToolboxAMQPBroker
import ToolboxTransport
import ToolboxTransportServer

/// `toolbox amqp send` / `receive` as a black box, against our broker role on a loopback port.
final class CLITests: XCTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, lines: [[String: Any]], stderr: String) {
        let output = try ToolboxCLI.run(arguments)
        return (output.status, output.jsonLines, output.stderr)
    }

    /// `amqp receive --timeout 1` against a peer that accepts the connection and never answers: it fails within
    /// its time-out (it waited the 30 s open time-out; the watchdog fails the test well before that).
    func testReceiveTimeoutBoundsConnectingToo() throws {
        let held = LockedValue<[TCPConnection]>([])
        let listener = try TCPListener { connection in held.withLockedValue { $0.append(connection) } }
        defer { listener.close() }
        let output = try ToolboxCLI.run(["amqp", "receive", "--url", "amqp://127.0.0.1:\(listener.port)/q1",
                                         "--count", "1", "--timeout", "1", "--json"], timeLimit: 20)
        XCTAssertNotEqual(output.status, 0)
        XCTAssertFalse(output.stderr.isEmpty, "the reason is printed")
    }

    func testSendAndReceiveJSON() throws {
        let broker = MiniBroker()
        let listener = try AMQPListener(server: broker.configuration(password: "pw"),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: .seconds(10))) { _ in }
        defer { listener.close() }
        let url = "amqp://user:pw@127.0.0.1:\(listener.port)/cli-queue"
        let send = try run(["amqp", "send", "--url", url, "--count", "3", "--body", "hello", "--json"])
        XCTAssertEqual(send.status, 0, send.stderr)
        XCTAssertEqual(send.lines.count, 1)
        let summary = try XCTUnwrap(send.lines.first)
        XCTAssertEqual(Set(summary.keys), ["sent", "accepted", "rejected", "released", "other", "seconds",
                                           "messages_per_sec"])
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

    /// Issue 13 item 2: `--print-bodies` printed an empty `body_base64` for an amqp-value body (what Qpid Proton
    /// sends for `Message(body=b"…")`). Every body kind is printed, and named.
    func testPrintBodiesShowsEveryBodyKind() throws {
        let broker = MiniBroker()
        let listener = try AMQPListener(server: broker.configuration(password: "pw"),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: .seconds(10))) { _ in }
        defer { listener.close() }
        let url = "amqp://user:pw@127.0.0.1:\(listener.port)/kinds"
        let endpoint = try AMQPEndpoint(url: url)
        let connection = try AMQPConnection(endpoint: endpoint, caFile: nil)
        try connection.open()
        defer { try? connection.close() }
        let sender = try connection.beginSession().attachSender(address: endpoint.address)
        let bodies: [AMQPMessage.Body] = [
            .data([Array("da".utf8), Array("ta".utf8)]), .value(.binary([0, 1, 2, 255])), .value(.string("text")),
            .value(.map(["k": .int(1)])), .sequence([[.string("a"), .long(2)], [.bool(true)]]),
        ]
        for body in bodies { XCTAssertEqual(try sender.send(AMQPMessage(body: body)), .accepted) }

        let receive = try run(["amqp", "receive", "--url", url, "--count", "5", "--timeout", "10", "--print-bodies",
                               "--json"])
        XCTAssertEqual(receive.status, 0, receive.stderr)
        let lines = Array(receive.lines.prefix(5))
        guard lines.count == 5 else { return XCTFail("expected 5 message lines: \(receive.lines)") }
        XCTAssertEqual(lines.map { $0["body_kind"] as? String },
                       ["data", "amqp-value", "amqp-value", "amqp-value", "amqp-sequence"])
        XCTAssertEqual(lines[0]["body_base64"] as? String, Data("data".utf8).base64EncodedString())
        XCTAssertEqual(lines[0]["size"] as? Int, 4)
        XCTAssertEqual(lines[1]["body_base64"] as? String, Data([0, 1, 2, 255]).base64EncodedString())
        XCTAssertEqual(lines[2]["body_text"] as? String, "text")
        XCTAssertEqual(lines[2]["body_base64"] as? String, Data("text".utf8).base64EncodedString())
        XCTAssertEqual((lines[3]["body_json"] as? [String: Any])?["k"] as? Int, 1)
        let sequence = try XCTUnwrap(lines[4]["body_json"] as? [[Any]])
        XCTAssertEqual(sequence.count, 2)
        XCTAssertEqual(sequence[0].first as? String, "a")
        XCTAssertEqual(sequence[1].first as? Bool, true)
    }
}
