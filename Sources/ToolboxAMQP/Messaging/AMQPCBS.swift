import Dispatch
import Foundation
import ToolboxCore

/// A token for the `$cbs` node: the token text (a SAS token or a JWT), its CBS type and when it expires.
public struct AMQPCBSToken: Sendable {
    /// The token; never logged.
    public var token: Secret<String>
    /// `servicebus.windows.net:sastoken` for SAS (Event Hubs) or `jwt` (Entra ID tokens; Service Bus uses it for SAS too).
    public var type: String
    public var expiresAt: Date

    public init(token: Secret<String>, type: String, expiresAt: Date) {
        self.token = token
        self.type = type
        self.expiresAt = expiresAt
    }

    public static let sasTokenType = "servicebus.windows.net:sastoken"
    public static let jwtType = "jwt"
}

/// Claims-based security: puts tokens on the `$cbs` node of a connection.
///
/// ```swift
/// let cbs = try AMQPCBSClient.attach(session: session)
/// try cbs.putToken(audience: "sb://ns.servicebus.windows.net/eh1", token: token)
/// ```
///
/// A client made with `init(session:detachesWhenIdle: true)` attaches the `$cbs` link pair for each put-token and
/// detaches it once no put-token is in flight, as the Azure SDK for Go does (`NegotiateClaim`): a token stays in
/// force after the links that put it are gone, and an idle pooled connection then holds no `$cbs` links (about
/// 5 KB of link state each; performance-history.md, branch `tls-idle`). A refresh pays one more round trip for
/// the attach, an hour minus 10 % before the token lapses. `attach(session:)` keeps the pair attached, as the
/// Python SDK does.
public final class AMQPCBSClient: @unchecked Sendable {
    // @unchecked Sendable: `current`, `waiting` and `inFlight` are only touched on the session's queue (asserted in
    // debug builds); `attached` is a `LockedValue` copy of `current` for reading from any thread.

    public let session: AMQPSession
    /// Whether the link pair is detached whenever no put-token is in flight.
    public let detachesWhenIdle: Bool
    private var current: AMQPRequestResponseLink?
    /// Put-tokens waiting for the link pair being attached (nil: no attach in flight).
    private var waiting: [@Sendable (Result<AMQPRequestResponseLink, AMQPError>) -> Void]?
    private var inFlight = 0
    private let attached = LockedValue<AMQPRequestResponseLink?>(nil)

    /// A client that attaches the `$cbs` link pair when it first puts a token.
    public init(session: AMQPSession, detachesWhenIdle: Bool) {
        self.session = session
        self.detachesWhenIdle = detachesWhenIdle
    }

    /// The attached `$cbs` link pair, if one is attached now.
    public var link: AMQPRequestResponseLink? { attached.load() }

    private var queue: DispatchQueue { session.queue }

    /// Attaches the `$cbs` link pair now and keeps it attached.
    public static func attach(session: AMQPSession, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                              completion: @escaping @Sendable (Result<AMQPCBSClient, AMQPError>) -> Void) {
        let client = AMQPCBSClient(session: session, detachesWhenIdle: false)
        let callback = Callback(queue, completion)
        client.queue.async {
            client.withLink(deadline: .never) { result in callback(result.map { _ in client }) }
        }
    }

