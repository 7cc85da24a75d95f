import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

final class TCPConnectionTests: XCTestCase {
    func testEchoOverIPv4() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        XCTAssertNotEqual(listener.port, 0)
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        XCTAssertEqual(connection.remoteAddress?.port, listener.port)
        XCTAssertEqual(connection.localAddress?.host, "127.0.0.1")
        try connection.write(Array("hello, transport".utf8), timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 16), Array("hello, transport".utf8))
        try connection.close()
    }

    func testEchoOverIPv6() throws {
        let listener = try TCPListener(host: "::1", port: 0) { echo($0) }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "::1", port: listener.port, timeout: .seconds(10))
        XCTAssertEqual(connection.remoteAddress?.family, AF_INET6)
        XCTAssertEqual(connection.peerDescription, "[::1]:\(listener.port)")
        try connection.write([1, 2, 3], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 3), [1, 2, 3])
        try connection.close()
    }

    func testHostNameIsResolved() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        // "localhost" may resolve to ::1 first; the connect falls through to 127.0.0.1.
        let connection = try TCPConnection.connect(host: "localhost", port: listener.port, timeout: .seconds(10))
        try connection.write([42], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 1), [42])
        try connection.close()
    }

    func testUnresolvableHostFailsWithResolutionError() {
        expectTransportError(.resolutionFailed) {
            _ = try TCPConnection.connect(host: "no-such-host.invalid", port: 80, timeout: .seconds(10))
        }
    }

    func testRefusedConnectionFailsWithConnectionRefused() throws {
        let port = try closedPort()
        expectTransportError(.connectionRefused) {
            _ = try TCPConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(10))
        }
    }

    func testLargeWriteArrivesIntactAtASlowReader() throws {
        let received = Received()
        let total = 4 << 20
        let done = DispatchSemaphore(value: 0)
        let listener = try TCPListener { connection in
            @Sendable func next() {
                connection.read { result in
                    guard case .success(let bytes) = result, !bytes.isEmpty else {
                        done.signal()
                        return
                    }
                    received.append(bytes)
                    // Reading slowly makes the sender hit EAGAIN and wait on its write source.
                    DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(200)) { next() }
                }
            }
            next()
        }
        defer { listener.close() }
        let payload = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        try connection.write(payload, timeout: .seconds(60))
        try connection.close()
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(received.all.count, total)
        XCTAssertTrue(received.all == payload, "the bytes arrived out of order or altered")
    }

    func testReadTimeoutLeavesConnectionUsable() throws {
        let peer = LockedValue<TCPConnection?>(nil)
        let accepted = DispatchSemaphore(value: 0)
        let listener = try TCPListener { connection in
            peer.withLockedValue { $0 = connection }
            accepted.signal()
        }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        XCTAssertEqual(accepted.wait(timeout: .now() + 10), .success)
        expectTransportError(.timedOut) { _ = try connection.read(timeout: .seconds(0.2)) }
        try XCTUnwrap(peer.load()).write([7, 8], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 2), [7, 8])
        try connection.close()
        try peer.load()?.close()
    }

    func testGracefulClosePeerSeesEndOfStream() throws {
        let listener = try TCPListener { connection in
            connection.write(Array("bye".utf8)) { _ in connection.close(mode: .graceful) {} }
        }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 3), Array("bye".utf8))
        XCTAssertEqual(try connection.read(timeout: .seconds(10)), [], "a graceful close must read as end of stream")
        try connection.close()
    }

    func testPendingReadSeesALaterCloseAndReset() throws {
        try assertPendingReadSeesALaterCloseAndReset { port in
            try TCPConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(10))
        }
    }

    func testAbortiveCloseResetsThePeer() throws {
        let listener = try TCPListener { connection in
            connection.close(mode: .abortive) {}
        }
        defer { listener.close() }
        expectTransportError(.connectionReset) {
            // The RST may arrive during the connect, the write or the read; whichever sees it reports it.
            let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
            defer { try? connection.close() }
            try? connection.write([1], timeout: .seconds(10))
            _ = try connection.read(timeout: .seconds(10))
        }
    }

    func testOperationsAfterCloseFailClearly() throws {
        let listener = try TCPListener { echo($0) }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        try connection.close()
        try connection.close()
        expectTransportError(.closedLocally) { try connection.write([1], timeout: .seconds(10)) }
    }

    func testCancelledConnectReportsCancellation() throws {
        let outcome = LockedValue<Result<TCPConnection, TransportError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        // A TLS client to a plain listener that never answers the handshake stays "opening" until cancelled.
        let held = LockedValue<[TCPConnection]>([])
        let silent = try TCPListener { connection in held.withLockedValue { $0.append(connection) } }
        defer { silent.close() }
        let attempt = TCPConnection.connect(
            host: "127.0.0.1", port: silent.port, tls: try TestPKI.get().clientContext()
        ) { result in
            outcome.withLockedValue { $0 = result }
            done.signal()
        }
        attempt.cancel()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        guard case .failure(let error) = outcome.load() else {
            return XCTFail("a cancelled connect must fail, got \(String(describing: outcome.load()))")
        }
        XCTAssertEqual(error.code, .cancelled)
    }

    func testConnectDeadlineFailsWithTimedOut() throws {
        let held = LockedValue<[TCPConnection]>([])
        let silent = try TCPListener { connection in held.withLockedValue { $0.append(connection) } }
        defer { silent.close() }
        expectTransportError(.timedOut) {
            _ = try TCPConnection.connect(
                host: "127.0.0.1", port: silent.port, tls: try TestPKI.get().clientContext(), timeout: .seconds(0.3))
        }
    }

    func testBlockingFormRefusesToRunOnALibraryQueue() throws {
        let listener = try TCPListener { echo($0) }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        let caught = LockedValue<(any Error)?>(nil)
        connection.queue.sync {
            do { _ = try connection.read(timeout: .seconds(1)) } catch { caught.withLockedValue { $0 = error } }
        }
        XCTAssertEqual((caught.load() as? CoreError)?.code, .blockingCallOnLibraryQueue)
        try connection.close()
    }

    func testListenerRejectsNonNumericHost() {
        expectTransportError(.listenFailed) { _ = try TCPListener(host: "localhost") { _ in } }
    }
}

