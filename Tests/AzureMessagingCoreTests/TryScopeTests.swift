import AzureClientsToolboxTesting
import ConnectionPooling
import Dispatch
import Logging
import ToolboxCore
import XCTest

@testable import AzureMessagingCore

/// A connection that is never closed by itself; records how the provider treated it.
private final class StubConnection: Sendable {
    let retired = LockedValue(false)
    let closed = LockedValue(false)
    let timeouts = LockedValue(0)
}

/// Hands out `StubConnection`s and counts tries that timed out on each, like the real factories.
private struct StubFactory: MessagingConnectionFactory {
    let opened = LockedValue(0)

    func open(deadline: Deadline, completion: @escaping @Sendable (Result<StubConnection, AzureMessagingError>) -> Void) {
        opened.withLockedValue { $0 += 1 }
        completion(.success(StubConnection()))
    }

    func ready(_ connection: StubConnection, deadline: Deadline,
               completion: @escaping @Sendable (Result<Void, AzureMessagingError>) -> Void) {
        completion(.success(()))
    }

    func close(_ connection: StubConnection, completion: @escaping @Sendable () -> Void) {
        connection.closed.withLockedValue { $0 = true }
        completion()
    }

    func isClosed(_ connection: StubConnection) -> Bool { connection.closed.load() }

    func markRetired(_ connection: StubConnection) -> Bool {
        connection.retired.withLockedValue { retired in
            defer { retired = true }
            return !retired
        }
    }

    func noteTryOutcome(_ connection: StubConnection, timedOut: Bool) -> Bool {
        connection.timeouts.withLockedValue { count in
            count = timedOut ? count + 1 : 0
            return count >= ConnectionProvider<StubFactory>.timeoutsBeforeRetiring
        }
    }
}

/// A piece of work a try registered on its scope.
private final class Work: Cancellable, Sendable {
    let cancelled = LockedValue(false)
    func cancel() { cancelled.withLockedValue { $0 = true } }
}

/// `perform`'s tries: each carries its deadline, the work it registered is cancelled when it gives up, its lease
/// goes back at once, and a connection on which tries keep timing out is retired.
final class TryScopeTests: XCTestCase {
    private func pooled(_ factory: StubFactory, clock: any ToolboxClock = SystemClock()) throws
        -> ConnectionProvider<StubFactory>
    {
        try ConnectionProvider(pooled: factory, configuration: .with { $0.maxSize = 1; $0.metricsLabel = nil },
                               logger: Logger(label: "test"), health: HealthTracker(), clock: clock)
    }