    /// Blocking form of `attach`.
    public static func attach(session: AMQPSession) throws -> AMQPCBSClient {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<AMQPCBSClient, any Error>) -> Void) in
            attach(session: session, queue: queue) { done($0.mapError { $0 }) }
        }
    }

    /// The put-token request as the Azure SDKs send it (connection-sasl-cbs.md).
    static func putTokenRequest(audience: String, token: AMQPCBSToken) -> AMQPMessage {
        var message = AMQPMessage(value: .string(token.token.exposedValue))
        message.properties = AMQPProperties(messageID: .uuid(RandomUUID.make()))
        message.applicationProperties = [
            "operation": "put-token",
            "type": .string(token.type),
            "name": .string(audience),
            "expiration": .timestamp(Int64(clampingMilliseconds: token.expiresAt.timeIntervalSince1970)),
        ]
        return message
    }

    /// Puts `token` for `audience`; succeeds on any 2xx status. `timeout` covers attaching the link pair (when
    /// it is not attached) and the request.
    public func putToken(audience: String, token: AMQPCBSToken, timeout: Duration = .seconds(60),
                         queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                         completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        let callback = Callback(queue, completion)
        let deadline = Deadline.after(timeout)
        let request = Self.putTokenRequest(audience: audience, token: token)
        self.queue.async {
            self.inFlight += 1
            self.withLink(deadline: deadline) { attached in
                let link: AMQPRequestResponseLink
                switch attached {
                case .failure(let error):
                    self.requestEnded()
                    return callback(.failure(error))
                case .success(let attachedLink):
                    link = attachedLink
                }
                let remaining = Duration.clampingSeconds(max(0.001, deadline.secondsRemaining))
                link.request(request, timeout: remaining, queue: self.queue) { result in
                    self.requestEnded()
                    callback(result.flatMap { response in
                        // No status (or none we can read) is no success: it read as 0 and was reported as "status 0".
                        guard let status = response.responseStatusCode else {
                            return .failure(AMQPError(.requestFailed,
                                "CBS put-token for \(audience): the answer carries no status-code"))
                        }
                        guard (200..<300).contains(status) else {
                            return .failure(AMQPError(.requestFailed,
                                "CBS put-token for \(audience) failed with status \(status): "
                                    + Redaction.peerText(Redaction.redact(response.responseStatusDescription ?? "no description",
                                                                          [token.token.exposedValue]))))
                        }
                        return .success(())
                    })
                }
            }
        }
    }

    /// Blocking form of `putToken`.
    public func putToken(audience: String, token: AMQPCBSToken, timeout: Duration = .seconds(60)) throws {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<Void, any Error>) -> Void) in
            putToken(audience: audience, token: token, timeout: timeout, queue: queue) { done($0.mapError { $0 }) }
        }
    }

    /// The attached pair, attaching one if none is (concurrent callers share one attach). Session queue only.
    private func withLink(deadline: Deadline,
                          _ completion: @escaping @Sendable (Result<AMQPRequestResponseLink, AMQPError>) -> Void) {
        debugAssertOnQueue(queue)
        if let current, !current.hasEnded { return completion(.success(current)) }
        if waiting != nil {
            waiting?.append(completion)
            return
        }
        waiting = [completion]
        AMQPRequestResponseLink.attach(session: session, address: "$cbs", deadline: deadline, queue: queue) { result in
            let waiters = self.waiting ?? []
            self.waiting = nil
            if case .success(let link) = result {
                self.current = link
                self.attached.withLockedValue { $0 = link }
            }
            for waiter in waiters { waiter(result) }
        }
    }

    /// Counts a put-token out; the last one out detaches the pair when `detachesWhenIdle`. Session queue only.
    private func requestEnded() {
        debugAssertOnQueue(queue)
        inFlight -= 1
        guard detachesWhenIdle, inFlight == 0, waiting == nil, let link = current else { return }
        current = nil
        attached.withLockedValue { $0 = nil }
        link.close(queue: queue) { _ in }
    }
}

