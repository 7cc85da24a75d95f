import Dispatch

/// What a broker decides when a client attaches a link.
public enum AMQPLinkDecision: Sendable {
    /// The client attached a receiver: we send to it. `ready` gets our sender once the attach is answered.
    /// Our settle modes follow what the client asked for.
    case send(options: AMQPSenderOptions = .init(), ready: @Sendable (AMQPSender) -> Void)
    /// The client attached a sender: we receive. `onMessage` runs on `messageQueue` for each message; with
    /// `messageQueue: nil` it runs inline on the connection's queue as each message is parsed (it must not
    /// block), and settling it from there writes the disposition in the same turn, without a thread hop.
    case receive(options: AMQPReceiverOptions = .init(), messageQueue: DispatchQueue?,
                 onMessage: @Sendable (AMQPDelivery) -> Void, ready: @Sendable (AMQPReceiver) -> Void)
    /// Refuse the link: the client sees a detach carrying this error.
    case refuse(AMQPRemoteError)
}

/// The broker side of a connection: which SASL mechanisms are offered, how credentials are checked, and
/// what happens when a client attaches a link.
///
/// The broker role reuses the same frame parser, sessions, windows, credit and settlement code as the client
/// role; only the handshake and the answers to peer-initiated begin/attach differ. The closures run on the
/// connection's queue and must not block.
public struct AMQPServerConfiguration: Sendable {
    /// Offered in sasl-mechanisms; empty means the client must skip SASL.
    public var mechanisms: [AMQPSymbol]
    /// Checks a sasl-init (mechanism, initial response, hostname); true means outcome ok.
    public var authenticate: @Sendable (AMQPSymbol, [UInt8]?, String?) -> Bool
    /// Accept clients that send the AMQP header directly, without SASL.
    public var allowWithoutSASL: Bool
    /// Called for every link a client attaches.
    public var linkAttached: @Sendable (AMQPSession, AMQPAttach) -> AMQPLinkDecision

    public init(mechanisms: [AMQPSymbol] = ["ANONYMOUS", "PLAIN"], allowWithoutSASL: Bool = true,
                authenticate: @escaping @Sendable (AMQPSymbol, [UInt8]?, String?) -> Bool = { _, _, _ in true },
                linkAttached: @escaping @Sendable (AMQPSession, AMQPAttach) -> AMQPLinkDecision) {
        self.mechanisms = mechanisms
        self.allowWithoutSASL = allowWithoutSASL
        self.authenticate = authenticate
        self.linkAttached = linkAttached
    }

    /// The user name and password of a PLAIN initial response (`[authzid] NUL authcid NUL passwd`).
    public static func plainCredentials(_ response: [UInt8]?) -> (username: String, password: String)? {
        guard let response else { return nil }
        let parts = response.split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        return (String(decoding: parts[1], as: UTF8.self), String(decoding: parts[2], as: UTF8.self))
    }
}
