import Dispatch
import ToolboxCore
import XCTest

final class ChildOperationTests: XCTestCase {
    /// A step that, when cancelled, reports its own failure to the operation at once — as an HTTP request does
    /// when the operation that runs it ends.
    private final class FailingOnCancel: Cancellable, @unchecked Sendable {
        // @unchecked Sendable: `operation` is set once, before the step can be cancelled.
        var operation: ChildOperation<Int>?
        func cancel() { operation?.finish(.failure(ToolboxError(.cancelled, "the step was cancelled"))) }
    }

    /// The first `finish` delivers its result even when cancelling the children makes one of them finish the
    /// operation again before the first call is done: the second call delivered its "cancelled" first, so an
    /// upload refused at its 50,001st block sometimes reported a cancelled block instead of the reason.
    func testTheFirstFinishWinsOverAChildFailingBecauseItWasCancelled() {
        let delivered = LockedValue<[Result<Int, ToolboxError>]>([])
        let done = expectation(description: "delivered")
        let operation = ChildOperation<Int>("uploading 'a'", queue: DispatchQueue(label: "test")) { result in
            delivered.withLockedValue { $0.append(result) }
            done.fulfill()
        }
        let step = FailingOnCancel()
        step.operation = operation
        operation.track(step)
        operation.finish(.failure(ToolboxError(.invalidArgument, "needs more than 50000 blocks")))
        wait(for: [done], timeout: 10)
        let results = delivered.load()
        XCTAssertEqual(results.count, 1)
        guard case .failure(let error)? = results.first else { return XCTFail("\(results)") }
        XCTAssertEqual(error.code, .invalidArgument, error.message)
    }

    /// Cleanups run once, whoever finishes, and a step tracked after the end is cancelled at once.
    func testCleanupsRunOnceAndLateStepsAreCancelled() {
        let cleanups = LockedValue(0)
        let operation = ChildOperation<Int>("x", queue: DispatchQueue(label: "test")) { _ in }
        operation.onFinish { cleanups.withLockedValue { $0 += 1 } }
        operation.finish(.success(1))
        operation.finish(.success(2))
        operation.cancel()
        XCTAssertEqual(cleanups.load(), 1)
        final class Counting: Cancellable, Sendable {
            let count = LockedValue(0)
            func cancel() { count.withLockedValue { $0 += 1 } }
        }
        let late = Counting()
        XCTAssertNil(operation.track(late))
        XCTAssertEqual(late.count.load(), 1)
    }
}

final class ToolboxErrorRedactionTests: XCTestCase {
    func testEchoedSecretsAreReplacedWherePeersSuppliedText() {
        let key = "c2VjcmV0LWtleS12YWx1ZQ=="
        var condition = ServiceCondition()
        condition.httpStatus = 401
        condition.errorCode = "Bad\(key)"
        condition.serviceMessage = "the key \(key) is wrong; again: \(key)"
        condition.requestID = key
        condition.activityID = "a-\(key)"
        let error = ToolboxError(.authorizationFailed, "publishing failed: the key \(key) is wrong",
                                 serviceCondition: condition).redacting([key, "short"])
        XCTAssertFalse("\(error)".contains(key), "\(error)")
        XCTAssertEqual(error.message, "publishing failed: the key [REDACTED] is wrong")
        XCTAssertEqual(error.serviceCondition?.serviceMessage, "the key [REDACTED] is wrong; again: [REDACTED]")
        XCTAssertEqual(error.serviceCondition?.requestID, "[REDACTED]")
        XCTAssertEqual(error.serviceCondition?.httpStatus, 401)
        // Values too short to be credentials are not looked for (they would blank ordinary words).
        XCTAssertEqual(ToolboxError(.serviceError, "a short word").redacting(["short"]).message, "a short word")
    }
}

final class PeerTextTests: XCTestCase {
    /// A peer echoing the put-token it was sent gets its signature (and any JWT) blanked; megabytes are cut short.
    func testTokensByTheirShapeAreBlankedAndLongTextIsCut() {
        let sas = "SharedAccessSignature sr=sb%3A%2F%2Fns%2Fq1&sig=edR%2FDsAbC123%3D&se=1800000000&skn=RootManageSharedAccessKey"
        let shown = Redaction.peerText("InvalidSignature: token \(sas) refused")
        XCTAssertFalse(shown.contains("edR%2FDsAbC123"), shown)
        XCTAssertTrue(shown.contains("&sig=[REDACTED]&se=1800000000"), shown)
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
        XCTAssertEqual(Redaction.peerText("bearer \(jwt) expired"), "bearer [REDACTED] expired")
        XCTAssertEqual(Redaction.peerText("a design=ok signature eyJust text."), "a design=ok signature eyJust text.")
        let huge = Redaction.peerText(String(repeating: "x", count: 10_000_000))
        XCTAssertLessThan(huge.utf8.count, 1_100)
        XCTAssertTrue(huge.hasSuffix("… (10000000 bytes)"), String(huge.suffix(40)))
    }

    /// A SAS URL quoted inside another URL arrives percent-encoded (`%26sig%3D…`), and in JSON a `/` of the
    /// signature may come escaped as `\/`: the signature is blanked in both, up to the next parameter.
    func testEncodedAndEscapedSignaturesAreBlanked() {
        let encoded = Redaction.peerText(
            "redirect=https%3A%2F%2Fa.blob%2Fc%2Fb%3Fsv%3D2021%26sig%3DedR%252FDsAbC123%253D%26se%3D1800000000 refused")
        XCTAssertFalse(encoded.contains("edR%252FDsAbC123"), encoded)
        XCTAssertTrue(encoded.contains("%26sig%3D[REDACTED]%26se%3D1800000000"), encoded)
        let first = Redaction.peerText("u=https%3A%2F%2Fa%2Fc%3FSIG%3dabcDEF123%26sv%3D1")
        XCTAssertTrue(first.contains("%3FSIG%3d[REDACTED]%26sv%3D1"), first)
        let json = Redaction.peerText(#"{"url":"https:\/\/a.blob\/c?sv=1&sig=ab\/cdEF12\/34%3D&se=2","x":1}"#)
        XCTAssertFalse(json.contains("cdEF12"), json)
        XCTAssertTrue(json.contains(#"&sig=[REDACTED]&se=2"#), json)
        let dotnet = Redaction.peerText(#"{"url":"https://a.blob/c?sv=1\u0026sig=abcDEF123%3D\u0026se=2"}"#)
        XCTAssertFalse(dotnet.contains("abcDEF123"), dotnet)
        XCTAssertTrue(dotnet.contains(#"\u0026sig=[REDACTED]\u0026se=2"#), dotnet)
        // Not a signature: `sig` inside a word, or with nothing after it.
        XCTAssertEqual(Redaction.peerText("design%3Dok assig=x"), "design%3Dok assig=x")
        XCTAssertEqual(Redaction.peerText("sig= empty"), "sig= empty")
    }
}
