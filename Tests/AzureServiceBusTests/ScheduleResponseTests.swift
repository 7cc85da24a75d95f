import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureServiceBus

/// A `schedule-message` response must give one sequence number per scheduled message; anything else is an
/// `invalidResponse`, never a success with fewer (or no) numbers.
final class ScheduleResponseTests: XCTestCase {
    private func response(_ value: AMQPValue?) -> AMQPMap {
        guard let value else { return ["other": .long(1)] }
        return ["sequence-numbers": value]
    }

    private func longs(_ numbers: [Int64]) throws -> AMQPValue {
        .array(try AMQPArray(elementType: .long, elements: numbers.map { .long($0) }))
    }

    func testOneNumberPerMessageInOrderIsAccepted() throws {
        let numbers: [Int64] = [7, 3, .max]
        XCTAssertEqual(try ServiceBusScheduling.sequenceNumbers(in: response(try longs(numbers)), expected: 3).get(), numbers)
        // A list of longs (another broker's encoding) reads the same.
        XCTAssertEqual(try ServiceBusScheduling.sequenceNumbers(in: response(.list(numbers.map { .long($0) })), expected: 3).get(),
                       numbers)
        XCTAssertEqual(try ServiceBusScheduling.sequenceNumbers(in: response(try longs([])), expected: 0).get(), [])
    }

    func testMissingWrongTypedOrMiscountedNumbersAreAnInvalidResponse() throws {
        let cases: [(AMQPMap, Int, String)] = [
            (response(nil), 1, "has no 'sequence-numbers'"),
            (AMQPMap(), 2, "has no 'sequence-numbers'"),
            (response(.string("1,2")), 2, "is not an array"),
            (response(.long(5)), 1, "is not an array"),
            (response(.list([.long(1), .int(2)])), 2, "non-long value"),
            (response(.list([.long(1), .null])), 2, "non-long value"),
            (response(try longs([1, -1])), 2, "holds -1, a negative number"),
            (response(try longs([.min])), 1, "a negative number"),
            (response(try longs([1])), 2, "1 sequence number(s) for 2 scheduled message(s)"),
            (response(try longs([1, 2, 3])), 2, "3 sequence number(s) for 2 scheduled message(s)"),
            (response(try longs([])), 1, "0 sequence number(s) for 1 scheduled message(s)"),
        ]
        for (map, expected, words) in cases {
            switch ServiceBusScheduling.sequenceNumbers(in: map, expected: expected) {
            case .success(let numbers):
                XCTFail("\(map) for \(expected) message(s) was accepted as \(numbers)")
            case .failure(let error):
                XCTAssertEqual(error.code, .invalidResponse, "\(map)")
                XCTAssertTrue(error.message.contains(words), "\(error.message) should say \(words)")
                XCTAssertEqual(error.recovery, .fail, "a malformed answer is not retried (the messages may be scheduled)")
            }
        }
    }
}
