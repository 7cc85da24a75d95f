import AzureClientsToolboxTesting
import AzureMessagingCore
import ToolboxCore
import XCTest

/// The receivers' shared hand-off (`ReceiveInbox`): first come, first served; a time-out takes what is buffered;
/// a cancellation takes nothing and leaves the buffer to the next caller.
final class ReceiveInboxTests: XCTestCase {
    private typealias Inbox = ReceiveInbox<Int>

    private func waiter(_ count: Int, _ results: LockedValue<[String: [Int]]>, _ name: String) -> Inbox.Waiter {
        Inbox.Waiter(maxCount: count, once: Inbox.Completion { result in
            results.withLockedValue { $0[name] = (try? result.get()) ?? [-1] }
        })
    }

    func testServesWaitersInOrderOnlyWhenTheirWholeRequestIsBuffered() {
        let results = LockedValue<[String: [Int]]>([:])
        var inbox = Inbox()
        let first = waiter(2, results, "first")
        let second = waiter(1, results, "second")
        inbox.enqueue(first)
        inbox.enqueue(second)
        XCTAssertEqual(inbox.demand, 3)
        inbox.append(1)
        XCTAssertTrue(inbox.takeReady().isEmpty, "the first waiter wants 2; the second must not overtake it")
        inbox.append(2)
        inbox.append(3)
        let ready = inbox.takeReady()
        XCTAssertEqual(ready.map(\.elements), [[1, 2], [3]])
        XCTAssertTrue(ready[0].waiter.once === first.once)
        XCTAssertTrue(inbox.waiters.isEmpty)
        XCTAssertTrue(inbox.buffer.isEmpty)
    }

    func testTimeOutTakesWhatIsBufferedAndCancellationTakesNothing() {
        let results = LockedValue<[String: [Int]]>([:])
        var inbox = Inbox()
        let timedOut = waiter(5, results, "timedOut")
        let cancelled = waiter(5, results, "cancelled")
        inbox.enqueue(cancelled)
        inbox.enqueue(timedOut)
        inbox.append(7)
        XCTAssertEqual(inbox.remove(cancelled.once, takingBuffered: false), [])
        XCTAssertEqual(inbox.buffer, [7], "a cancelled call leaves the buffer to the next one")
        XCTAssertEqual(inbox.remove(timedOut.once, takingBuffered: true), [7])
        XCTAssertNil(inbox.remove(timedOut.once, takingBuffered: true), "already removed")
        XCTAssertTrue(inbox.buffer.isEmpty)
    }

    func testRemoveAllWaitersKeepsTheBufferAndAZeroCountMeansOne() {
        let results = LockedValue<[String: [Int]]>([:])
        var inbox = Inbox()
        inbox.enqueue(waiter(0, results, "a"))
        inbox.enqueue(waiter(3, results, "b"))
        XCTAssertEqual(inbox.waiters.first?.maxCount, 1)
        inbox.append(9)
        XCTAssertEqual(inbox.removeAllWaiters().count, 2)
        XCTAssertTrue(inbox.waiters.isEmpty)
        XCTAssertEqual(inbox.buffer, [9])
        XCTAssertTrue(inbox.takeReady().isEmpty)
    }

    func testStartReceiveFailsOnAClosedReceiverTimesOutWithTheBufferAndCancels() throws {
        let inbox = LockedValue(Inbox())
        let remove: @Sendable (Inbox.Completion, Bool) -> [Int]? = { once, taking in
            inbox.withLockedValue { $0.remove(once, takingBuffered: taking) }
        }
        let clock = ManualClock()
        let timeouts = TimeoutScheduler.on(clock)
        func start(timeout: Duration, closed: Bool = false, timedOut: @escaping @Sendable () -> Void = {},
                   _ done: @escaping @Sendable (Result<[Int], AzureMessagingError>) -> Void)
            -> (token: CancellationToken, once: Inbox.Completion?)
        {
            Inbox.startReceive(maxCount: 3, timeout: timeout, timeouts: timeouts, queue: .global(), completion: done,
                               enqueue: { waiter in
                                   guard !closed else { return false }
                                   inbox.withLockedValue { $0.enqueue(waiter) }
                                   return true
                               },
                               remove: remove, timedOut: timedOut)
        }

        let refused = expectation(description: "closed")
        XCTAssertNil(start(timeout: .seconds(60), closed: true) { result in
            if case .failure(let error) = result, error.code == .clientClosed { refused.fulfill() }
        }.once)

        let cancelled = expectation(description: "cancelled")
        let pending = start(timeout: .seconds(60)) { result in
            if case .failure(let error) = result, error.code == .cancelled { cancelled.fulfill() }
        }
        pending.token.cancel()

        inbox.withLockedValue { $0.append(5) }
        let timedOut = expectation(description: "timed out with what was buffered")
        let toppedUp = expectation(description: "timedOut ran")
        _ = start(timeout: .milliseconds(50), timedOut: { toppedUp.fulfill() }) { result in
            if (try? result.get()) == [5] { timedOut.fulfill() }
        }
        XCTAssertEqual(timeouts.count, 1, "the cancelled call's time-out was dropped; one waits")
        XCTAssertEqual(clock.pendingJobCount, 1, "one clock job for all")
        clock.advance(by: .milliseconds(49))
        XCTAssertEqual(inbox.load().waiters.count, 1, "not yet due")
        clock.advance(by: .milliseconds(1))
        wait(for: [refused, cancelled, timedOut, toppedUp], timeout: 10)
        XCTAssertTrue(inbox.withLockedValue { $0.waiters.isEmpty && $0.buffer.isEmpty })
    }
}
