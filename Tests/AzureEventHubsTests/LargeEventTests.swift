import AzureEmulator
import AzureEventHubs
import Foundation
import ToolboxCore
import XCTest

/// Issue 13 item 1: events larger than one frame, up to the hub's maximum size, are read back by the partition
/// receiver (the emulator's padded transfer frames outgrew the client's max-frame-size).
final class LargeEventTests: XCTestCase {
    func testEventsUpToTheMaximumSizeAreReceived() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try EventHubProducer(connectionString: cs, options: fastRetryOptions())
        defer { try? producer.close() }
        let sizes = [70_000, 300_000, 1_048_576 - 4096]
        for size in sizes {
            try producer.send(EventData(body: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13) }))
        }
        let receiver = try PartitionReceiver(connectionString: cs, eventHubName: "eh1", partitionID: "0",
                                             startingPosition: .earliest)
        defer { try? receiver.close() }
        var got: [ReceivedEventData] = []
        let deadline = Date().addingTimeInterval(30)
        while got.count < sizes.count, Date() < deadline {
            got += try receiver.receive(maxEvents: sizes.count - got.count, timeout: .seconds(2))
        }
        XCTAssertEqual(got.map { $0.event.body.count }, sizes)
        for (event, size) in zip(got, sizes) {
            XCTAssertEqual(event.event.body, (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        }
    }
}
