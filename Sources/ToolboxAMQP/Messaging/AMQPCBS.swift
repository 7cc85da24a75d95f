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
public final class AMQPCBSClient: Sendable {
    public let link: AMQPRequestResponseLink

    init(link: AMQPRequestResponseLink) { self.link = link }

    /// Attaches the `$cbs` link pair.
    public static func attach(session: AMQPSession, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                              completion: @escaping @Sendable (Result<AMQPCBSClient, AMQPError>) -> Void) {
        AMQPRequestResponseLink.attach(session: session, address: "$cbs", queue: queue) { result in
            completion(result.map(AMQPCBSClient.init))
        }
    }

    /// Blocking form of `attach`.
    public static func attach(session: AMQPSession) throws -> AMQPCBSClient {
        AMQPCBSClient(link: try AMQPRequestResponseLink.attach(session: session, address: "$cbs"))
    }

    /// The put-token request as the Azure SDKs send it (connection-sasl-cbs.md).
    static func putTokenRequest(audience: String, token: AMQPCBSToken) -> AMQPMessage {
        var message = AMQPMessage(value: .string(token.token.exposedValue))
        message.properties = AMQPProperties(messageID: .uuid(.randomV4()))
        message.applicationProperties = [
            "operation": "put-token",
            "type": .string(token.type),
            "name": .string(audience),
            "expiration": .timestamp(Int64(clampingMilliseconds: token.expiresAt.timeIntervalSince1970)),
        ]
        return message
    }

    /// Puts `token` for `audience`; succeeds on any 2xx status.
    public func putToken(audience: String, token: AMQPCBSToken, timeout: Duration = .seconds(60),
                         queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                         completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        link.request(Self.putTokenRequest(audience: audience, token: token), timeout: timeout, queue: queue) { result in
            completion(result.flatMap { response in
                let status = response.responseStatusCode ?? 0
                guard (200..<300).contains(status) else {
                    return .failure(AMQPError(.requestFailed,
                        "CBS put-token for \(audience) failed with status \(status): \(response.responseStatusDescription ?? "no description")"))
                }
                return .success(())
            })
        }
    }

    /// Blocking form of `putToken`.
    public func putToken(audience: String, token: AMQPCBSToken, timeout: Duration = .seconds(60)) throws {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<Void, any Error>) -> Void) in
            putToken(audience: audience, token: token, timeout: timeout, queue: queue) { done($0.mapError { $0 }) }
        }
    }
}

/// Keeps a CBS token fresh: puts one now and again when 10 % of its lifetime remains (what the Azure SDKs
/// do), retrying failures with backoff until cancelled: `retryDelay`, doubled after each failure in a row up to
/// `maxRetryDelay`, ±20 % jitter, and never later than halfway to the expiry of the token last put (so a
/// failing refresh is retried more often as that token's end nears).
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
    /// Serial and its own (libdispatch's overcommit pool): targeting the non-overcommit global pool saved a few
    /// threads per burst of connections, but a refresh could then wait behind blocked global-queue work on a
    /// loaded 2-core machine and a short-lived token lapsed (seen once under TSan), so a refresh keeps its thread.
    private let queue = LibraryQueues.makeQueue(label: "ToolboxAMQP.cbs-refresher")
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

    public init(cbs: AMQPCBSClient, audience: String, refreshFraction: Double = 0.9, retryDelay: Duration = .seconds(5),
                maxRetryDelay: Duration = .seconds(60), putTokenTimeout: Duration = .seconds(60), clock: any ToolboxClock = SystemClock(),
                onRefreshFailure: (@Sendable (AMQPError) -> Void)? = nil, provider: @escaping TokenProvider) {
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
            let lifetime = max(0, token?.expiresAt.timeIntervalSinceNow ?? 0)
            delay = max(0.001, lifetime * refreshFraction)
        case .failure(let error):
            onRefreshFailure?(error)
            // A link or connection failure will not heal by retrying on it; the owner rebuilds and restarts.
            if error.code == .linkDetached || error.code == .connectionClosed || error.code == .sessionEnded { return }
            delay = Self.retryDelay(afterFailures: failuresInARow, initial: retryDelay, maximum: maxRetryDelay,
                                    untilExpiry: currentExpiry?.timeIntervalSinceNow)
                * Double.random(in: 0.8...1.2)
            failuresInARow += 1
        }
        guard !cancelled else { return }
        timer = clock.schedule(at: clock.now().advanced(bySeconds: delay), on: queue) { [weak self] in self?.refresh() }
    }

    /// The delay before retrying a failed refresh (before jitter): `initial` doubled per earlier failure in a
    /// row, at most `maximum`, and at most half the time left until the last token put expires (at least 1 s).
    package static func retryDelay(afterFailures failures: Int, initial: Double, maximum: Double, untilExpiry: Double?) -> Double {
        var delay = min(maximum, initial * Double(1 << min(max(failures, 0), 30)))
        if let untilExpiry, untilExpiry.isFinite { delay = min(delay, max(1, untilExpiry / 2)) }
        return delay
    }
}
