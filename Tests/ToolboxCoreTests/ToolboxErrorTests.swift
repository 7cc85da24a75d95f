import Dispatch
import ToolboxCore
import XCTest

private struct ForeignError: Error, CustomStringConvertible {
    let what: String
    var description: String { "foreign \(what)" }
}

extension ToolboxError.Code {
    /// A code a test module adds, the way every module adds its own.
    fileprivate static let testOnly = Self("testOnly", defaultRecovery: .rebuildConnection)
}

final class ToolboxErrorTests: XCTestCase {
    func testEqualityComparesEveryField() {
        let base = ToolboxError(.timedOut, "no answer", serviceCondition: ServiceCondition(httpStatus: 503))
        XCTAssertEqual(base, ToolboxError(.timedOut, "no answer", serviceCondition: ServiceCondition(httpStatus: 503)))
        XCTAssertNotEqual(base, ToolboxError(.cancelled, "no answer", serviceCondition: ServiceCondition(httpStatus: 503)))
        XCTAssertNotEqual(base, ToolboxError(.timedOut, "other", serviceCondition: ServiceCondition(httpStatus: 503)))
        XCTAssertNotEqual(base, ToolboxError(.timedOut, "no answer", serviceCondition: ServiceCondition(httpStatus: 500)))
        XCTAssertNotEqual(base, ToolboxError(.timedOut, "no answer"))
        XCTAssertNotEqual(base, ToolboxError(.timedOut, "no answer", serviceCondition: ServiceCondition(httpStatus: 503),
                                             recovery: .fail))
        var substatus = base
        substatus.serviceCondition?.subStatus = 3200
        XCTAssertNotEqual(base, substatus)
    }

    func testUnderlyingErrorsCompareByAStableRepresentation() {
        let a = ToolboxError(.connectionFailed, "x", underlying: ForeignError(what: "a"))
        XCTAssertEqual(a, ToolboxError(.connectionFailed, "x", underlying: ForeignError(what: "a")))
        XCTAssertNotEqual(a, ToolboxError(.connectionFailed, "x", underlying: ForeignError(what: "b")))
        XCTAssertNotEqual(a, ToolboxError(.connectionFailed, "x"))
        let nested = ToolboxError(.connectionFailed, "x", underlying: ToolboxError(.timedOut, "inner"))
        XCTAssertEqual(nested, ToolboxError(.connectionFailed, "x", underlying: ToolboxError(.timedOut, "inner")))
        XCTAssertNotEqual(nested, ToolboxError(.connectionFailed, "x", underlying: ToolboxError(.timedOut, "other")))
    }

    func testCodesAreOpenAndCarryTheirDefaultRecovery() {
        XCTAssertEqual(ToolboxError(.testOnly, "m").recovery, .rebuildConnection)
        XCTAssertEqual(ToolboxError(.testOnly, "m", recovery: .retry).recovery, .retry)
        XCTAssertEqual(ToolboxError(.timedOut, "m").recovery, .retry)
        XCTAssertTrue(ToolboxError(.timedOut, "m").isTransient)
        XCTAssertFalse(ToolboxError(.cancelled, "m").isTransient)
        XCTAssertEqual(ToolboxError.Code("testOnly"), .testOnly, "codes are equal by name")
        switch ToolboxError(.testOnly, "m").code {
        case .timedOut: XCTFail("matched the wrong code")
        case .testOnly: break
        default: XCTFail("did not match its own code")
        }
    }

