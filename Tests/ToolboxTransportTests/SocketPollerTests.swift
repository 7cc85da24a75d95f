import Foundation
import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// TCP connections whose read readiness comes from an event loop's shared epoll set (what HTTPClient uses),
/// through the same paths TCPConnectionTests check with a read source per connection.
final class SocketPollerTests: XCTestCase {
    private let loops = HTTPEventLoops(count: 1)

    private func connect(port: UInt16) throws -> TCPConnection {
        let loop = try XCTUnwrap(loops.next())
        #if os(Linux)
        XCTAssertNotNil(loop.poller, "an event loop on Linux has an epoll poller")
        #endif
        return try Blocking.wait { queue, completion in
            TCPConnection.connect(
                host: "127.0.0.1", port: port, tls: nil, serverName: nil, deadline: .after(seconds: 10),
                targetQueue: loop.queue, poller: loop.poller, queue: queue
            ) { completion($0.mapError { $0 }) }
        }
    }

    func testEchoOnSeveralConnectionsOfOneLoop() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        let connections = try (0..<4).map { _ in try connect(port: listener.port) }
        for round in 0..<3 {
            for (index, connection) in connections.enumerated() {
                try connection.write([UInt8(round), UInt8(index)], timeout: .seconds(10))
            }
            for (index, connection) in connections.enumerated() {
                XCTAssertEqual(try readExactly(connection, count: 2), [UInt8(round), UInt8(index)])
            }
        }
        for connection in connections { try connection.close() }
    }

    func testLargeTransferNeedsSeveralReadinessReports() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        let connection = try connect(port: listener.port)
        let payload = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        connection.write(payload, deadline: .after(seconds: 30)) { _ in }
        XCTAssertEqual(try readExactly(connection, count: payload.count, timeout: .seconds(30)), payload)
        try connection.close()
    }

    func testReadTimeoutLeavesConnectionUsable() throws {
        let peer = LockedValue<TCPConnection?>(nil)
        let accepted = DispatchSemaphore(value: 0)
        let listener = try TCPListener { connection in
            peer.withLockedValue { $0 = connection }
            accepted.signal()
        }
        defer { listener.close() }
        let connection = try connect(port: listener.port)
        XCTAssertEqual(accepted.wait(timeout: .now() + 10), .success)
        expectTransportError(.timedOut) { _ = try connection.read(timeout: .seconds(0.2)) }
        try XCTUnwrap(peer.load()).write([7, 8], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 2), [7, 8])
        try connection.close()
        try peer.load()?.close()
    }

    func testPendingReadSeesALaterCloseAndReset() throws {
        try assertPendingReadSeesALaterCloseAndReset { try connect(port: $0) }
    }

    func testClosedConnectionsLeaveTheLoopUsable() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        for _ in 0..<20 {
            let connection = try connect(port: listener.port)
            try connection.write([42], timeout: .seconds(10))
            XCTAssertEqual(try readExactly(connection, count: 1), [42])
            try connection.close(mode: .abortive)
        }
    }

    #if os(Linux)
    /// An event loop's poller thread ends, and closes its epoll set, once the loops are released (a dropped
    /// HTTPClient must not leave threads or descriptors behind).
    func testPollerThreadsEndWithTheirLoops() throws {
        func epollSets() -> Set<String> {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return Set(fds.filter {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == "anon_inode:[eventpoll]"
            })
        }
        let before = epollSets()
        var loops: HTTPEventLoops? = HTTPEventLoops(count: 3)
        let added = epollSets().subtracting(before)
        XCTAssertEqual(added.count, 3, "one epoll set per loop")
        // The loops work: a connection on one of them echoes (and, closed and released, lets its poller go).
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        do {
            let loop = try XCTUnwrap(loops?.next())
            let connection: TCPConnection = try Blocking.wait { queue, completion in
                TCPConnection.connect(
                    host: "127.0.0.1", port: listener.port, tls: nil, serverName: nil, deadline: .after(seconds: 10),
                    targetQueue: loop.queue, poller: loop.poller, queue: queue
                ) { completion($0.mapError { $0 }) }
            }
            try connection.write([1, 2, 3], timeout: .seconds(10))
            XCTAssertEqual(try readExactly(connection, count: 3), [1, 2, 3])
            try connection.close()
        }
        loops = nil
        // The threads notice the closed pipe on their own time: wait (bounded) for their sets to be closed.
        let deadline = Deadline.after(seconds: 10)
        while !epollSets().isDisjoint(with: added), !deadline.hasPassed { usleep(1000) }
        XCTAssertTrue(epollSets().isDisjoint(with: added), "every poller thread closed its epoll set")
    }
    #endif
}
