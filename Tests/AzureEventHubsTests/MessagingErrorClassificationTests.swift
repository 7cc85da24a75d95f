import AzureEventHubs
import ToolboxAMQP
import ToolboxCore
import XCTest

/// How lower-layer errors become messaging errors now that every layer raises the one `ToolboxError`.
final class MessagingErrorClassificationTests: XCTestCase {
    func testThePeersConditionDecidesAndTheAMQPErrorStaysUnderneath() {
        let amqp = ToolboxError(.linkDetached, "detached", remote: AMQPRemoteError(condition: AMQPRemoteError.notFound,
                                                                                 description: "no hub"))
        let error = ToolboxError(amqp, context: "send to eh1")
        XCTAssertEqual(error.code, .notFound)
        XCTAssertEqual(error.condition, "amqp:not-found")
        XCTAssertEqual(error.conditionDescription, "no hub")
        XCTAssertEqual(error.recovery, .fail)
        XCTAssertEqual(error.underlying as? ToolboxError, amqp)
        XCTAssertEqual(error.message, "send to eh1: detached")
    }

    func testLocalCodesMapAndKeepTheirRecovery() {
        XCTAssertEqual(ToolboxError(ToolboxError(.linkDetached, "x"), context: "c").code, .linkLost)
        XCTAssertEqual(ToolboxError(ToolboxError(.linkDetached, "x"), context: "c").recovery, .rebuildLink)
        XCTAssertEqual(ToolboxError(ToolboxError(.framing, "x"), context: "c").code, .connectionLost)
        XCTAssertEqual(ToolboxError(ToolboxError(.framing, "x"), context: "c").recovery, .rebuildConnection)
        XCTAssertEqual(ToolboxError(ToolboxError(.serverBusy, "x"), context: "c").code, .serverBusy,
                       "a messaging code is kept")
    }

    func testACertificateFailureIsFoundThroughTheChain() {
        let tls = ToolboxError(.untrustedIssuer, "issuer not trusted")
        let amqp = ToolboxError(.transport, "\(tls)", underlying: tls)
        let error = ToolboxError(amqp, context: "connect")
        XCTAssertEqual(error.code, .certificateRejected)
        XCTAssertFalse(error.isTransient)
    }

    func testWrapClassifiesPoolAndAuthErrorsAndPassesMessagingOnes() {
        let cause = ToolboxError(.linkDetached, "gone", remote: AMQPRemoteError(condition: AMQPRemoteError.detachForced))
        XCTAssertEqual(ToolboxError.wrap(ToolboxError(.connectionFailed, "open", cause: cause), context: "c").code, .linkLost)
        XCTAssertEqual(ToolboxError.wrap(ToolboxError(.poolClosed, "closed"), context: "c").code, .clientClosed)
        XCTAssertEqual(ToolboxError.wrap(ToolboxError(.exhausted, "full"), context: "c").recovery, .retry)
        XCTAssertEqual(ToolboxError.wrap(ToolboxError(.credentialUnavailable, "no az"), context: "c").code, .unauthorized)
        let messaging = ToolboxError(.messageLockLost, "lock")
        XCTAssertEqual(ToolboxError.wrap(messaging, context: "c"), messaging)
        struct Foreign: Error {}
        let foreign = ToolboxError.wrap(Foreign(), context: "c")
        XCTAssertEqual(foreign.code, .serviceError)
        XCTAssertNotNil(foreign.first(Foreign.self))
    }
}
