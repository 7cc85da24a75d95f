import Dispatch
import Glibc
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// Large writes wait in `unstaged` and reach `outbound` (encrypted, with TLS) in bounded pieces as the socket
/// drains: a connection's own buffer stays near `stagingTarget` whatever the size of a write (a Blob block was
/// copied and encrypted whole before), and the bytes still arrive intact and in order.
final class StagedWriteTests: XCTestCase {
    /// A peer that reads nothing until `startReading`, then collects everything until the end of the stream.
    private final class LatePeer: @unchecked Sendable {
        // @unchecked Sendable: `connection` and `go` are guarded by `lock`; `received` has its own lock.
        private let lock = Lock()
        private var connection: TCPConnection?
        private var go = false
        let received = Received()
        let ended = DispatchSemaphore(value: 0)

        func accepted(_ connection: TCPConnection) {
            let start = lock.withLock {
                self.connection = connection
                return go
            }
            if start { read(connection) }
        }

        func startReading() {
            let connection: TCPConnection? = lock.withLock {
                go = true
                return self.connection
            }
            if let connection { read(connection) }
        }

        private func read(_ connection: TCPConnection) {
            connection.read { [self] result in
                guard case .success(let bytes) = result, !bytes.isEmpty else {
                    connection.close {}
                    ended.signal()
                    return
                }
                received.append(bytes)
                read(connection)
            }
        }
    }

