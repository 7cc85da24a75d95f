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

/// A used-up quota fails at once, as in the Azure SDKs; a busy service is still retried.
final class QuotaExceededTests: XCTestCase {
    func testAFullQueueIsQuotaExceededAndNotRetried() {
        let refusal = AMQPError(.requestFailed, "the service rejected the message",
                                remote: AMQPRemoteError(condition: AMQPRemoteError.resourceLimitExceeded,
                                                        description: "queue 'q1' holds its limit of 100000 messages"))
        let error = ToolboxError(refusal, context: "sending to q1")
        XCTAssertEqual(error.code, .quotaExceeded)
        XCTAssertEqual(error.recovery, .fail)
        XCTAssertFalse(error.isTransient)
        XCTAssertEqual(error.conditionDescription, "queue 'q1' holds its limit of 100000 messages")
        XCTAssertEqual(AzureMessagingError.wrap(error, context: "again").code, .quotaExceeded)
    }

    func testServerBusyIsStillRetried() {
        let busy = AMQPError(.requestFailed, "busy", remote: AMQPRemoteError(condition: "com.microsoft:server-busy"))
        let error = ToolboxError(busy, context: "sending")
        XCTAssertEqual(error.code, .serverBusy)
        XCTAssertTrue(error.isTransient)
    }
}

/// A connection the peer closes with `amqp:resource-limit-exceeded` (Proton-based peers' and our own idle time-out)
/// is a lost connection to rebuild, not a used-up quota.
final class IdleTimeoutCloseTests: XCTestCase {
    func testAConnectionClosedWithResourceLimitExceededIsRebuilt() {
        let close = AMQPError(.connectionClosed, "peer closed the connection",
                              remote: AMQPRemoteError(condition: AMQPRemoteError.resourceLimitExceeded,
                                                      description: "local-idle-timeout expired"))
        XCTAssertEqual(close.recovery, .rebuildConnection)
        let error = ToolboxError(close, context: "sending")
        XCTAssertEqual(error.code, .connectionLost)
        XCTAssertEqual(error.recovery, .rebuildConnection)
        XCTAssertTrue(error.isTransient)
        XCTAssertEqual(error.condition, "amqp:resource-limit-exceeded", "the peer's condition is kept")
        XCTAssertEqual(AzureMessagingError.wrap(close, context: "sending").code, .connectionLost)
    }

    func testTheSameConditionOnARefusedTransferIsAQuota() {
        let refused = AMQPError(.linkDetached, "detached",
                                remote: AMQPRemoteError(condition: AMQPRemoteError.resourceLimitExceeded))
        XCTAssertEqual(ToolboxError(refused, context: "attaching").code, .quotaExceeded)
        XCTAssertEqual(refused.recovery, .fail)
    }
}
