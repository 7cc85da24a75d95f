import Dispatch
import Logging
import ToolboxCore

/// Fetches a token without caching: one request to an identity endpoint (or one `az` run).
///
/// The completion may run on any queue, exactly once.
typealias TokenFetch = @Sendable (
    _ scopes: [String], _ deadline: Deadline, _ completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
) -> Void

/// A per-scope token cache with refresh ahead of expiry and single-flight fetching.
///
/// * A valid token that is not yet due for refresh is returned without I/O.
/// * When no valid token exists, the first caller starts one fetch and every later caller joins it: a thousand
///   callers with an expired token cause exactly one request.
/// * A token past its refresh time (`refreshOn`, else five minutes before expiry) is still handed out while one
///   background fetch replaces it; a failed background refresh is retried no sooner than `refreshRetryDelay`.
///
/// The lock guards the table only; fetches start and callers are answered after it is released. Each caller
/// times out at its own deadline; the shared fetch runs until the latest of the starter's deadline and 30 s.
final class TokenCache: Sendable {
    /// Seconds before expiry at which a token without `refreshOn` is refreshed (Azure's SDKs use 300).
    static let defaultRefreshOffset = 300
    /// Minimum seconds between background refresh attempts (Azure's SDKs use 30).
    static let defaultRefreshRetryDelay = 30

    private struct Entry {
        var token: AccessToken?
        var waiters: [TokenDelivery]?   // non-nil while a fetch is in flight
        var lastAttempt: Int = Int.min / 2
    }

    private let entries = LockedValue<[[String]: Entry]>([:])
    private let fetch: TokenFetch
    private let clock: @Sendable () -> Int
    private let refreshRetryDelay: Int
    private let name: String
    private let logger: Logger

    init(
        name: String, logger: Logger, clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds,
        refreshRetryDelay: Int = TokenCache.defaultRefreshRetryDelay, fetch: @escaping TokenFetch
    ) {
        self.name = name
        self.logger = logger
        self.clock = clock
        self.refreshRetryDelay = refreshRetryDelay
        self.fetch = fetch
    }

    /// The wall clock in UNIX seconds.
    static let systemClock: @Sendable () -> Int = { UTCDate.nowUnixSeconds() }

    private enum Plan {
        case deliver(AccessToken, refreshInBackground: Bool)
        case wait(startFetch: Bool)
    }

    func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        let key = scopes.sorted()
        let now = clock()
        let delivery = TokenDelivery(
            queue: queue, deadline: options.deadline, operation: "\(name).token(for: \(scopes))",
            completion: completion)
        if scopes.isEmpty {
            delivery.deliver(.failure(AuthError(.invalidArgument, "\(name).token(for:) needs at least one scope, "
                + "such as 'https://storage.azure.com/.default'")))
            return delivery
        }
        let plan: Plan = entries.withLockedValue { table in
            var entry = table[key] ?? Entry()
            defer { table[key] = entry }
            if let token = entry.token, token.expiresOn > now {
                let refreshAt = token.refreshOn ?? (token.expiresOn - Self.defaultRefreshOffset)
                let refresh = now >= refreshAt && entry.waiters == nil
                    && now - entry.lastAttempt >= refreshRetryDelay
                if refresh {
                    entry.waiters = []
                    entry.lastAttempt = now
                }
                return .deliver(token, refreshInBackground: refresh)
            }
            if entry.waiters == nil {
                entry.waiters = [delivery]
                entry.lastAttempt = now
                return .wait(startFetch: true)
            }
            entry.waiters?.append(delivery)
            return .wait(startFetch: false)
        }
        switch plan {
        case .deliver(let token, let refresh):
            delivery.deliver(.success(token))
            if refresh { startFetch(key: key, scopes: scopes, deadline: .after(seconds: 30)) }
        case .wait(let start):
            // The fetch is shared, so one impatient caller does not cut it short for the others: it gets at
            // least the 30 s a background refresh gets (each caller still times out at its own deadline).
            if start { startFetch(key: key, scopes: scopes, deadline: max(options.deadline, .after(seconds: 30))) }
        }
        return delivery
    }

    private func startFetch(key: [String], scopes: [String], deadline: Deadline) {
        logger.debug("fetching a token", metadata: ["credential": "\(name)", "scopes": "\(scopes)"])
        fetch(scopes, deadline) { [self] result in
            let waiters: [TokenDelivery] = entries.withLockedValue { table in
                var entry = table[key] ?? Entry()
                defer { table[key] = entry }
                if case .success(let token) = result { entry.token = token }
                defer { entry.waiters = nil }
                return entry.waiters ?? []
            }
            switch result {
            case .success(let token):
                logger.debug("fetched a token", metadata: [
                    "credential": "\(name)", "scopes": "\(scopes)", "expiresOn": "\(token.expiresOn)",
                ])
            case .failure(let error):
                logger.debug("token fetch failed", metadata: [
                    "credential": "\(name)", "scopes": "\(scopes)", "error": "\(error)",
                ])
            }
            for waiter in waiters { waiter.deliver(result) }
        }
    }
}