/// Keeps a CBS token fresh: puts one now and again when 10 % of its lifetime remains (what the Azure SDKs
/// do; at least 30 s or half the lifetime before expiry, see `refreshDelay`), retrying failures with backoff until
/// cancelled: `retryDelay`, doubled after each failure in a row up to `maxRetryDelay`, ±20 % jitter, and never later
/// than halfway to the expiry of the token last put (so a failing refresh is retried more often as that token's end
/// nears). It stops for good when the connection or session ended, and on a detached `$cbs` link only when the
/// client keeps its pair attached (`detachesWhenIdle` false): a per-put-token pair refused once is retried.
///
/// ```swift
/// let refresher = AMQPCBSTokenRefresher(cbs: cbs, audience: audience) { audience, done in
///     done(.success(AMQPCBSToken(token: Secret(makeSAS(audience)), type: "jwt", expiresAt: .now + 3600)))
/// }
/// refresher.start { firstResult in ... }
/// // later: refresher.cancel()
/// ```
public final class AMQPCBSTokenRefresher: Cancellable, @unchecked Sendable {
    // @unchecked Sendable: mutable state is only touched on `queue` (asserted in debug builds), except
    // `successes`, which is a `LockedValue` so tests may read it from any thread.

    public typealias TokenProvider = @Sendable (
        _ audience: String, _ completion: @escaping @Sendable (Result<AMQPCBSToken, any Error>) -> Void) -> Void

    let cbs: AMQPCBSClient
    public let audience: String
    let provider: TokenProvider
    /// Fraction of the lifetime after which the token is renewed.
    let refreshFraction: Double
    let retryDelay: Double
    let maxRetryDelay: Double
    /// How long one put-token may wait for `$cbs` to answer.
    let putTokenTimeout: Duration
    let clock: any ToolboxClock
    /// Serial, on libdispatch's overcommit pool unless `targetQueue` is given: targeting the non-overcommit
    /// global pool saved a few threads per burst of connections, but a refresh could then wait behind blocked
    /// global-queue work on a loaded 2-core machine and a short-lived token lapsed (seen once under TSan).
    /// Messaging connections target their own (non-blocking) connection queue instead: a queue of its own per
    /// connection let a burst of 50 connections start a thread for each refresher with work (threads 8 → 21–24
    /// under load, each with its stack and malloc arena; performance-history.md, branch `tls-idle`).
    private let queue: DispatchQueue
    private var timer: (any Cancellable)?
    /// Failed refreshes since the last success, and when the token last put expires.
    private var failuresInARow = 0
    private var currentExpiry: Date?
    private var cancelled = false
    private var firstCompletion: Callback<Void>?
    private var onRefreshFailure: (@Sendable (AMQPError) -> Void)?
    /// How many put-tokens succeeded (for tests), readable from any thread.
    @_spi(Testing) public var refreshCount: Int { successes.load() }
    private let successes = LockedValue(0)

    /// `targetQueue` is where the refresher's own serial queue runs (nil: libdispatch's overcommit pool);
    ///   the token provider is called there, so give a queue that never blocks.
    public init(cbs: AMQPCBSClient, audience: String, refreshFraction: Double = 0.9, retryDelay: Duration = .seconds(5),
                maxRetryDelay: Duration = .seconds(60), putTokenTimeout: Duration = .seconds(60), clock: any ToolboxClock = SystemClock(),
                targetQueue: DispatchQueue? = nil,
                onRefreshFailure: (@Sendable (AMQPError) -> Void)? = nil, provider: @escaping TokenProvider) {
        self.queue = LibraryQueues.makeQueue(label: "ToolboxAMQP.cbs-refresher", target: targetQueue)
        self.cbs = cbs
        self.audience = audience
        self.provider = provider
        self.refreshFraction = min(max(refreshFraction, 0.1), 0.99)
        // Out-of-range values fall back to the defaults rather than trap or spin: the engine counts in seconds.
        let longest = Duration.seconds(1_000_000_000)
        self.retryDelay = retryDelay > .zero && retryDelay <= longest ? retryDelay.toolboxSeconds : 5
        self.maxRetryDelay = max(self.retryDelay, maxRetryDelay <= longest ? maxRetryDelay.toolboxSeconds : 60)
        self.putTokenTimeout = putTokenTimeout > .zero && putTokenTimeout <= longest ? putTokenTimeout : .seconds(60)
        self.clock = clock
        self.onRefreshFailure = onRefreshFailure
    }

