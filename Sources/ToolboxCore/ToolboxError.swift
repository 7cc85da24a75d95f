/// The one error type every module of the toolbox throws or delivers.
///
/// ```swift
/// do { try producer.send(events) }
/// catch let error as ToolboxError where error.code == .messageSizeExceeded {
///     print(error.serviceCondition?.amqpCondition ?? "-")
/// }
/// ```
///
/// - `code` is what to branch on. Codes are open: each module adds its own as static members of
///   `ToolboxError.Code`; a name means one thing everywhere (`.timedOut` is `.timedOut` whoever raised it).
/// - `message` is for the person reading a log: what went wrong and what to change.
/// - `serviceCondition` is what the remote service said, exactly as it said it (AMQP condition, HTTP status,
///   sub-status, error code, request id, retry-after), when a service said anything.
/// - `underlying` is the error this one was raised for, kept so callers can walk the chain.
/// - `recovery` says what a client does about it (retry, rebuild the link or connection, fail).
///
/// Equality means equality: two errors are equal when every field is, the underlying error compared by a stable
/// representation (its type and description, or field by field when it is itself a `ToolboxError`).
///
/// Nothing in an error is secret: messages name keys, tokens and connection strings but never echo them, so
/// `description` may be logged as it is. Code that builds an error from a service's answer must not copy
/// credentials or signatures into it.
public struct ToolboxError: Error, Equatable, CustomStringConvertible, Sendable {
    public var code: Code
    public var message: String
    /// What the remote service said, when the error came from its answer.
    public var serviceCondition: ServiceCondition?
    /// The error this one was raised for (a socket error under a connection failure, a connector's error under
    /// a pool failure).
    public var underlying: (any Error)?
    /// What a client should do about the error. Defaults to the code's `defaultRecovery`.
    public var recovery: Recovery

    /// Creates an error; `recovery` defaults to what the code implies (`code.defaultRecovery`).
    public init(
        _ code: Code, _ message: String, serviceCondition: ServiceCondition? = nil, underlying: (any Error)? = nil,
        recovery: Recovery? = nil
    ) {
        self.code = code
        self.message = message
        self.serviceCondition = serviceCondition
        self.underlying = underlying
        self.recovery = recovery ?? code.defaultRecovery
    }

    /// `code: message`, then what the service said, then the underlying error unless the message already tells
    /// it (wrappers usually fold the inner error's message into their own).
    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let serviceCondition { text += " (\(serviceCondition))" }
        if let underlying {
            let inner = underlying as? ToolboxError
            if inner.map({ !message.contains($0.message) }) ?? true { text += " [caused by \(underlying)]" }
        }
        return text
    }

    /// `error` itself when it is already a `ToolboxError`; otherwise a new one with `code` and the error's text.
    package static func passing(_ error: any Error, orElse code: Code) -> ToolboxError {
        error as? ToolboxError ?? ToolboxError(code, "\(error)")
    }

    /// Whether a client may try again (after a delay, a new link or a new connection).
    public var isTransient: Bool { recovery != .fail }

    /// The first error of type `T` in the chain this error heads (itself included).
    public func first<T: Error>(_ type: T.Type) -> T? {
        var current: (any Error)? = self
        while let error = current {
            if let match = error as? T { return match }
            current = (error as? ToolboxError)?.underlying
        }
        return nil
    }

    public static func == (lhs: ToolboxError, rhs: ToolboxError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.serviceCondition == rhs.serviceCondition
            && lhs.recovery == rhs.recovery && Self.stableKey(lhs.underlying) == Self.stableKey(rhs.underlying)
    }

    /// A representation of an underlying error that is the same for equal errors: the full description of a
    /// `ToolboxError` (recursively), or the type and description of any other error.
    static func stableKey(_ error: (any Error)?) -> String? {
        guard let error else { return nil }
        if let error = error as? ToolboxError {
            return "ToolboxError(\(error.code.rawValue)|\(error.message)|\(error.serviceCondition.map { "\($0)" } ?? "")"
                + "|\(error.recovery.rawValue)|\(stableKey(error.underlying) ?? ""))"
        }
        return "\(String(reflecting: type(of: error)))(\(String(describing: error)))"
    }
}

extension ToolboxError {
    /// What went wrong, coarse enough to branch on. Open: modules add codes as static members in extensions.
    ///
    /// Two codes are equal when their names are; `defaultRecovery` is what an error with this code does when
    /// its raiser says nothing else.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public let defaultRecovery: Recovery

        public init(_ rawValue: String, defaultRecovery: Recovery = .fail) {
            self.rawValue = rawValue
            self.defaultRecovery = defaultRecovery
        }

        public var description: String { rawValue }
        public static func == (lhs: Code, rhs: Code) -> Bool { lhs.rawValue == rhs.rawValue }
        public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    }

    /// What a client does after an error, in the style of the Azure Go and Rust SDKs' error tables.
    public struct Recovery: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Transient: retry the operation (with backoff, or after the service's retry-after) on the same link or
        /// connection.
        public static let retry = Recovery("retry")
        /// The link (AMQP) is gone but the connection is fine: attach a new link and retry.
        public static let rebuildLink = Recovery("rebuildLink")
        /// The connection is unusable: discard it, connect again, then retry.
        public static let rebuildConnection = Recovery("rebuildConnection")
        /// Retrying cannot help (bad credentials, missing entity, message too large...): report to the caller.
        public static let fail = Recovery("fail")
    }
}

// Codes shared by every module. Modules add their own in extensions (see docs/api-conventions.md).
extension ToolboxError.Code {
    /// The operation's deadline passed.
    public static let timedOut = Self("timedOut", defaultRecovery: .retry)
    /// The operation was cancelled through its `Cancellable`.
    public static let cancelled = Self("cancelled")
    /// A blocking wrapper was called on a queue the library delivers on; waiting there would deadlock.
    public static let blockingCallOnLibraryQueue = Self("blockingCallOnLibraryQueue")
    /// The caller passed an argument the operation cannot use.
    public static let invalidArgument = Self("invalidArgument")
    /// A configuration value is out of range or inconsistent.
    public static let invalidConfiguration = Self("invalidConfiguration")
    /// The connection was closed (by the peer or locally) before the operation could finish.
    public static let connectionClosed = Self("connectionClosed", defaultRecovery: .rebuildConnection)
    /// Binding or listening on a local address failed.
    public static let listenFailed = Self("listenFailed")
    /// The client (or pool, or receiver) was closed; it does nothing more.
    public static let clientClosed = Self("clientClosed")
}

/// The errors ToolboxCore itself raises are `ToolboxError`s; the old name stays for code written against it.
public typealias CoreError = ToolboxError
