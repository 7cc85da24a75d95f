import AzureEmulator
import Foundation
import ToolboxCLITestSupport
import ToolboxCore
import XCTest

@testable import AzureServiceBus

/// Issue 13 item 1: messages larger than one frame, up to the entity's maximum size, come back from the emulator
/// (the emulator padded each transfer frame after it had been sized to the client's max-frame-size, so a 70 KB
/// message's frames grew past 65536 bytes and the client dropped the connection; receive then returned nothing,
/// and `toolbox servicebus receive` exited 1 without a word on stderr).
final class LargeMessageTests: XCTestCase {
    /// Sizes from just past one frame to the entity's maximum (less the message's own AMQP sections).
    static let sizes = [70_000, 300_000, 1_048_576 - 4096]

    func testMessagesUpToTheMaximumSizeAreReceived() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1", options: fastOptions())
        defer { try? sender.close() }
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", options: fastOptions())
        defer { try? receiver.close() }
        for size in Self.sizes {
            let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            try sender.send(ServiceBusMessage(body: body, messageID: "large-\(size)"))
            let got = try receiver.receive(maxMessages: 1, timeout: .seconds(20))
            XCTAssertEqual(got.first?.body.count, size, "size \(size); last error: \(String(describing: receiver.lastError))")
            XCTAssertEqual(got.first?.body, body, "size \(size)")
            if let message = got.first { try receiver.complete(message) }
        }
        XCTAssertEqual(receiver.connectionsOpened, 1, "the connection was dropped on the way")
    }

    func testCLIReceivesLargeMessagesAndExplainsAShortReceive() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        for size in [70_000, 300_000] {
            let send = try ToolboxCLI.run(["servicebus", "send", "--connection-string", cs, "--queue", "q1",
                                           "--size", "\(size)", "--json"])
            XCTAssertEqual(send.status, 0, send.stderr)
            let receive = try ToolboxCLI.run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1",
                                              "--count", "1", "--timeout", "20", "--json"])
            XCTAssertEqual(receive.status, 0, "size \(size): \(receive.stderr)")
            let lines = receive.jsonLines
            XCTAssertEqual((lines.first?["body"] as? String)?.count, size)
            XCTAssertEqual(lines.last?["received"] as? Int, 1)
        }
        // Nothing left: exit 1, and stderr says why.
        let empty = try ToolboxCLI.run(["servicebus", "receive", "--connection-string", cs, "--queue", "q1",
                                        "--count", "1", "--timeout", "0.5", "--json"])
        XCTAssertEqual(empty.status, 1)
        XCTAssertEqual(empty.jsonLines.last?["received"] as? Int, 0)
        XCTAssertTrue(empty.stderr.contains("received 0 of 1 messages"), empty.stderr)
    }
}
