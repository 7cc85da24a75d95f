import Dispatch
import ToolboxCore

/// What sender and receiver links share: the attach/detach handshake and the link's identity.
///
/// Use the concrete `AMQPSender` and `AMQPReceiver`.
public class AMQPLink: @unchecked Sendable {
    // @unchecked Sendable: all mutable state is confined to `session.queue` (the connection's queue; its entry
    // points assert it in debug builds), except `ended` and `peerAttachSnapshot`, `LockedValue`s read from any thread.

    enum State { case attaching, attached, detachSent, detached }

    let session: AMQPSession
    /// The link name (unique per connection for a given direction; RabbitMQ refuses duplicates).
    public let name: String
    /// Our handle, once registered.
    private(set) var handle: UInt32 = 0
    var state: State = .attaching
    private(set) var remoteHandle: UInt32?
    /// Whether the peer's attach arrived (the attach itself is kept once, in `peerAttachSnapshot`: a second copy
    /// inline in every link object made each idle link larger; performance-history.md, branch `tls-idle`).
    private(set) var isRemotelyAttached = false
    /// The peer's max-message-size from its attach, kept apart for the send path (no lock per send).
    private(set) var remoteMaxMessageSize: UInt64?
    private var attachCallback: (() -> Void, (AMQPError) -> Void)?
    /// The attach deadline's timer, cancelled once the attach is decided (an armed timer and what it captured
    /// would otherwise stay allocated until the deadline, on every idle connection).
    private var attachTimer: (any Cancellable)?
    private var detachCallbacks: [Callback<Void>] = []
    private var endObservers: [Callback<Void>] = []
    private(set) var terminalError: AMQPError? {
        didSet {
            if let terminalError {
                ended.withLockedValue { $0 = true }
                endErrorMirror.withLockedValue { $0 = terminalError }
            }
        }
    }
    /// Set (before any observer is called) once the link has ended; readable from any thread.
    private let ended = LockedValue(false)
    private let endErrorMirror = LockedValue<AMQPError?>(nil)

    /// Why the link ended — detached with an error by either side (a message it could not decode, say), its session
    /// or connection failed, or (without an error) it was detached or closed; nil while it is attached. Readable
    /// from any thread.
    public var endError: AMQPError? { endErrorMirror.load() }

    init(session: AMQPSession, name: String) {
        self.session = session
        self.name = name
    }

    var queue: DispatchQueue { session.queue }

    /// The peer's attach (its terminus, properties, offered capabilities, max-message-size), once attached.
    ///
    /// Read it from the attach completion or later; it never changes afterwards.
    public var peerAttach: AMQPAttach? { peerAttachSnapshot.load() }

    /// The peer's attach, readable from any thread (including the connection's queue).
    private let peerAttachSnapshot = LockedValue<AMQPAttach?>(nil)

    /// Whether the link has ended (detached by either side, or its session or connection ended), from any thread.
    /// An ended link never carries messages again: attach a new one.
    public var hasEnded: Bool { ended.load() }

    /// Calls `handler` once when the link ends after having attached, with the reason (the peer's detach error,
    /// such as `amqp:unauthorized-access` when its token lapsed, or the session's or connection's end).
    public func onEnd(queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                      _ handler: @escaping @Sendable (AMQPError) -> Void) {
        let callback = Callback<Void>(callbackQueue) { result in if case .failure(let error) = result { handler(error) } }
        queue.async {
            if let error = self.terminalError { callback(.failure(error)) } else { self.endObservers.append(callback) }
        }
    }

    private func notifyEnded(_ error: AMQPError) {
        let observers = endObservers
        endObservers = []
        for observer in observers { observer(.failure(error)) }
    }

    private func recordPeerAttach(_ attach: AMQPAttach) {
        isRemotelyAttached = true
        remoteMaxMessageSize = attach.maxMessageSize
        peerAttachSnapshot.withLockedValue { $0 = attach }
    }

    /// Detaches the link with `closed=true` and waits for the peer's detach (until `deadline`, then `.timedOut`).
    public func close(error: AMQPRemoteError? = nil, deadline: Deadline = .never,
                      queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                      completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        startClosingHandshake("detach", on: queue, deadline: deadline, callbackQueue: callbackQueue,
                              completion: completion) { callback in
            switch self.state {
            case .detached:
                callback(.success(()))
            case .detachSent:
                self.detachCallbacks.append(callback)
            case .attaching, .attached:
                self.detachCallbacks.append(callback)
                self.state = .detachSent
                self.session.send(.detach(AMQPDetach(handle: self.handle, closed: true, error: error)))
            }
        }
    }

