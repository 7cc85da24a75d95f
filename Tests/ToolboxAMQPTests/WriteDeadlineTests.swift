import Dispatch
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import ToolboxAMQP
import ToolboxTransportServer

/// Issue 13 (item 4's transport half): a peer that stops reading fails the AMQP transport's writes within their
/// deadline instead of letting them buffer forever.
final class WriteDeadlineTests: XCTestCase {
    func testAPeerThatStopsReadingFailsTheTransportWithinTheWriteTimeout() throws {
        let accepted = LockedValue<[TCPConnection]>([])
        // Accepts and never reads: the kernel's buffers fill, then our writes wait.
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { connection in
            accepted.withLockedValue { $0.append(connection) }
        }
        defer {
            listener.close()
            for connection in accepted.load() { connection.close(mode: .abortive) {} }
        }
        let transport = try Blocking.wait { queue, done in
            AMQPSocketTransport.connect(host: "127.0.0.1", port: listener.port, deadline: .after(seconds: 10),
                                        writeTimeout: .seconds(0.5), queue: queue) { done($0.mapError { $0 }) }
        }
        let queue = try XCTUnwrap(transport.preferredQueue)
        let ended = expectation(description: "transport closed")
        let failure = LockedValue<(any Error)?>(nil)
        queue.async {
            transport.start(queue: queue) { event in
                if case .closed(let error) = event {
                    failure.withLockedValue { $0 = error }
                    ended.fulfill()
                }
            }
            // Far more than loopback socket buffers hold.
            for _ in 0..<64 { transport.write([UInt8](repeating: 0x41, count: 1 << 20)) }
        }
        wait(for: [ended], timeout: 30)
        let error = try XCTUnwrap(failure.load() as? TransportError, "\(String(describing: failure.load()))")
        XCTAssertEqual(error.code, .timedOut, "\(error)")
    }
}
