import Foundation
import ToolboxCore

/// How the client authenticates during SASL negotiation.
public enum AMQPSASLMechanism: Sendable, CustomStringConvertible {
    /// Skip the SASL layer and send the AMQP header directly.
    case none
    /// `ANONYMOUS` (what the Azure SDKs use before CBS).
    case anonymous
    /// `PLAIN` with a user name and a password that never appears in logs or errors.
    case plain(username: String, password: Secret<String>)
    /// `EXTERNAL`: identity from the TLS client certificate.
    case external

    var symbol: AMQPSymbol? {
        switch self {
        case .none: return nil
        case .anonymous: return "ANONYMOUS"
        case .plain: return "PLAIN"
        case .external: return "EXTERNAL"
        }
    }

    /// The initial response; for PLAIN it is `\0user\0password` (RFC 4616).
    var initialResponse: [UInt8] {
        switch self {
        case .none, .anonymous, .external: return []
        case .plain(let username, let password):
            return [0] + Array(username.utf8) + [0] + Array(password.exposedValue.utf8)
        }
    }

    public var description: String {
        switch self {
        case .plain(let username, _): return "PLAIN(\(username))"
        default: return symbol?.rawValue ?? "none"
        }
    }
}

/// Settings of one AMQP connection.
public struct AMQPConnectionConfiguration: Sendable {
    /// Our container-id; defaults to a fresh UUID.
    public var containerID: String
    /// The `hostname` sent in sasl-init and open (virtual host; the namespace host for Azure).
    public var hostname: String?
    public var sasl: AMQPSASLMechanism
    /// Largest frame we accept; also what we advertise. At least 512 (the specification's minimum).
    public var maxFrameSize: UInt32
    /// Highest channel number we accept.
    public var channelMax: UInt16
    /// If the peer sends nothing for this long the connection fails; advertised so the peer heartbeats.
    public var idleTimeout: Duration?
    /// Deadline for the whole open handshake (transport, SASL, open).
    public var openTimeout: Duration
    /// Bounds on values decoded from the peer.
    public var decodingLimits: AMQPDecodingLimits
    /// Connection properties sent in open.
    public var properties: AMQPMap?

    public init(
        containerID: String = RandomUUID.string(), hostname: String? = nil,
        sasl: AMQPSASLMechanism = .anonymous, maxFrameSize: UInt32 = 65536, channelMax: UInt16 = 255,
        idleTimeout: Duration? = .seconds(60), openTimeout: Duration = .seconds(30), decodingLimits: AMQPDecodingLimits = .default,
        properties: AMQPMap? = nil
    ) {
        self.containerID = containerID
        self.hostname = hostname
        self.sasl = sasl
        self.maxFrameSize = max(512, maxFrameSize)
        self.channelMax = channelMax
        self.idleTimeout = idleTimeout
        self.openTimeout = openTimeout
        self.decodingLimits = decodingLimits
        self.properties = properties
    }
}

/// Completion plumbing shared by the connection, sessions and links: each callback runs exactly once, on
/// the caller's queue, never on the connection queue while state is being changed.
///
/// Two deliveries skip the hop to the caller's queue, because the body can run anywhere without harm:
/// `Blocking.deliveryQueue` (the blocking wrappers' body only stores the result and signals a semaphore, so
/// the waiting thread wakes one hop earlier) and `inline` (for internal completions that do nothing, such as
/// a settle nobody waits for).
struct Callback<T: Sendable>: Sendable {
    let queue: DispatchQueue?
    let once: CompletionOnce<Result<T, AMQPError>>

    /// `LibraryQueues.ignoredCompletions` takes completions that do nothing: they run where the result is decided
    /// (the connection's queue) instead of costing a block on that queue — and a thread wake-up — each (the
    /// emulator's outcome of every message it delivers and of every `$management` answer it sends).
    init(_ queue: DispatchQueue, _ body: @escaping @Sendable (Result<T, AMQPError>) -> Void) {
        self.queue = queue === Blocking.deliveryQueue || queue === LibraryQueues.ignoredCompletions ? nil : queue
        self.once = CompletionOnce(body)
    }

    private init(inline body: @escaping @Sendable (Result<T, AMQPError>) -> Void) {
        self.queue = nil
        self.once = CompletionOnce(body)
    }

    /// A callback whose body runs on the thread that completes it (the body must be trivial and non-blocking).
    static func inline(_ body: @escaping @Sendable (Result<T, AMQPError>) -> Void) -> Callback {
        Callback(inline: body)
    }

    /// Delivers `result` unless another one was delivered first. The race is decided here, on the calling
    /// thread, before the hop to the callback queue: deciding it in the queued block (as before) left `isDone`
    /// false while a result was on its way, so on a concurrent queue a deadline firing meanwhile could tell the
    /// caller "timed out" after the message was accepted (issue 13 item 12).
    func callAsFunction(_ result: Result<T, AMQPError>) {
        guard let handler = once.claim() else { return }
        if let queue {
            queue.async { handler(result) }
        } else {
            handler(result)
        }
    }

    /// True once a result was decided (delivered, or on its way to the callback queue).
    var isDone: Bool { once.isCompleted }
}

/// A cancellation handle that runs an action (which hops onto the connection queue itself).
struct AMQPCancellation: Cancellable {
    let action: @Sendable () -> Void
    func cancel() { action() }
}

/// Starts a local `detach` or `end` that waits for the peer's answer: `body` runs on `queue` with the callback
/// to complete when the answer comes; past `deadline` the callback fails with `.timedOut` (a late answer then
/// finds it done).
func startClosingHandshake(_ performative: String, on queue: DispatchQueue, deadline: Deadline,
                           callbackQueue: DispatchQueue,
                           completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void,
                           _ body: @escaping @Sendable (Callback<Void>) -> Void) {
    let callback = Callback(callbackQueue, completion)
    deadline.schedule(on: queue) {
        callback(.failure(AMQPError(.timedOut, "peer did not answer \(performative) before the deadline")))
    }
    queue.async { body(callback) }
}

extension Deadline {
    /// Runs `body` on `queue` when the deadline passes; never for `.never`.
    func schedule(on queue: DispatchQueue, _ body: @escaping @Sendable () -> Void) {
        guard self != .never else { return }
        queue.asyncAfter(deadline: instant.dispatchTime, execute: body)
    }

    /// Runs `body` on `queue` when the deadline passes, unless the returned handle is cancelled first; nil for
    /// `.never`. Unlike `asyncAfter`, a cancelled timer frees its closure and Dispatch's timer state at once.
    func scheduleCancellable(on queue: DispatchQueue, _ body: @escaping @Sendable () -> Void) -> (any Cancellable)? {
        guard self != .never else { return nil }
        return SystemClock().schedule(at: instant, on: queue, body)
    }
}