    func testDescriptionNamesCodeMessageConditionAndCause() {
        let condition = ServiceCondition(
            httpStatus: 429, subStatus: 3200, errorCode: "TooManyRequests", serviceMessage: "slow down",
            requestID: "r-1", activityID: "a-1", retryAfter: .milliseconds(500))
        let error = ToolboxError(.timedOut, "reading item", serviceCondition: condition,
                                 underlying: ForeignError(what: "socket"))
        XCTAssertEqual(error.description,
                       "timedOut: reading item (HTTP 429/3200 TooManyRequests: slow down (request id r-1, "
                        + "activity id a-1, retry after 0.5 seconds)) [caused by foreign socket]")
        XCTAssertEqual(ServiceCondition(amqpCondition: "amqp:not-found", serviceMessage: "no hub").description,
                       "amqp:not-found: no hub")
        let folded = ToolboxError(.unauthorized, "CBS: denied", underlying: ToolboxError(.requestFailed, "denied"))
        XCTAssertEqual(folded.description, "unauthorized: CBS: denied", "a cause the message already tells is not repeated")
    }

    func testFirstWalksTheChainOfUnderlyingErrors() {
        let error = ToolboxError(.connectionFailed, "a", underlying: ToolboxError(.transport, "b",
                                 underlying: ForeignError(what: "c")))
        XCTAssertEqual(error.first(ForeignError.self)?.what, "c")
        XCTAssertEqual(error.first(ToolboxError.self)?.code, .connectionFailed)
        XCTAssertNil(ToolboxError(.cancelled, "x").first(ForeignError.self))
    }

    func testOldTypeNamesStillSpellTheOneType() {
        let error: any Error = CoreError(.cancelled, "x")
        XCTAssertEqual((error as? ToolboxError)?.code, .cancelled)
    }
}

extension ToolboxError.Code {
    fileprivate static let requestFailed = Self("requestFailed")
    fileprivate static let transport = Self("transport")
    fileprivate static let connectionFailed = Self("connectionFailed")
    fileprivate static let unauthorized = Self("unauthorized")
}

final class SystemClockTests: XCTestCase {
    func testScheduledWorkRunsOnItsQueueAfterItsDeadline() {
        let clock = SystemClock()
        let queue = LibraryQueues.makeQueue(label: "clock-test")
        let ran = expectation(description: "ran")
        let start = clock.now()
        clock.schedule(at: start.advanced(bySeconds: 0.02), on: queue) {
            dispatchPrecondition(condition: .onQueue(queue))
            XCTAssertGreaterThanOrEqual(clock.now(), start.advanced(bySeconds: 0.02))
            ran.fulfill()
        }
        wait(for: [ran], timeout: 10)
    }

    func testCancelledWorkNeverRuns() {
        let clock = SystemClock()
        let queue = LibraryQueues.makeQueue(label: "clock-test")
        let ran = LockedValue(false)
        let job = clock.schedule(at: clock.now().advanced(bySeconds: 0.2), on: queue) { ran.withLockedValue { $0 = true } }
        job.cancel()
        // A later job on the same serial queue runs after the cancelled one would have.
        let later = expectation(description: "later job ran")
        clock.schedule(at: clock.now().advanced(bySeconds: 0.3), on: queue) { later.fulfill() }
        wait(for: [later], timeout: 10)
        XCTAssertFalse(ran.load())
    }
}

final class BlockingWaitForResultTests: XCTestCase {
    func testKeepsTheErrorTypeAndRefusesLibraryQueues() {
        XCTAssertEqual(try Blocking.waitForResult { queue, done in queue.async { done(.success(7)) } }, 7)
        do {
            let _: Int = try Blocking.waitForResult { queue, done in
                queue.async { done(.failure(ToolboxError(.invalidArgument, "no"))) }
            }
            XCTFail("no error")
        } catch {
            XCTAssertEqual(error, ToolboxError(.invalidArgument, "no"))
        }
        let refused = expectation(description: "refused")
        let onLibraryQueue: @Sendable () -> Void = {
            do {
                let _: Int = try Blocking.waitForResult { queue, done in queue.async { done(.success(1)) } }
                XCTFail("waited on a library queue")
            } catch {
                XCTAssertEqual((error as? ToolboxError)?.code, .blockingCallOnLibraryQueue)
            }
            refused.fulfill()
        }
        LibraryQueues.makeQueue(label: "library").async(execute: onLibraryQueue)
        wait(for: [refused], timeout: 10)
    }
}
