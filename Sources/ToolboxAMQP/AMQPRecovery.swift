import ToolboxCore

/// What a client should do after an AMQP error; the old name of `ToolboxError.Recovery`.
public typealias AMQPRecoveryAction = ToolboxError.Recovery

extension ToolboxError {
    /// Conditions that mean "retry later" on Azure and on brokers in general. `amqp:resource-limit-exceeded` is
    /// not one: Azure sends it for a used-up quota (a full queue, too many connections or receivers), which the
    /// SDKs do not retry.
    static let retryableConditions: Set<AMQPSymbol> = [
        "com.microsoft:server-busy", "com.microsoft:timeout", "com.microsoft:operation-cancelled",
        "com.microsoft:container-close",
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

    /// The reaction a peer's condition calls for: `amqp:link:detach-forced` → rebuild the link,
    /// `amqp:connection:forced` → reconnect, `com.microsoft:server-busy` → retry; `amqp:unauthorized-access`,
    /// `amqp:not-found`, `amqp:link:message-size-exceeded`, `com.microsoft:entity-disabled` and every unknown
    /// condition → fail, so a new failure mode is never retried forever.
    static func recovery(forCondition condition: AMQPSymbol) -> Recovery {
        if retryableConditions.contains(condition) { return .retry }
        if linkConditions.contains(condition) { return .rebuildLink }
        if connectionConditions.contains(condition) { return .rebuildConnection }
        return .fail
    }

    /// A peer that closes the whole connection with `amqp:resource-limit-exceeded` is, for Proton-based peers and
    /// our own stack, saying the connection idled out (AMQP 1.0 part 2, 2.4.5): the connection is gone, not a
    /// quota used up, so the reaction is a new connection. The condition on anything else (a refused transfer, a
    /// `$management` answer, a detach) stays a used-up quota.
    package static func isIdleTimeoutClose(_ code: Code, _ condition: AMQPSymbol) -> Bool {
        code == .connectionClosed && condition == AMQPRemoteError.resourceLimitExceeded
    }

    /// The recommended reaction to this error: the peer's condition decides when there is one, otherwise the
    /// local code does (`.timedOut` → retry, `.linkDetached` → rebuild the link, transport and framing failures
    /// → reconnect). The same as `recovery`; kept for code written against the old `AMQPError`.
    public var recoveryAction: Recovery { recovery }
}
