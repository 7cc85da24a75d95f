import Foundation
import ToolboxAMQP
import XCTest

@testable import AzureServiceBus

/// What a received message takes from the broker's annotations, read in one pass over the map.
final class ReceivedMessageTests: XCTestCase {
    func testBrokerAnnotationsAreReadAndTheFirstEntryOfANameCounts() {
        var amqp = AMQPMessage(data: Array("body".utf8))
        amqp.messageAnnotations = AMQPMap([
            .init(key: .string("x-opt-sequence-number"), value: .long(99)),  // not a symbol key: ignored
            .init(key: .symbol("x-opt-sequence-number"), value: .long(42)),
            .init(key: .symbol("x-opt-sequence-number"), value: .long(7)),
            .init(key: .symbol("x-opt-enqueued-time"), value: .timestamp(1_700_000_000_000)),
            .init(key: .symbol("x-opt-locked-until"), value: .timestamp(1_700_000_060_500)),
            .init(key: .symbol("x-opt-scheduled-enqueue-time"), value: .timestamp(1_700_000_120_000)),
            .init(key: .symbol("x-opt-partition-key"), value: .string("pk")),
            .init(key: .symbol("x-opt-deadletter-source"), value: .string("orders")),
            .init(key: .symbol("x-opt-something-else"), value: .string("kept out")),
        ])
        amqp.applicationProperties = ["DeadLetterReason": "TooOld", "DeadLetterErrorDescription": "past its time",
                                      "color": "blue"]
        let received = ServiceBusReceivedMessage(amqp: amqp, delivery: nil, lockToken: nil, connectionID: nil)
        XCTAssertEqual(received.sequenceNumber, 42)
        XCTAssertEqual(received.enqueuedTime, Date(timeIntervalSince1970: 1_700_000_000))
        XCTAssertEqual(received.lockedUntil, Date(timeIntervalSince1970: 1_700_000_060.5))
        XCTAssertEqual(received.message.scheduledEnqueueTime, Date(timeIntervalSince1970: 1_700_000_120))
        XCTAssertEqual(received.message.partitionKey, "pk")
        XCTAssertEqual(received.deadLetterSource, "orders")
        XCTAssertEqual(received.deadLetterReason, "TooOld")
        XCTAssertEqual(received.deadLetterErrorDescription, "past its time")
        XCTAssertEqual(received.message.applicationProperties["color"], .string("blue"))
        XCTAssertEqual(received.message.body, Array("body".utf8))
    }

    /// A message-id may be any of ulong, uuid, binary and string: binary read as nil (`servicebus receive`
    /// printed `null`); it is now its UTF-8 text, as azure-servicebus reads it, or lowercase hex when not UTF-8.
    func testEveryTypeOfMessageIDReadsAsText() {
        func ids(_ messageID: AMQPValue, _ correlationID: AMQPValue) -> (String?, String?) {
            var amqp = AMQPMessage(data: [])
            amqp.properties = AMQPProperties(messageID: messageID, correlationID: correlationID)
            let message = ServiceBusReceivedMessage(amqp: amqp, delivery: nil, lockToken: nil, connectionID: nil).message
            return (message.messageID, message.correlationID)
        }
        XCTAssertTrue(ids(.binary(Array("order-7".utf8)), .binary([0xff, 0x00, 0x1a])) == ("order-7", "ff001a"))
        XCTAssertTrue(ids(.ulong(.max), .string("c")) == ("18446744073709551615", "c"))
        let uuid = UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!
        XCTAssertTrue(ids(.uuid(uuid), .binary([])) == ("6f9619ff-8b86-d011-b42d-00c04fc964ff", ""))
        XCTAssertTrue(ids(.int(5), .symbol("s")) == (nil, nil), "not a message-id type")
    }

    func testAnnotationsOfTheWrongTypeOrMissingLeaveTheDefaults() {
        var amqp = AMQPMessage(data: [])
        amqp.messageAnnotations = AMQPMap([
            // The first entry of a name counts even when its type is wrong, as a map lookup would have it.
            .init(key: .symbol("x-opt-sequence-number"), value: .string("42")),
            .init(key: .symbol("x-opt-sequence-number"), value: .long(42)),
            .init(key: .symbol("x-opt-enqueued-time"), value: .long(1)),
            .init(key: .symbol("x-opt-partition-key"), value: .long(1)),
        ])
        let received = ServiceBusReceivedMessage(amqp: amqp, delivery: nil, lockToken: nil, connectionID: nil)
        XCTAssertEqual(received.sequenceNumber, -1)
        XCTAssertNil(received.enqueuedTime)
        XCTAssertNil(received.lockedUntil)
        XCTAssertNil(received.message.partitionKey)
        XCTAssertNil(received.deadLetterSource)
        let bare = ServiceBusReceivedMessage(amqp: AMQPMessage(data: []), delivery: nil, lockToken: nil, connectionID: nil)
        XCTAssertEqual(bare.sequenceNumber, -1)
        XCTAssertNil(bare.message.scheduledEnqueueTime)

        var intSequence = AMQPMessage(data: [])
        intSequence.messageAnnotations = [.symbol("x-opt-sequence-number"): .int(5)]
        XCTAssertEqual(ServiceBusReceivedMessage(amqp: intSequence, delivery: nil, lockToken: nil, connectionID: nil)
            .sequenceNumber, 5)
    }
}
