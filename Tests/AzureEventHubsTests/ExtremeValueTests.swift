import AzureEmulator
import AzureEventHubs
import Dispatch
import Foundation
import ToolboxCore
import XCTest

/// Issue 13 item 7: values a caller may legitimately pass — an infinite try time-out, a receive of `Int.max`
/// events (twice at once), a start time past any clock — are clamped to what the wire can carry, not trapped on.
final class ExtremeValueTests: XCTestCase {
    func testInfiniteTimeoutsHugeReceivesAndFarStartTimesDoNotTrap() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try ManagedEventHubProducer(connectionString: cs, options: fastRetryOptions {
            $0.retry.tryTimeout = .seconds(Int64.max)
        })
        defer { try? producer.close() }
        try producer.send(EventData(body: "e0"))

        let receiver = try PartitionReceiver(connectionString: cs, eventHubName: "eh1", partitionID: "0",
                                             startingPosition: .earliest)
        defer { try? receiver.close() }
        let first = expectation(description: "first receive")
        let firstCount = LockedValue(0)
        receiver.receive(maxEvents: .max, timeout: .seconds(1)) { result in
            firstCount.withLockedValue { $0 = (try? result.get())?.count ?? -1 }
            first.fulfill()
        }
        let second = try receiver.receive(maxEvents: .max, timeout: .seconds(1))
        wait(for: [first], timeout: 10)
        XCTAssertEqual(firstCount.load() + second.count, 1)

        let future = try PartitionReceiver(connectionString: cs, eventHubName: "eh1", partitionID: "0",
                                           startingPosition: .enqueuedTime(Date(timeIntervalSince1970: 1e300)))
        defer { try? future.close() }
        XCTAssertEqual(try future.receive(maxEvents: 10, timeout: .seconds(0.5)).count, 0)
    }
}
