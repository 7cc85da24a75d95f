import AzureAuth
import Foundation
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEmulator

/// Issue 13 item 11: the emulator caps connections and counts bytes, not only messages, and refuses clearly.
final class ResourceLimitTests: XCTestCase {
    func testConnectionsPastTheLimitAreClosedWithTheReason() throws {
        let emulator = try startEmulator { $0.limits.maxConnections = 2 }
        let first = try TestClient(emulator)
        defer { first.close() }
        let second = try TestClient(emulator)
        defer { second.close() }
        XCTAssertThrowsError(try TestClient(emulator)) { error in
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.resourceLimitExceeded, "\(error)")
            XCTAssertTrue("\(error)".contains("2 connections"), "\(error)")
        }
        second.close()
        // A slot frees when a connection ends.
        let deadline = Deadline.after(seconds: 10)
        var third: TestClient?
        while third == nil, !deadline.hasPassed {
            third = try? TestClient(emulator)
            if third == nil { usleep(20_000) }
        }
        XCTAssertNotNil(third, "no connection was accepted after one closed")
        third?.close()
    }

    func testAQueuesByteBudgetRefusesSendsWithTheReason() throws {
        let emulator = try startEmulator {
            $0.queues = ["q1"]
            $0.limits.maxBytesPerQueue = 100_000
        }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("q1")
        let sender = try client.session.attachSender(address: client.address("q1"))
        XCTAssertEqual(try sender.send(AMQPMessage(data: [UInt8](repeating: 1, count: 60_000))), .accepted)
        let refused = try sender.send(AMQPMessage(data: [UInt8](repeating: 2, count: 60_000)))
        guard case .rejected(let error)? = refused else { return XCTFail("not refused: \(String(describing: refused))") }
        XCTAssertEqual(error?.condition, AMQPRemoteError.resourceLimitExceeded)
        XCTAssertTrue(error?.errorDescription?.contains("limit of 100000") ?? false, "\(String(describing: error))")
    }

    func testAPartitionKeepsItsByteBudgetByDroppingTheOldestEvents() {
        let hub = EventHub(name: "eh", partitionCount: 1, consumerGroups: [], maxEvents: 1_000, maxBytes: 50_000)
        for index in 0..<10 {
            hub.append([AMQPMessage(data: [UInt8](repeating: UInt8(index), count: 20_000))], partition: 0, partitionKey: nil)
        }
        let first = hub.firstSequence(partition: 0, position: .earliest)
        XCTAssertEqual(first, 8, "only the newest events that fit 50,000 bytes stay")
    }

    /// Retention releases a dropped event's bytes at once, not when the log is next compacted (which waits for at
    /// least as many more events as are live): a partition never holds more than its retention.
    func testDroppedEventsReleaseTheirBytesAtOnce() {
        let hub = EventHub(name: "eh", partitionCount: 1, consumerGroups: [], maxEvents: 2_000)
        for _ in 0..<3 {
            hub.append((0..<1_000).map { _ in AMQPMessage(data: [UInt8](repeating: 7, count: 100)) }, partition: 0,
                       partitionKey: nil)
        }
        XCTAssertEqual(hub.firstSequence(partition: 0, position: .earliest), 1_000, "the oldest 1,000 were dropped")
        let held = hub.heldPayloadBytes(partition: 0)
        let live = (1_000..<3_000).reduce(0) { total, sequence in
            total + (hub.event(partition: 0, atOrAfter: Int64(sequence))?.payload.count ?? 0)
        }
        XCTAssertEqual(held, live, "only the 2,000 live events' bytes are held")
        XCTAssertGreaterThan(live, 2_000 * 100)
    }
}
