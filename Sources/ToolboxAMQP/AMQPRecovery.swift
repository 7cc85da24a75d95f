/// What a client should do after an `AMQPError`, in the style of the Azure Go and Rust SDKs' error tables.
public enum AMQPRecoveryAction: Sendable, Equatable {
    /// Transient: retry the operation (with backoff) on the same link.
    case retry
    /// The link is gone but the connection is fine: attach a new link and retry.
    case rebuildLink
    /// The connection (or its session) is unusable: reconnect, then retry.
    case rebuildConnection
    /// Retrying cannot help (bad credentials, missing entity, message too large...): report to the caller.
    case fail
}

extension AMQPError {
    /// Conditions that mean "retry later" on Azure and on brokers in general.
    static let retryableConditions: Set<AMQPSymbol> = [
        "com.microsoft:server-busy", "com.microsoft:timeout", "com.microsoft:operation-cancelled",
        "com.microsoft:container-close", AMQPRemoteError.resourceLimitExceeded,
    ]
    static let linkConditions: Set<AMQPSymbol> = [
        AMQPRemoteError.detachForced, AMQPRemoteError.stolen, AMQPRemoteError.linkRedirect,
        AMQPRemoteError.transferLimitExceeded,
    ]
    static let connectionConditions: Set<AMQPSymbol> = [
        AMQPRemoteError.connectionForced, AMQPRemoteError.framingError, AMQPRemoteError.connectionRedirect,
        AMQPRemoteError.internalError, AMQPRemoteError.windowViolation, AMQPRemoteError.errantLink,
        AMQPRemoteError.handleInUse, AMQPRemoteError.unattachedHandle, AMQPRemoteError.illegalState,
    ]

    /// The recommended reaction to this error.
    ///
    /// The peer's condition decides when there is one (`amqp:link:detach-forced` → rebuild the link,
    /// `amqp:connection:forced` → reconnect, `com.microsoft:server-busy` → retry, `amqp:unauthorized-access`,
    /// `amqp:not-found`, `amqp:link:message-size-exceeded`, `com.microsoft:entity-disabled` → fail); otherwise
    /// the local code does. Unknown conditions fail, so a new failure mode is never retried forever.
    public var recoveryAction: AMQPRecoveryAction {
        if let condition = remote?.condition {
            if Self.retryableConditions.contains(condition) { return .retry }
            if Self.linkConditions.contains(condition) { return .rebuildLink }
            if Self.connectionConditions.contains(condition) { return .rebuildConnection }
            return .fail
        }
        switch code {
        case .timedOut: return .retry
        case .linkDetached: return .rebuildLink
        case .transport, .connectionClosed, .sessionEnded, .decoding, .framing, .protocolViolation:
            return .rebuildConnection
        case .authentication, .limitExceeded, .invalidArgument, .cancelled, .encoding, .requestFailed:
            return .fail
        }
    }
}
