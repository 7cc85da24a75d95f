import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureServiceBus

/// A `$management` answer without a status-code (or with one no Int holds) is an invalid response: it read as
/// status 0, and an answer with a body passed for whatever the request asked.
final class ManagementStatusTests: XCTestCase {
    private func answer(_ status: AMQPValue?) -> AMQPMessage {
        var message = AMQPMessage(value: .map(["sequence-numbers": .list([.long(1)])]))
        message.applicationProperties = status.map { ["statusCode": $0] } ?? ["statusDescription": "OK"]
        return message
    }

    func testAnAnswerWithoutAReadableStatusIsAnInvalidResponse() {
        for status: AMQPValue? in [nil, .ulong(1 << 63), .string("ok")] {
            switch ServiceBusConnection.decodeResponse(answer(status), node: "q1/$management", operation: "peek") {
            case .success(let map):
                XCTFail("\(String(describing: status)) was accepted: \(map)")
            case .failure(let error):
                XCTAssertEqual(error.code, .invalidResponse, "\(error)")
                XCTAssertTrue(error.message.contains("no status-code"), error.message)
            }
        }
        XCTAssertNoThrow(try ServiceBusConnection.decodeResponse(answer(.ulong(200)), node: "n", operation: "o").get())
        XCTAssertNoThrow(try ServiceBusConnection.decodeResponse(answer(.int(200)), node: "n", operation: "o").get())
    }
}
