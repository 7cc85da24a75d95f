import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// `TCPConnection.writeNow`: a write made on the connection's queue by code already running there.
final class WriteNowTests: XCTestCase {
    /// Small writes from `queue.sync` on another thread and from a block on the queue arrive in order with
    /// queued `write`s, and each completion runs once, on the queue.
    func testWriteNowKeepsOrderWithQueuedWritesAndCompletesOnceOnTheQueue() throws {
        let received = Received()
        let closed = DispatchSemaphore(value: 0)
        let listener = try TCPListener { connection in
            @Sendable func next() {
                connection.read { result in
                    guard case .success(let bytes) = result, !bytes.isEmpty else {
                        closed.signal()
                        return
                    }
                    received.append(bytes)
                    next()
                }
            }
            next()
        }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        let completions = LockedValue([Int: Int]())
        let queue = connection.queue
        var expected: [UInt8] = []
        for index in 0..<200 {
            let byte = UInt8(truncatingIfNeeded: index)
            expected.append(byte)
            switch index % 3 {
            case 0:  // on the caller's thread, holding the queue
                queue.sync {
                    connection.writeNow([byte]) { error in
                        dispatchPrecondition(condition: .onQueue(queue))
                        XCTAssertNil(error)
                        completions.withLockedValue { $0[index, default: 0] += 1 }
                    }
                }
            case 1:  // from a block on the queue
                queue.async {
                    connection.writeNow([byte]) { error in
                        dispatchPrecondition(condition: .onQueue(queue))
                        XCTAssertNil(error)
                        completions.withLockedValue { $0[index, default: 0] += 1 }
                    }
                }
            default:  // the ordinary queued write
                connection.write([byte]) { result in
                    if case .failure(let error) = result { XCTFail("\(error)") }
                    completions.withLockedValue { $0[index, default: 0] += 1 }
                }
            }
        }
        try connection.close()
        XCTAssertEqual(closed.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(received.all, expected, "writes arrived out of order")
        let counts = completions.load()
        XCTAssertEqual(counts.count, 200)
        XCTAssertTrue(counts.values.allSatisfy { $0 == 1 }, "a completion ran more than once")
    }

    /// A write larger than the socket takes returns at once with the rest queued; it is sent once the reader
    /// (which starts only after `writeNow` returned) drains the socket, intact and in order with later writes.
    func testWriteNowThatWouldBlockFallsBackToTheWriteSource() throws {
        let received = Received()
        let closed = DispatchSemaphore(value: 0)
        let startReading = DispatchSemaphore(value: 0)
        let listener = try TCPListener { connection in
            @Sendable func next() {
                connection.read { result in
                    guard case .success(let bytes) = result, !bytes.isEmpty else {
                        closed.signal()
                        return
                    }
                    received.append(bytes)
                    next()
                }
            }
            DispatchQueue.global().async {
                startReading.wait()
                next()
            }
        }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        let total = 16 << 20  // far more than loopback socket buffers hold
        let payload = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let tail: [UInt8] = [1, 2, 3]
        let calls = LockedValue(0)
        let written = DispatchSemaphore(value: 0)
        let completedInline = LockedValue<Bool?>(nil)
        connection.queue.sync {
            var returned = false
            connection.writeNow(payload) { error in
                XCTAssertNil(error)
                completedInline.withLockedValue { $0 = !returned }
                calls.withLockedValue { $0 += 1 }
                written.signal()
            }
            returned = true
            connection.writeNow(tail) { error in XCTAssertNil(error) }
        }
        XCTAssertEqual(completedInline.load(), nil, "the socket cannot have taken 16 MiB with nobody reading")
        startReading.signal()
        XCTAssertEqual(written.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(completedInline.load(), false)
        try connection.close()
        XCTAssertEqual(closed.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(calls.load(), 1)
        XCTAssertEqual(received.all.count, total + tail.count)
        XCTAssertTrue(received.all == payload + tail, "the bytes arrived out of order or altered")
    }

    /// After the connection failed, `writeNow` completes at once, inline, with the error.
    func testWriteNowOnAClosedConnectionFailsInline() throws {
        // The accepted side is kept open: dropping it at once could reset the socket before the client's connect
        // has reported, which is not what this test is about.
        let accepted = LockedValue<[TCPConnection]>([])
        let listener = try TCPListener { connection in accepted.withLockedValue { $0.append(connection) } }
        defer {
            listener.close()
            for connection in accepted.load() { connection.close(mode: .abortive) {} }
        }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        try connection.close(mode: .abortive)
        let error = connection.queue.sync { () -> TransportError? in
            var outcome: TransportError?
            connection.writeNow([1]) { outcome = $0 }
            return outcome
        }
        XCTAssertNotNil(error)
    }
}
