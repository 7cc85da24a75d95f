import Dispatch
import Logging
import ToolboxCore
import XCTest

@testable import AzureAuth

final class TokenCacheTests: XCTestCase {
    /// A fetch the test completes by hand, counting how often it was started.
    final class ManualFetch: Sendable {
        let started = LockedValue<[@Sendable (Result<AccessToken, AuthError>) -> Void]>([])
        var count: Int { started.load().count }
        var fetch: TokenFetch {
            { [started] _, _, completion in started.withLockedValue { $0.append(completion) } }
        }
        func complete(_ result: Result<AccessToken, AuthError>, index: Int = 0) {
            let completion = started.load()[index]
            completion(result)
        }
    }

    private func token(_ value: String, expiresOn: Int, refreshOn: Int? = nil) -> AccessToken {
        AccessToken(token: Secret(value), expiresOn: expiresOn, refreshOn: refreshOn)
    }

    private func get(_ cache: TokenCache, _ scopes: [String] = ["s/.default"], deadline: Deadline = .after(seconds: 30))
        -> Result<AccessToken, AuthError>?
    {
        let box = LockedValue<Result<AccessToken, AuthError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        _ = cache.token(for: scopes, options: TokenRequestOptions(deadline: deadline), queue: .global()) { result in
            box.withLockedValue { $0 = result }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        return box.load()
    }

    func testThousandConcurrentCallersWithExpiredTokenCauseOneFetch() {
        let clock = TestClock()
        let manual = ManualFetch()
        let cache = TokenCache(name: "test", logger: Logger(label: "test"), clock: clock.function, fetch: manual.fetch)
        let callers = 1000
        let delivered = LockedValue<[String]>([])
        let group = DispatchGroup()
        let callbackQueue = DispatchQueue(label: "callbacks", attributes: .concurrent)
        for _ in 0..<callers { group.enter() }
        DispatchQueue.concurrentPerform(iterations: callers) { _ in
            _ = cache.token(for: ["s/.default"], options: TokenRequestOptions(), queue: callbackQueue) { result in
                delivered.withLockedValue { $0.append((try? result.get().token.exposedValue) ?? "failure") }
                group.leave()
            }
        }
        XCTAssertEqual(manual.count, 1, "single flight: one fetch for \(callers) callers")
        manual.complete(.success(token("fresh", expiresOn: clock.now + 3600)))
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(delivered.load().count, callers, "every caller answered exactly once")
        XCTAssertEqual(Set(delivered.load()), ["fresh"])
        XCTAssertEqual(manual.count, 1)
        // Now cached: more callers cause no fetch.
        XCTAssertEqual(try get(cache)?.get().token.exposedValue, "fresh")
        XCTAssertEqual(manual.count, 1)
    }

    func testExpiredTokenIsRefetchedAndScopesAreCachedSeparately() {
        let clock = TestClock()
        let fetches = LockedValue(0)
        let cache = TokenCache(name: "test", logger: Logger(label: "test"), clock: clock.function) { scopes, _, done in
            let n = fetches.withLockedValue { $0 += 1; return $0 }
            done(.success(AccessToken(token: Secret("\(scopes[0])#\(n)"), expiresOn: clock.now + 3600)))
        }
        XCTAssertEqual(try get(cache, ["a"])?.get().token.exposedValue, "a#1")
        XCTAssertEqual(try get(cache, ["b"])?.get().token.exposedValue, "b#2")
        XCTAssertEqual(try get(cache, ["a"])?.get().token.exposedValue, "a#1")
        clock.advance(3600)
        XCTAssertEqual(try get(cache, ["a"])?.get().token.exposedValue, "a#3", "expired tokens are never returned")
    }

    func testRefreshAheadOfExpiryReturnsCachedTokenAndRefreshesOnceInBackground() {
        let clock = TestClock()
        let manual = ManualFetch()
        let cache = TokenCache(name: "test", logger: Logger(label: "test"), clock: clock.function, fetch: manual.fetch)
        let first = LockedValue<Result<AccessToken, AuthError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        _ = cache.token(for: ["s"], options: TokenRequestOptions(), queue: .global()) { result in
            first.withLockedValue { $0 = result }
            done.signal()
        }
        manual.complete(.success(token("one", expiresOn: clock.now + 3600)))
        done.wait()
        XCTAssertEqual(try first.load()?.get().token.exposedValue, "one")

        clock.advance(3600 - 299)  // inside the five-minute refresh window
        XCTAssertEqual(try get(cache, ["s"])?.get().token.exposedValue, "one", "still valid: served from cache")
        XCTAssertEqual(manual.count, 2, "and one background refresh started")
        XCTAssertEqual(try get(cache, ["s"])?.get().token.exposedValue, "one")
        XCTAssertEqual(manual.count, 2, "no second refresh while one is in flight")
        manual.complete(.success(token("two", expiresOn: clock.now + 3600)), index: 1)
        XCTAssertEqual(try get(cache, ["s"])?.get().token.exposedValue, "two")
    }

    func testFailedBackgroundRefreshKeepsTokenAndRetriesAfterDelay() {
        let clock = TestClock()
        let manual = ManualFetch()
        let cache = TokenCache(name: "test", logger: Logger(label: "test"), clock: clock.function, fetch: manual.fetch)
        let box = LockedValue<Result<AccessToken, AuthError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        _ = cache.token(for: ["s"], options: TokenRequestOptions(), queue: .global()) { result in
            box.withLockedValue { $0 = result }
            done.signal()
        }
        manual.complete(.success(token("one", expiresOn: clock.now + 7200, refreshOn: clock.now + 3600)))
        done.wait()
        clock.advance(3600)
        XCTAssertEqual(try get(cache, ["s"])?.get().token.exposedValue, "one")
        XCTAssertEqual(manual.count, 2, "refreshOn reached: background refresh")
        manual.complete(.failure(AuthError(.transportFailed, "down")), index: 1)
        clock.advance(10)
        XCTAssertEqual(try get(cache, ["s"])?.get().token.exposedValue, "one", "failure keeps the valid token")
        XCTAssertEqual(manual.count, 2, "no new attempt within the 30 s retry delay")
        clock.advance(30)
        XCTAssertEqual(try get(cache, ["s"])?.get().token.exposedValue, "one")
        XCTAssertEqual(manual.count, 3, "retried after the delay")
    }

    func testFailureReachesEveryWaiterAndNextCallFetchesAgain() {
        let clock = TestClock()
        let manual = ManualFetch()
        let cache = TokenCache(name: "test", logger: Logger(label: "test"), clock: clock.function, fetch: manual.fetch)
        let failures = LockedValue(0)
        let group = DispatchGroup()
        for _ in 0..<10 {
            group.enter()
            _ = cache.token(for: ["s"], options: TokenRequestOptions(), queue: .global()) { result in
                if case .failure(let error) = result, error.code == .authenticationFailed {
                    failures.withLockedValue { $0 += 1 }
                }
                group.leave()
            }
        }
        XCTAssertEqual(manual.count, 1)
        manual.complete(.failure(AuthError(.authenticationFailed, "refused")))
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(failures.load(), 10)
        _ = cache.token(for: ["s"], options: TokenRequestOptions(), queue: .global()) { _ in }
        XCTAssertEqual(manual.count, 2, "a failed fetch is not cached")
    }

    func testDeadlineAndCancellationDeliverExactlyOnce() {
        let manual = ManualFetch()
        let cache = TokenCache(name: "test", logger: Logger(label: "test"), fetch: manual.fetch)
        XCTAssertEqual(get(cache, deadline: .after(seconds: 0.05))?.failureCode, .timedOut)

        let calls = LockedValue<[AuthError.Code?]>([])
        let done = DispatchSemaphore(value: 0)
        let delivery = DispatchQueue(label: "test.token-delivery")
        let handle = cache.token(for: ["s/.default"], options: TokenRequestOptions(), queue: delivery) { result in
            calls.withLockedValue { $0.append(result.failureCode) }
            done.signal()
        }
        handle.cancel()
        done.wait()
        manual.complete(.success(token("late", expiresOn: Int.max / 2)))
        handle.cancel()
        // A second delivery would have been queued on `delivery` by now: flush it instead of sleeping.
        delivery.sync {}
        XCTAssertEqual(calls.load(), [.cancelled], "cancelled once; the late token is not delivered again")
    }
}

final class TokenCacheSharedFetchTests: XCTestCase {
    func testImpatientCallerDoesNotCutTheSharedFetchShort() throws {
        let deadlines = LockedValue<[Deadline]>([])
        let completions = LockedValue<[@Sendable (Result<AccessToken, AuthError>) -> Void]>([])
        let cache = TokenCache(name: "test", logger: Logger(label: "test")) { _, deadline, done in
            deadlines.withLockedValue { $0.append(deadline) }
            completions.withLockedValue { $0.append(done) }
        }
        let box = LockedValue<Result<AccessToken, AuthError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        _ = cache.token(for: ["s"], options: TokenRequestOptions(deadline: .after(seconds: 0.05)), queue: .global()) {
            result in
            box.withLockedValue { $0 = result }
            done.signal()
        }
        done.wait()
        XCTAssertEqual(box.load()?.failureCode, .timedOut)
        XCTAssertGreaterThan(try XCTUnwrap(deadlines.load().first).secondsRemaining, 20)
        // The fetch finishes after the caller gave up; the token is cached for the next caller.
        try XCTUnwrap(completions.load().first)(.success(AccessToken(token: Secret("late"), expiresOn: Int.max / 2)))
        let again = LockedValue<String?>(nil)
        let second = DispatchSemaphore(value: 0)
        _ = cache.token(for: ["s"], options: TokenRequestOptions(), queue: .global()) { result in
            again.withLockedValue { $0 = try? result.get().token.exposedValue }
            second.signal()
        }
        second.wait()
        XCTAssertEqual(again.load(), "late")
        XCTAssertEqual(deadlines.load().count, 1)
    }
}

extension Result where Failure == AuthError {
    var failureCode: AuthError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