    private func pattern(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &+ seed) &* 31 &+ 7) }
    }

    /// What the connection holds of its own: bytes in `outbound` not yet sent, and writes not yet staged.
    private func buffered(_ connection: TCPConnection) -> (outbound: Int, unstaged: Int, blocked: Bool) {
        connection.queue.sync {
            (connection.outbound.count - connection.outboundIndex, connection.unstaged.count, connection.writeInterest)
        }
    }

    /// A listener whose peer reads only when told, and a connection to it; the caller closes the listener.
    private func latePeerConnection(tls: Bool) throws -> (LatePeer, TCPListener, TCPConnection) {
        let peer = LatePeer()
        let listener = try tls
            ? TCPListener(tls: try TestPKI.get().serverContext()) { peer.accepted($0) }
            : TCPListener { peer.accepted($0) }
        let connection = try TCPConnection.connect(
            host: "127.0.0.1", port: listener.port, tls: tls ? try TestPKI.get().clientContext() : nil,
            timeout: .seconds(10))
        return (peer, listener, connection)
    }

    private func checkStagedWrites(tls: Bool) throws {
        let (peer, listener, connection) = try latePeerConnection(tls: tls)
        defer { listener.close() }
        // Far more than loopback socket buffers hold, so the sender is left with most of it while the peer waits.
        let big = pattern(24 << 20, seed: 1)
        let small = pattern(100, seed: 2)
        let second = pattern(1 << 20, seed: 3)
        let order = Received()
        let allWritten = DispatchSemaphore(value: 0)
        for (index, bytes) in [big, small, second].enumerated() {
            connection.write(bytes, deadline: .after(seconds: 120)) { result in
                if case .failure(let error) = result { XCTFail("write \(index) failed: \(error)") }
                order.append([UInt8(index)])
                allWritten.signal()
            }
        }
        XCTAssertTrue(eventually { self.buffered(connection).blocked }, "the socket never filled")
        let held = buffered(connection)
        XCTAssertLessThanOrEqual(
            held.outbound, TCPConnection.stagingTarget + TCPConnection.stagingPiece + 8 * 1024,
            "the connection holds more than a bounded piece of a large write")
        XCTAssertEqual(held.unstaged, 3, "all three writes wait behind the first one's unsent part")
        XCTAssertTrue(order.all.isEmpty, "no write completes before its bytes reach the kernel")

        peer.startReading()
        for _ in 0..<3 { XCTAssertEqual(allWritten.wait(timeout: .now() + 120), .success) }
        // Completions run on the (concurrent) default callback queue, so their order is not the writes' order;
        // the bytes' order is checked below on what the peer received.
        XCTAssertEqual(order.all.sorted(), [0, 1, 2], "every write completes once")
        try connection.close()
        XCTAssertEqual(peer.ended.wait(timeout: .now() + 60), .success)
        let received = peer.received.all
        XCTAssertEqual(received.count, big.count + small.count + second.count)
        XCTAssertTrue(received == big + small + second, "the bytes arrived altered or out of order")
    }

    func testLargeWritesAreStagedInBoundedPiecesOverPlainTCP() throws {
        try checkStagedWrites(tls: false)
    }

    func testLargeWritesAreStagedInBoundedPiecesOverTLS() throws {
        try checkStagedWrites(tls: true)
    }

    /// A `ByteBlock` is written from where it is, in the same bounded pieces and in order with the array writes
    /// around it, and the connection lets it go once its last piece is staged (so its owner may fill it again).
    func testBlockWritesAreStagedFromTheBlockAndReleased() throws {
        for tls in [false, true] {
            let (peer, listener, connection) = try latePeerConnection(tls: tls)
            defer { listener.close() }
            let before = pattern(100, seed: 7)
            let content = pattern(12 << 20, seed: 8)
            var block = try XCTUnwrap(ByteBlock(capacity: 16 << 20))
            block.fill(count: content.count) { buffer in buffer.copyBytes(from: content) }
            let after = pattern(70_000, seed: 9)
            let written = DispatchSemaphore(value: 0)
            let report: @Sendable (TransportError?) -> Void = { error in
                if let error { XCTFail("tls \(tls): \(error)") }
                written.signal()
            }
            do {
                let shared = block
                connection.queue.sync {
                    connection.writeOnQueue(before, deadline: .after(seconds: 120), report)
                    connection.writeOnQueue(.block(shared), deadline: .after(seconds: 120), report)
                    connection.writeOnQueue(after, deadline: .after(seconds: 120), report)
                }
            }
            XCTAssertTrue(eventually { self.buffered(connection).blocked }, "the socket never filled")
            XCTAssertLessThanOrEqual(buffered(connection).outbound,
                                     TCPConnection.stagingTarget + TCPConnection.stagingPiece + 8 * 1024,
                                     "the block was copied whole instead of staged in pieces")
            peer.startReading()
            for _ in 0..<3 { XCTAssertEqual(written.wait(timeout: .now() + 120), .success) }
            connection.queue.sync {}
            XCTAssertTrue(isKnownUniquelyReferenced(&block), "tls \(tls): the connection still holds the block")
            try connection.close()
            XCTAssertEqual(peer.ended.wait(timeout: .now() + 60), .success)
            let received = peer.received.all
            XCTAssertEqual(received.count, before.count + content.count + after.count, "tls: \(tls)")
            XCTAssertTrue(received == before + content + after, "tls \(tls): the bytes arrived altered or out of order")
        }
    }

    /// A graceful close issued while a large write is still unstaged sends all of it before close_notify and FIN.
    func testGracefulCloseSendsAnUnstagedWriteFirst() throws {
        for tls in [false, true] {
            let (peer, listener, connection) = try latePeerConnection(tls: tls)
            defer { listener.close() }
            let payload = pattern(12 << 20, seed: 5)
            let written = DispatchSemaphore(value: 0)
            connection.write(payload, deadline: .after(seconds: 120)) { result in
                if case .failure(let error) = result { XCTFail("\(error)") }
                written.signal()
            }
            let closed = DispatchSemaphore(value: 0)
            connection.close { closed.signal() }
            peer.startReading()
            XCTAssertEqual(written.wait(timeout: .now() + 120), .success)
            XCTAssertEqual(closed.wait(timeout: .now() + 60), .success)
            XCTAssertEqual(peer.ended.wait(timeout: .now() + 60), .success)
            let received = peer.received.all
            XCTAssertEqual(received.count, payload.count, "tls: \(tls)")
            XCTAssertTrue(received == payload, "tls: \(tls): the bytes arrived altered")
        }
    }
}

/// Polls `condition` until it holds or `seconds` pass (a state to reach, not a time to wait).
private func eventually(_ seconds: Double = 30, _ condition: () -> Bool) -> Bool {
    let end = DispatchTime.now() + seconds
    while DispatchTime.now() < end {
        if condition() { return true }
        usleep(2_000)
    }
    return condition()
}
