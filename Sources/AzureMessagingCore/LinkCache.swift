import Dispatch
import ToolboxCore

/// Links attached on demand and shared: concurrent requests for one key share one attach; a link that
/// failed is forgotten (`remove`) so the next request attaches a new one.
///
/// Every attach has a deadline: a peer that never answers (attach, or the CBS put-token before it) fails the
/// waiting requests with `.timedOut` when it passes and frees the key, so the next request starts a new attach
/// instead of queueing behind one that will never finish. A link whose attach completes after its deadline is
/// handed to `discard` (detached), never cached.
package final class LinkCache<Link: AnyObject & Sendable>: Sendable {
    private enum Entry {
        /// An attach in progress, with the deadline that ends it and the requests waiting for it.
        case attaching(id: UInt64, until: MonotonicInstant, [@Sendable (Result<Link, AzureMessagingError>) -> Void])
        case ready(Link)
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var nextID: UInt64 = 0
    }

    private let state = LockedValue(State())
    private let discard: @Sendable (Link) -> Void
    private let hasEnded: @Sendable (Link) -> Bool
    private let clock: any ToolboxClock
    private let timers = LinkCacheTimers.queue

    /// - parameters:
    ///   - clock: runs attach deadlines.
    ///   - hasEnded: whether a cached link has ended (the peer detached it, say because its token lapsed); an
    ///     ended link is replaced by a new attach on the next request.
    ///   - discard: closes a link that attached too late to be used.
    package init(clock: any ToolboxClock = SystemClock(), hasEnded: @escaping @Sendable (Link) -> Bool,
                discard: @escaping @Sendable (Link) -> Void) {
        self.clock = clock
        self.hasEnded = hasEnded
        self.discard = discard
    }

    /// The link for `key`, attaching it with `attach` when there is none; an attach still unfinished at
    /// `deadline` fails its waiters with `.timedOut` and frees the key.
    package func link(_ key: String, deadline: Deadline,
                     attach: (@escaping @Sendable (Result<Link, AzureMessagingError>) -> Void) -> Void,
                     completion: @escaping @Sendable (Result<Link, AzureMessagingError>) -> Void) {
        let now = clock.now()
        let step: LinkStep<Link> = state.withLockedValue { state in
            switch state.entries[key] {
            case .ready(let link)? where !hasEnded(link): return .ready(link)
            case _ where deadline.instant <= now:
                // A request already past its own deadline starts nothing (a burst of them started an attach each).
                return .expired
            case .attaching(let id, let until, var waiters)? where until > now:
                waiters.append(completion)
                state.entries[key] = .attaching(id: id, until: until, waiters)
                return .wait
            case .attaching(_, _, let waiters)?:
                // Its deadline has passed and its expiry has not run yet: joining it would fail this request at
                // once (a retry made right after a timed-out attach did). Its waiters fail now, as the expiry
                // would have failed them, and a new attach starts; the old one, when it ends, finds itself replaced.
                state.nextID &+= 1
                state.entries[key] = .attaching(id: state.nextID, until: deadline.instant, [completion])
                return .replace(expired: waiters, state.nextID)
            case .ready?, nil:
                state.nextID &+= 1
                state.entries[key] = .attaching(id: state.nextID, until: deadline.instant, [completion])
                return .attach(state.nextID)
            }
        }
        let id: UInt64
        switch step {
        case .ready(let link): return completion(.success(link))
        case .wait: return
        case .expired: return completion(.failure(Self.expired(key)))
        case .attach(let new): id = new
        case .replace(let expired, let new):
            id = new
            for waiter in expired { waiter(.failure(Self.expired(key))) }
        }
        let expiry = clock.schedule(at: deadline.instant, on: timers) { [weak self] in
            self?.finish(key, id: id, .failure(Self.expired(key)))
        }
        attach { [self] result in
            expiry.cancel()
            finish(key, id: id, result)
        }
    }

    private static func expired(_ key: String) -> AzureMessagingError {
        AzureMessagingError(.timedOut, "attaching '\(key)': no answer before the deadline", recovery: .retry)
    }

    /// Completes the attach `id` of `key` once: caches or forgets the link and answers its waiters. A link
    /// from an attach that already ended (timed out) is discarded.
    private func finish(_ key: String, id: UInt64, _ result: Result<Link, AzureMessagingError>) {
        let waiters: [@Sendable (Result<Link, AzureMessagingError>) -> Void]? = state.withLockedValue { state in
            guard case .attaching(let current, _, let waiters)? = state.entries[key], current == id else { return nil }
            if case .success(let link) = result { state.entries[key] = .ready(link) } else { state.entries[key] = nil }
            return waiters
        }
        guard let waiters else {
            if case .success(let link) = result { discard(link) }
            return
        }
        for waiter in waiters { waiter(result) }
    }

    /// Forgets `link` if it is still the one cached for `key`.
    package func remove(_ key: String, _ link: Link) {
        state.withLockedValue { state in
            if case .ready(let cached)? = state.entries[key], cached === link { state.entries[key] = nil }
        }
    }

    /// Every attached link (for closing).
    package var all: [Link] {
        state.withLockedValue {
            $0.entries.values.compactMap { if case .ready(let link) = $0 { return link } else { return nil } }
        }
    }

    /// Keys with an attach in progress (for tests: a stuck attach would stay here).
    package var attachingCount: Int {
        state.withLockedValue { $0.entries.values.filter { if case .attaching = $0 { return true } else { return false } }.count }
    }
}

/// The queue every `LinkCache`'s attach deadlines run on (one for all: they only take a lock and call back).
private enum LinkCacheTimers {
    static let queue = LibraryQueues.makeQueue(label: "AzureMessaging.link-deadlines")
}

private enum LinkStep<Link> {
    case ready(Link), wait, attach(UInt64), expired
    /// A new attach replaces one whose deadline passed; its waiters are failed.
    case replace(expired: [@Sendable (Result<Link, AzureMessagingError>) -> Void], UInt64)
}
