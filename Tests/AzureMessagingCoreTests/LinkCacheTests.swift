import AzureClientsToolboxTesting
import Dispatch
import ToolboxCore
import XCTest

@testable import AzureMessagingCore

final class FakeLink: Sendable {}

/// Requests for one key share one attach, bounded by its deadline.
final class LinkCacheTests: XCTestCase {
    typealias Outcome = Result<FakeLink, AzureMessagingError>

    /// A request made once an attach's deadline has passed, before that attach's expiry has run (a retry right
    /// after the try's own time-out fired at the same instant), used to join it and fail at once with it. It
    /// starts a new attach; the expired attach's waiters fail as its expiry would have failed them.
    func testARequestAfterAnAttachsDeadlineStartsANewAttach() {
        let clock = ManualClock()
        let cache = LinkCache<FakeLink>(clock: clock, hasEnded: { _ in false }, discard: { _ in })
        let attaches = LockedValue<[@Sendable (Outcome) -> Void]>([])
        let results = LockedValue<[String: Outcome]>([:])
        let attach: @Sendable (@escaping @Sendable (Outcome) -> Void) -> Void = { done in attaches.withLockedValue { $0.append(done) } }
        let start = clock.now()
        let first = start.advanced(by: .seconds(1))
        let queue = DispatchQueue(label: "retry")
        // Due at the first attach's deadline and scheduled before its expiry: runs first, with the deadline passed.
        clock.schedule(at: first, on: queue) {
            cache.link("k", deadline: Deadline(first.advanced(by: .seconds(1))), attach: attach) { outcome in
                results.withLockedValue { $0["retry"] = outcome }
            }
        }
        cache.link("k", deadline: Deadline(first), attach: attach) { outcome in results.withLockedValue { $0["first"] = outcome } }
        XCTAssertEqual(attaches.load().count, 1)
        clock.advance(to: first)
        XCTAssertEqual(attaches.load().count, 2, "the retry started an attach of its own")
        guard case .failure(let error)? = results.load()["first"] else { return XCTFail("the first request is still waiting") }
        XCTAssertEqual(error.code, .timedOut)
        XCTAssertNil(results.load()["retry"], "the retry waits for its own attach")
        // The first attach answering late changes nothing; the second one's link is handed to the retry.
        attaches.load()[0](.failure(AzureMessagingError(.timedOut, "link attach did not complete before its deadline")))
        XCTAssertNil(results.load()["retry"])
        let link = FakeLink()
        attaches.load()[1](.success(link))
        guard case .success(let got)? = results.load()["retry"] else { return XCTFail("\(String(describing: results.load()["retry"]))") }
        XCTAssertTrue(got === link)
        XCTAssertEqual(cache.attachingCount, 0)
    }

    /// A request already past its own deadline fails at once and starts no attach (a burst of late requests
    /// would each have replaced the attach before).
    func testARequestPastItsOwnDeadlineStartsNothing() {
        let clock = ManualClock()
        let cache = LinkCache<FakeLink>(clock: clock, hasEnded: { _ in false }, discard: { _ in })
        let attaches = LockedValue(0)
        let result = LockedValue<Outcome?>(nil)
        clock.advance(by: .seconds(5))
        cache.link("k", deadline: Deadline(clock.now()), attach: { _ in attaches.withLockedValue { $0 += 1 } }) { outcome in
            result.withLockedValue { $0 = outcome }
        }
        XCTAssertEqual(attaches.load(), 0)
        guard case .failure(let error)? = result.load() else { return XCTFail("not failed at once") }
        XCTAssertEqual(error.code, .timedOut)
        XCTAssertEqual(cache.attachingCount, 0)
    }

    func testRequestsBeforeTheDeadlineShareOneAttach() {
        let clock = ManualClock()
        let cache = LinkCache<FakeLink>(clock: clock, hasEnded: { _ in false }, discard: { _ in })
        let attaches = LockedValue<[@Sendable (Outcome) -> Void]>([])
        let answered = LockedValue(0)
        let deadline = Deadline(clock.now().advanced(by: .seconds(1)))
        for _ in 0..<3 {
            cache.link("k", deadline: deadline, attach: { done in attaches.withLockedValue { $0.append(done) } }) { outcome in
                if case .success = outcome { answered.withLockedValue { $0 += 1 } }
            }
        }
        XCTAssertEqual(attaches.load().count, 1)
        attaches.load()[0](.success(FakeLink()))
        XCTAssertEqual(answered.load(), 3)
    }
}
