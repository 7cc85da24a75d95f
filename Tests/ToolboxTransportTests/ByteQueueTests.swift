import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

final class ByteQueueTests: XCTestCase {
    private static func address(_ bytes: [UInt8]) -> UInt? {
        bytes.withUnsafeBufferPointer { $0.baseAddress.map { UInt(bitPattern: $0) } }
    }

    func testAWholeArrayIsHandedOverWithoutACopy() {
        var queue = ByteQueue()
        let piece = [UInt8](repeating: 7, count: 40_000)
        let original = Self.address(piece)
        queue.append(piece)
        let second = [UInt8](repeating: 8, count: 30_000)
        let secondAddress = Self.address(second)
        queue.append(second)
        XCTAssertEqual(queue.count, 70_000)
        // The first array is long enough to be a read of its own: the same storage comes back.
        let first = queue.take(upTo: 65_536)
        XCTAssertEqual(first.count, 40_000)
        XCTAssertEqual(Self.address(first), original)
        let rest = queue.take(upTo: 65_536)
        XCTAssertEqual(rest, second)
        XCTAssertEqual(Self.address(rest), secondAddress)
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.take(upTo: 10), [])
    }

    func testSmallPiecesAreJoinedAndLongOnesSplit() {
        var queue = ByteQueue()
        for value in 1...3 {
            [UInt8](repeating: UInt8(value), count: 100).withUnsafeBytes { queue.append($0) }
        }
        queue.append([UInt8](repeating: 4, count: 100_000))
        // Tiny pieces are joined with what follows, up to what the read asks for.
        let joined = queue.take(upTo: 1_000)
        XCTAssertEqual(joined.count, 1_000)
        XCTAssertEqual(Array(joined[0..<100]), [UInt8](repeating: 1, count: 100))
        XCTAssertEqual(Array(joined[200..<300]), [UInt8](repeating: 3, count: 100))
        XCTAssertEqual(Array(joined[300...]), [UInt8](repeating: 4, count: 700))
        // The rest of the long array, in reads no longer than asked.
        XCTAssertEqual(queue.take(upTo: 50_000).count, 50_000)
        XCTAssertEqual(queue.count, 49_300)
        XCTAssertEqual(queue.take(upTo: 1 << 20), [UInt8](repeating: 4, count: 49_300))
        XCTAssertTrue(queue.isEmpty)
    }

    /// Random appends (arrays and copies, empty ones included) and reads of random sizes against a plain array.
    func testRandomUseMatchesAPlainFIFO() {
        var generator = TestLCG(seed: 0x5EED)
        var queue = ByteQueue()
        var model: [UInt8] = []
        var modelHead = 0
        var next: UInt8 = 0
        for _ in 0..<5_000 {
            if generator.next() % 2 == 0 {
                let count = Int(generator.next() % 3 == 0 ? generator.next() % 70_000 : generator.next() % 300)
                var bytes = [UInt8](repeating: 0, count: count)
                for index in bytes.indices {
                    bytes[index] = next
                    next &+= 1
                }
                model += bytes
                if generator.next() % 2 == 0 { queue.append(bytes) } else { bytes.withUnsafeBytes { queue.append($0) } }
            } else {
                let maxCount = Int(generator.next() % 100_000) + 1
                let taken = queue.take(upTo: maxCount)
                let expected = min(maxCount, model.count - modelHead)
                XCTAssertLessThanOrEqual(taken.count, maxCount)
                if expected > 0 { XCTAssertGreaterThan(taken.count, 0) }
                XCTAssertEqual(taken, Array(model[modelHead..<(modelHead + taken.count)]))
                modelHead += taken.count
            }
            XCTAssertEqual(queue.count, model.count - modelHead)
            XCTAssertEqual(queue.isEmpty, model.count == modelHead)
        }
    }

    /// A TLS stream written in pieces of random sizes arrives whole and in order through reads of random sizes
    /// (the records are decrypted straight into the arrays the reads get; a guess of their size may fall short).
    func testTLSStreamArrivesIntactThroughReadsOfAnySize() throws {
        let context = try TestPKI.get().serverContext()
        let listener = try TCPListener(tls: context, onError: { _ in }) { echo($0) }
        defer { listener.close() }
        let connection = try TCPConnection.connect(
            host: "127.0.0.1", port: listener.port, tls: try TestPKI.get().clientContext(), timeout: .seconds(10))
        defer { try? connection.close() }
        var generator = TestLCG(seed: 42)
        var payload = [UInt8](repeating: 0, count: 3_000_000)
        for index in payload.indices { payload[index] = UInt8(truncatingIfNeeded: generator.next()) }
        let writer = DispatchQueue(label: "ByteQueueTests.writer")
        let written = DispatchSemaphore(value: 0)
        let failure = LockedValue<(any Error)?>(nil)
        writer.async { [payload] in
            var generator = TestLCG(seed: 7)
            var offset = 0
            do {
                while offset < payload.count {
                    let count = min(payload.count - offset, Int(generator.next() % 200_000) + 1)
                    try connection.write(Array(payload[offset..<(offset + count)]), timeout: .seconds(20))
                    offset += count
                }
            } catch {
                failure.withLockedValue { $0 = error }
            }
            written.signal()
        }
        var received: [UInt8] = []
        received.reserveCapacity(payload.count)
        while received.count < payload.count {
            let maxBytes = Int(generator.next() % 150_000) + 1
            let bytes = try connection.read(maxBytes: maxBytes, timeout: .seconds(20))
            XCTAssertFalse(bytes.isEmpty, "the echo ended early")
            if bytes.isEmpty { break }
            XCTAssertLessThanOrEqual(bytes.count, maxBytes)
            received += bytes
        }
        written.wait()
        XCTAssertNil(failure.withLockedValue { $0 })
        XCTAssertEqual(received.count, payload.count)
        XCTAssertTrue(received == payload, "the echoed stream differs from what was sent")
    }
}

/// A small deterministic generator (Knuth's MMIX LCG, high bits), so a failure can be replayed.
struct TestLCG {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 29
    }
}