    /// On a `ManualClock`: each try's time-out and each retry delay fires when the test moves time, not after a wait.
    func testATimedOutTryCancelsItsWorkReturnsItsLeaseAndRepeatedTimeoutsRetireTheConnection() throws {
        let factory = StubFactory()
        let clock = ManualClock()
        let provider = try pooled(factory, clock: clock)
        defer { provider.close(queue: .global()) {} }
        let tries = LockedValue<[(scope: TryScope, work: Work, connection: StubConnection)]>([])
        let started = (0..<3).map { expectation(description: "try \($0 + 1) started") }
        let done = expectation(description: "completed")
        let result = LockedValue<Result<Int, AzureMessagingError>?>(nil)
        let retry = RetryOptions(maxRetries: 2, delay: .milliseconds(10), maxDelay: .milliseconds(10),
                                 tryTimeout: .milliseconds(200))
        provider.perform("stuck op", retry: retry, logger: Logger(label: "test"), queue: .global(), body: { connection, scope, _ in
            // Never completes by itself: only the try's time-out ends it.
            let work = Work()
            scope.track(work)
            let number = tries.withLockedValue { $0.append((scope, work, connection)); return $0.count }
            started[number - 1].fulfill()
        }, completion: { outcome in
            result.withLockedValue { $0 = outcome }
            done.fulfill()
        })
        for number in 0..<3 {
            wait(for: [started[number]], timeout: 10)
            clock.advance(by: .milliseconds(199))
            XCTAssertFalse(tries.load()[number].scope.isCancelled, "try \(number + 1) is not over before its time-out")
            clock.advance(by: .milliseconds(1))
            XCTAssertTrue(tries.load()[number].scope.isCancelled, "try \(number + 1) ended at its time-out")
            if number < 2 {
                XCTAssertEqual(tries.load().count, number + 1, "the retry waits for its delay")
                // The retry delay (10 ms ± 20 % jitter) is the earliest job on the clock: run exactly up to it, so the
                // next try's time-out counts from there.
                let retryAt = try XCTUnwrap(clock.nextDeadline)
                XCTAssertEqual(retryAt.seconds(since: clock.now()), 0.010, accuracy: 0.0021)
                clock.advance(to: retryAt)
            }
        }
        wait(for: [done], timeout: 10)
        guard case .failure(let error)? = result.load() else { return XCTFail("expected a failure") }
        XCTAssertEqual(error.code, .timedOut)
        let all = tries.load()
        XCTAssertEqual(all.count, 3, "one try and two retries")
        for item in all {
            XCTAssertTrue(item.scope.isCancelled, "the try's scope ended with it")
            XCTAssertTrue(item.work.cancelled.load(), "the work it started was cancelled when it gave up")
            XCTAssertLessThanOrEqual(item.scope.deadline.instant, clock.now())
        }
        XCTAssertTrue(all[0].connection === all[1].connection, "the second try reused the connection")
        XCTAssertTrue(all[1].connection.retired.load(), "two time-outs in a row retired it")
        XCTAssertFalse(all[2].connection === all[0].connection, "the third try got a new connection")
        XCTAssertEqual(provider.currentHealth.inUseLeases, 0, "every lease went back although no try completed")
        XCTAssertEqual(provider.currentHealth.reconnectCount, 1)
    }

    func testWorkRegisteredAfterTheTryEndedIsCancelledAtOnce() {
        let scope = TryScope(deadline: .after(.seconds(60)))
        scope.cancel()
        let work = Work()
        scope.track(work)
        XCTAssertTrue(work.cancelled.load())
        XCTAssertEqual(scope.cancellationError.code, .timedOut)
    }

    func testCancellingTheOperationCancelsTheCurrentTrysWork() throws {
        let provider = try pooled(StubFactory())
        defer { provider.close(queue: .global()) {} }
        let started = expectation(description: "try started")
        let work = Work()
        let completed = expectation(description: "completed")
        let handle = provider.perform("op", retry: RetryOptions(tryTimeout: .seconds(60)), logger: Logger(label: "test"),
                                      queue: .global(), body: { (_, scope, _: @escaping @Sendable (Result<Int, AzureMessagingError>) -> Void) in
            scope.track(work)
            started.fulfill()
        }, completion: { result in
            if case .failure(let error) = result { XCTAssertEqual(error.code, .cancelled) } else { XCTFail("\(result)") }
            completed.fulfill()
        })
        wait(for: [started], timeout: 10)
        handle.cancel()
        wait(for: [completed], timeout: 10)
        XCTAssertTrue(work.cancelled.load())
    }

    func testBackoffDoublesUpToItsCapWithinItsJitter() {
        var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(4), jitter: 0.2)
        let delays = (0..<6).map { _ in backoff.next().toolboxSeconds }
        for (index, delay) in delays.enumerated() {
            let base = min(4, 0.5 * Double(1 << index))
            XCTAssertTrue((base * 0.8...base * 1.2).contains(delay), "\(index): \(delays)")
        }
        backoff.reset()
        XCTAssertTrue((0.4...0.6).contains(backoff.next().toolboxSeconds))
        var hostile = Backoff(initial: .seconds(-1), maximum: .seconds(Int64.max), jitter: .nan)
        XCTAssertEqual(hostile.next(), .milliseconds(1))
        XCTAssertEqual(hostile.maximum, .seconds(1_000_000_000))
    }
}
