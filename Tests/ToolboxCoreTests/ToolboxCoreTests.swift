import Dispatch
import Foundation
import ToolboxCore
import XCTest

final class ToolboxCoreTests: XCTestCase {
    func testLockedValueSerialisesConcurrentUpdates() {
        let counter = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<10_000 { counter.withLockedValue { $0 += 1 } }
        }
        XCTAssertEqual(counter.load(), 80_000)
    }

    func testMonotonicArithmeticSaturatesInsteadOfOverflowing() {
        let now = MonotonicInstant.now()
        XCTAssertEqual(now.advanced(bySeconds: .infinity), .distantFuture)
        XCTAssertEqual(MonotonicInstant(nanoseconds: 5).advanced(bySeconds: -1).nanoseconds, 0)
        XCTAssertEqual(now.advanced(bySeconds: 1.5).seconds(since: now), 1.5, accuracy: 1e-6)
        XCTAssertEqual(now.seconds(since: now.advanced(bySeconds: 2)), -2, accuracy: 1e-6)
        XCTAssertLessThanOrEqual(MonotonicInstant.coarseNow(), MonotonicInstant.now().advanced(bySeconds: 0.001))
        XCTAssertEqual(Deadline.never.secondsRemaining, .infinity)
        XCTAssertTrue(Deadline.after(seconds: -1).hasPassed)
        XCTAssertFalse(Deadline.after(seconds: 60).hasPassed)
        XCTAssertEqual("\(Deadline.never)", "never")
    }

    func testCancellationTokenRunsHandlersOnceAndLateHandlersAtOnce() {
        let token = CancellationToken()
        let runs = LockedValue(0)
        token.onCancel { runs.withLockedValue { $0 += 1 } }
        XCTAssertFalse(token.isCancelled)
        token.cancel()
        token.cancel()
        XCTAssertTrue(token.isCancelled)
        XCTAssertEqual(runs.load(), 1)
        token.onCancel { runs.withLockedValue { $0 += 10 } }
        XCTAssertEqual(runs.load(), 11)
    }

    func testCompletionOnceIgnoresEveryLaterCompletion() {
        let seen = LockedValue([Int]())
        let once = CompletionOnce<Int> { value in seen.withLockedValue { $0.append(value) } }
        DispatchQueue.concurrentPerform(iterations: 16) { i in once.complete(i) }
        XCTAssertEqual(seen.load().count, 1)
        XCTAssertTrue(once.isCompleted)
        XCTAssertFalse(once.complete(99))
    }

    func testBlockingWaitReturnsTheResultAndRefusesLibraryQueues() throws {
        let value: Int = try Blocking.wait { queue, completion in
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.01) { queue.async { completion(.success(7)) } }
        }
        XCTAssertEqual(value, 7)
        XCTAssertThrowsError(try Blocking.wait { (_, completion: @Sendable (Result<Int, any Error>) -> Void) in
            completion(.failure(CoreError(.timedOut, "slow")))
        }) { error in XCTAssertEqual((error as? CoreError)?.code, .timedOut) }

        let library = LibraryQueues.makeQueue(label: "core-test")
        let result = library.sync {
            Result { try Blocking.wait { (_, completion: @Sendable (Result<Int, any Error>) -> Void) in completion(.success(1)) } }
        }
        guard case .failure(let error as CoreError) = result else { return XCTFail("\(result)") }
        XCTAssertEqual(error.code, .blockingCallOnLibraryQueue)
        XCTAssertTrue(error.description.contains("core-test"))
        XCTAssertNil(LibraryQueues.currentLibraryQueueLabel)
    }

    func testSecretNeverPrintsItsValue() {
        let secret = Secret("hunter2-very-secret")
        XCTAssertEqual("\(secret)", "<redacted>")
        XCTAssertEqual(String(reflecting: secret), "<redacted>")
        var dumped = ""
        dump(secret, to: &dumped)
        XCTAssertFalse(dumped.contains("hunter2"), dumped)
        struct Holder { let key: Secret<String> }
        XCTAssertFalse("\(Holder(key: secret))".contains("hunter2"))
        XCTAssertEqual(secret.exposedValue, "hunter2-very-secret")
    }
}
