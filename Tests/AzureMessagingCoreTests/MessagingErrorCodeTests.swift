import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureMessagingCore

/// The codes a messaging client raises itself survive the wrappers (blocking, async, the provider) unchanged.
final class MessagingErrorCodeTests: XCTestCase {
    func testAnUnreadableAnswerKeepsItsCodeThroughWrap() {
        let raised = ToolboxError(.invalidResponse, "schedule-message: the response has no sequence-numbers")
        let wrapped = AzureMessagingError.wrap(raised, context: "scheduling")
        XCTAssertEqual(wrapped.code, .invalidResponse)
        XCTAssertTrue(wrapped.message.contains("sequence-numbers"), wrapped.message)
    }

    func testAnUnreadableAnswerKeepsItsCodeWhenContextIsAdded() {
        let raised = ToolboxError(.invalidResponse, "peek: the response has no messages")
        let classified = ToolboxError(raised, context: "peeking")
        XCTAssertEqual(classified.code, .invalidResponse)
        XCTAssertEqual(classified.message, "peeking: peek: the response has no messages")
    }

    func testAFramingErrorStillMeansTheConnectionIsLost() {
        let framing = ToolboxError(.framing, "bad frame size")
        XCTAssertEqual(AzureMessagingError.wrap(framing, context: "sending").code, .connectionLost)
    }
}