/// A port with nothing listening: bound, then closed.
func closedPort() throws -> UInt16 {
    let listener = try TCPListener { _ in }
    let port = listener.port
    listener.close()
    return port
}

/// A read pending on a connection (made by `connect` to a listener's port) completes when the peer closes
/// afterwards: an empty read (end of stream) for a graceful close, `.connectionReset` for an abortive one.
func assertPendingReadSeesALaterCloseAndReset(connect: (UInt16) throws -> TCPConnection,
                                              file: StaticString = #filePath, line: UInt = #line) throws {
    for mode in [TCPConnection.CloseMode.graceful, .abortive] {
        let peer = LockedValue<TCPConnection?>(nil)
        let listener = try TCPListener { connection in peer.withLockedValue { $0 = connection } }
        defer { listener.close() }
        let connection = try connect(listener.port)
        let outcome = LockedValue<Result<[UInt8], TransportError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        // The read waits for readiness; the close arrives afterwards.
        connection.read(deadline: .after(seconds: 20)) { result in
            outcome.withLockedValue { $0 = result }
            done.signal()
        }
        let deadline = Deadline.after(seconds: 10)
        while peer.load() == nil, !deadline.hasPassed { usleep(1000) }
        // The read set itself up on the connection's queue: once that queue has run what was before this
        // barrier, the read is pending, so the close really arrives afterwards.
        connection.queue.sync {}
        try XCTUnwrap(peer.load(), file: file, line: line).close(mode: mode)
        XCTAssertEqual(done.wait(timeout: .now() + 15), .success, "\(mode) close never reached the pending read",
                       file: file, line: line)
        switch (mode, outcome.load()) {
        case (.graceful, .success(let bytes)?):
            XCTAssertEqual(bytes, [], file: file, line: line)
        case (.abortive, .failure(let error)?):
            XCTAssertEqual(error.code, .connectionReset, file: file, line: line)
        default:
            XCTFail("\(mode): unexpected outcome \(String(describing: outcome.load()))", file: file, line: line)
        }
        try connection.close()
    }
}