    /// Blocking form of `close`, waiting at most `timeout`.
    public func close(error: AMQPRemoteError? = nil, timeout: Duration = .seconds(60)) throws {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<Void, any Error>) -> Void) in
            close(error: error, deadline: .after(timeout), queue: queue) { done($0.mapError { $0 }) }
        }
    }

    // MARK: - Session-facing (connection queue only)

    /// Registers with the session and sends our attach; `onAttached` runs when the peer's attach arrives.
    func start(_ attach: (UInt32) -> AMQPAttach, onAttached: @escaping () -> Void,
               onFailed: @escaping (AMQPError) -> Void) {
        debugAssertOnQueue(queue)
        guard let endpoint = self as? any LinkEndpoint, let handle = session.register(endpoint) else {
            state = .detached
            // A session that ended (its connection dropped) is a lost connection the caller may rebuild and retry;
            // only a live session without a free handle is the caller's own limit.
            // Why the connection ended, when it did (a peer's `amqp:connection:forced` with its description), not
            // only that it did: the caller sees the peer's reason.
            onFailed(session.acceptsLinks
                ? AMQPError(.invalidArgument, "the session has no free link handle")
                // Still `.sessionEnded` (rebuild the connection, as for any stale one): only the words are added.
                : session.connection.terminalError.map { ended in
                    var error = AMQPError(.sessionEnded, "the connection ended before the link could attach: \(ended.message)",
                                          remote: ended.remote)
                    error.recovery = .rebuildConnection
                    return error
                } ?? AMQPError(.sessionEnded, "the session ended (its connection closed) before the link could attach"))
            return
        }
        self.handle = handle
        attachCallback = (onAttached, onFailed)
        session.send(.attach(attach(handle)))
    }

    /// Broker role: registers, answers the peer's attach with ours (echoing its terminus) and is attached at once.
    func accept(_ peer: AMQPAttach) -> Bool {
        debugAssertOnQueue(queue)
        guard let endpoint = self as? any LinkEndpoint, let handle = session.register(endpoint) else {
            state = .detached
            return false
        }
        self.handle = handle
        var reply = AMQPAttach(name: name, handle: handle, role: peer.role == .sender ? .receiver : .sender,
                               source: peer.source, target: peer.target)
        reply.senderSettleMode = peer.senderSettleMode
        reply.receiverSettleMode = peer.receiverSettleMode
        customize(&reply)
        session.send(.attach(reply))
        recordPeerAttach(peer)
        remoteHandle = peer.handle
        state = .attached
        didAttach(peer)
        return true
    }

    func receivedAttach(_ attach: AMQPAttach) {
        debugAssertOnQueue(queue)
        recordPeerAttach(attach)
        remoteHandle = attach.handle
        // A peer refusing a link attaches without the terminus and detaches right after; wait for that detach.
        let refused = (attach.role == .receiver && attach.target == nil) || (attach.role == .sender && attach.source == nil)
        guard !refused, state == .attaching else { return }
        state = .attached
        didAttach(attach)
        attachDecided()
        let callbacks = attachCallback
        attachCallback = nil
        callbacks?.0()
    }

    func receivedDetach(_ detach: AMQPDetach) {
        debugAssertOnQueue(queue)
        if state != .detachSent, state != .detached {
            session.send(.detach(AMQPDetach(handle: handle, closed: detach.closed)))
        }
        let error = detach.error.map { AMQPError(.linkDetached, "peer detached link '\(name)'", remote: $0) }
        finish(error, local: state == .detachSent && detach.error == nil)
    }

    func terminated(_ error: AMQPError) { finish(error, local: false) }

    /// Ends the link once; `local` means our own detach completed normally.
    func finish(_ error: AMQPError?, local: Bool) {
        debugAssertOnQueue(queue)
        guard state != .detached else { return }
        state = .detached
        session.unregister(handle: handle, remoteHandle: remoteHandle)
        // A link we detached with an error (a message it could not decode) keeps that reason when the peer's detach
        // answers ours: the answer said only "detached", and `endError` lost why.
        let failure = terminalError ?? error
            ?? AMQPError(.linkDetached, local ? "link '\(name)' detached" : "peer detached link '\(name)'")
        terminalError = failure
        attachDecided()
        let callbacks = attachCallback
        attachCallback = nil
        callbacks?.1(failure)
        didTerminate(failure)
        for callback in detachCallbacks { callback(error.map { .failure($0) } ?? .success(())) }
        detachCallbacks = []
        notifyEnded(failure)
    }

    /// Detaches because of a local decision (limit exceeded, undecodable message), telling the peer why.
    func detachWithError(_ remote: AMQPRemoteError, _ error: AMQPError) {
        debugAssertOnQueue(queue)
        guard state == .attached || state == .attaching else { return }
        state = .detachSent
        session.send(.detach(AMQPDetach(handle: handle, closed: true, error: remote)))
        terminalError = error
        didTerminate(error)
        notifyEnded(error)
    }

    /// Applies an attach deadline and returns the handle that cancels the attach; either detaches the link.
    func bound<T: Sendable>(_ callback: Callback<T>, deadline: Deadline) -> any Cancellable {
        let expire: @Sendable (AMQPError) -> Void = { [weak self] error in
            guard let self else { return }
            self.queue.async {
                guard !callback.isDone else { return }
                callback(.failure(error))
                self.close(queue: LibraryQueues.ignoredCompletions) { _ in }
            }
        }
        if let timer = deadline.scheduleCancellable(on: queue, { expire(AMQPError(.timedOut, "link attach did not complete before its deadline")) }) {
            queue.async {
                if self.state == .attaching { self.attachTimer = timer } else { timer.cancel() }
            }
        }
        return AMQPCancellation { expire(AMQPError(.cancelled, "link attach cancelled")) }
    }

    private func attachDecided() {
        attachTimer?.cancel()
        attachTimer = nil
    }

    // Subclass hooks.
    func didAttach(_ attach: AMQPAttach) {}
    /// Adds role-specific fields to an attach we send in answer to the peer's.
    func customize(_ reply: inout AMQPAttach) {}
    func didTerminate(_ error: AMQPError) {}
}