    /// Puts the first token; `completion` reports that first attempt, later refreshes run on their own.
    public func start(queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                      completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        let callback = Callback(callbackQueue, completion)
        queue.async {
            self.firstCompletion = callback
            self.refresh()
        }
    }

    public func cancel() {
        queue.async {
            self.cancelled = true
            self.timer?.cancel()
            self.timer = nil
        }
    }

    private func refresh() {
        debugAssertOnQueue(queue)
        guard !cancelled else { return }
        let audience = self.audience
        provider(audience) { result in
            self.queue.async {
                switch result {
                case .failure(let error):
                    self.finished(.failure(AMQPError(.requestFailed, "token provider failed for \(audience): \(error)")), token: nil)
                case .success(let token):
                    self.cbs.putToken(audience: audience, token: token, timeout: self.putTokenTimeout,
                                      queue: self.queue) { put in
                        self.finished(put, token: token)
                    }
                }
            }
        }
    }

    private func finished(_ result: Result<Void, AMQPError>, token: AMQPCBSToken?) {
        debugAssertOnQueue(queue)
        if let first = firstCompletion {
            firstCompletion = nil
            first(result)
        }
        let delay: Double
        switch result {
        case .success:
            successes.withLockedValue { $0 += 1 }
            failuresInARow = 0
            currentExpiry = token?.expiresAt
            delay = Self.refreshDelay(lifetime: token?.expiresAt.timeIntervalSinceNow ?? 0, fraction: refreshFraction)
        case .failure(let error):
            onRefreshFailure?(error)
            // A connection or session that ended will not heal by retrying on it; the owner rebuilds and restarts.
            // A detached `$cbs` link is the same when the pair is kept, but a client that attaches a fresh pair per
            // put-token saw only that one attach refused or detached (server busy): the next refresh attaches anew.
            if error.code == .connectionClosed || error.code == .sessionEnded { return }
            if error.code == .linkDetached, !cbs.detachesWhenIdle { return }
            delay = Self.retryDelay(afterFailures: failuresInARow, initial: retryDelay, maximum: maxRetryDelay,
                                    untilExpiry: currentExpiry?.timeIntervalSinceNow)
                * Double.random(in: 0.8...1.2)
            failuresInARow += 1
        }
        guard !cancelled else { return }
        timer = clock.schedule(at: clock.now().advanced(bySeconds: delay), on: queue) { [weak self] in self?.refresh() }
    }

    /// When to put the next token after one of `lifetime` seconds was accepted: after `fraction` of it (the
    /// SDKs' 90 %), but never closer to its expiry than 30 s or half its lifetime, whichever is less. A refresh
    /// attaches the `$cbs` pair before the put-token (one more round trip), and 10 % of a short-lived token is
    /// only a few hundred milliseconds (a 2 s test token lapsed once under load); an hour-long token is still
    /// renewed after 54 minutes.
    package static func refreshDelay(lifetime: Double, fraction: Double) -> Double {
        // An endless token is never renewed (as before); a lifetime that is no number is renewed at once.
        guard lifetime.isFinite else { return lifetime > 0 ? lifetime : 0.001 }
        let lifetime = max(0, lifetime)
        return max(0.001, min(lifetime * fraction, lifetime - min(30, lifetime / 2)))
    }

    /// The delay before retrying a failed refresh (before jitter): `initial` doubled per earlier failure in a
    /// row, at most `maximum`, and at most half the time left until the last token put expires (at least 1 s).
    package static func retryDelay(afterFailures failures: Int, initial: Double, maximum: Double, untilExpiry: Double?) -> Double {
        var delay = min(maximum, initial * Double(1 << min(max(failures, 0), 30)))
        if let untilExpiry, untilExpiry.isFinite { delay = min(delay, max(1, untilExpiry / 2)) }
        return delay
    }
}
