import AzureEmulator
import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import AzureServiceBus

/// Issue 13 item 7: values a caller may legitimately pass — an infinite time-out, a time-to-live of forever, a
/// receive of `Int.max` messages — are clamped to what the wire can carry instead of trapping.
final class ExtremeValueTests: XCTestCase {
    func testInfiniteTimeoutsAndTimeToLiveAndHugeReceiveCountsDoNotTrap() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let options = fastOptions { $0.retry.tryTimeout = .seconds(Int64.max) }
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1", options: options)
        defer { try? sender.close() }
        var message = ServiceBusMessage(body: "forever")
        message.timeToLive = .seconds(Int64.max)
        try sender.send(message)
        var scheduled = ServiceBusMessage(body: "far future")
        scheduled.scheduledEnqueueTime = Date(timeIntervalSince1970: 1e300)
        _ = try? sender.schedule([scheduled], at: Date(timeIntervalSince1970: 1e300))

        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", options: options)
        defer { try? receiver.close() }
        // Two waiters whose demands together exceed Int.max: the sum saturates, the credit clamps to UInt32.
        let first = expectation(description: "first receive")
        receiver.receive(maxMessages: .max, timeout: .seconds(2)) { _ in first.fulfill() }
        let got = try receiver.receive(maxMessages: .max, timeout: .seconds(2))
        wait(for: [first], timeout: 10)
        XCTAssertLessThanOrEqual(got.count, 1)
        let header = ServiceBusMessage(body: "x").amqpMessage(messageID: "id")
        XCTAssertNil(header.header?.ttl)
        var ttl = ServiceBusMessage(body: "x")
        ttl.timeToLive = .seconds(Int64.max)
        let encoded = ttl.amqpMessage(messageID: "id", now: Date(timeIntervalSince1970: 1e300))
        XCTAssertEqual(encoded.header?.ttl, .max)
        XCTAssertEqual(encoded.properties?.absoluteExpiryTime, .max)
    }
}
