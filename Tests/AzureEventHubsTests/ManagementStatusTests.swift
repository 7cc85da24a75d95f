import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEventHubs

/// A `$management` READ answer without a status-code (or with one no Int holds) is an invalid response: it read
/// as status 0, which is under 400 and passed for success.
final class EventHubsManagementStatusTests: XCTestCase {
    private func answer(_ status: AMQPValue?) -> AMQPMessage {
        var message = AMQPMessage(value: .map(["name": "eh1", "partition_ids": .list(["0"])]))
        message.applicationProperties = status.map { ["status-code": $0] } ?? ["status-description": "OK"]
        return message
    }

    func testAnAnswerWithoutAReadableStatusIsAnInvalidResponse() {
        for status: AMQPValue? in [nil, .ulong(1 << 63), .string("ok")] {
            var dropped = false
            switch EventHubConnection.readResponse(.success(answer(status)), context: "$management READ", drop: { dropped = true }) {
            case .success(let map):
                XCTFail("\(String(describing: status)) was accepted: \(map)")
            case .failure(let error):
                XCTAssertEqual(error.code, .invalidResponse, "\(error)")
                XCTAssertTrue(error.message.contains("no status-code"), error.message)
            }
            XCTAssertFalse(dropped)
        }
        XCTAssertNoThrow(try EventHubConnection.readResponse(.success(answer(.ulong(200))), context: "c", drop: {}).get())
    }
}
