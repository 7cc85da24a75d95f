import Dispatch
import Foundation
import ToolboxCore

/// Request/response over a sender/receiver link pair to one node (`$cbs`, `$management`), correlating each
/// response's `correlation-id` with the request's `message-id`.
///
/// ```swift
/// AMQPRequestResponseLink.attach(session: session, address: "$management") { result in
///     let link = try result.get()
///     link.request(message) { response in ... }
/// }
/// ```
///
/// Requests without a message-id get a UUID; `reply-to` is set to the receiver's own target address, which
/// Azure and the emulator use to route the response.
public final class AMQPRequestResponseLink: @unchecked Sendable {
    // @unchecked Sendable: `pending`, `failure` and the link references are only touched on the connection's
    // queue (asserted in debug builds where responses and failures arrive); `links` is a `LockedValue` copy of
    // the references for reading from any thread.

    struct Pending {
        let callback: Callback<AMQPMessage>
        let due: DispatchTime
        let timeout: Duration
    }

    public let address: String
    /// The address responses are sent to (our receiver's target).
    public let replyAddress: String
    let session: AMQPSession
    private var sender: AMQPSender?
    private var receiver: AMQPReceiver?
    private var pending: [AMQPValue: Pending] = [:]
    private var failure: AMQPError?
    /// One timer for every pending request's time-out, set for the earliest `due`: a Dispatch `asyncAfter` per
    /// request cost a trip through libdispatch's manager thread for each one (7 % of a client's samples at 64
    /// schedule-message senders; performance-history.md), and requests nearly always come due in the order sent.
    private var timer: (any DispatchSourceTimer)?
    /// When `timer` fires (`.distantFuture`: not set).
    private var timerDue = DispatchTime.distantFuture
    /// `sender` and `receiver` for reading off the connection's queue (`hasEnded`).
    private let links = LockedValue<(AMQPSender?, AMQPReceiver?)>((nil, nil))

    private init(session: AMQPSession, address: String, replyAddress: String) {
        self.session = session
        self.address = address
        self.replyAddress = replyAddress
    }

    private var queue: DispatchQueue { session.queue }

    deinit {
        // An armed timer source outlives its last reference until it fires or is cancelled.
        timer?.cancel()
    }

    /// Attaches the receiver and the sender (the receiver's attach first, the sender's right after it without
    /// waiting, as the Azure SDKs do: connection-sasl-cbs.md) and completes when both are attached: one round
    /// trip, where waiting for the receiver before attaching the sender took two. Past `deadline` it fails with
    /// `.timedOut` and detaches what was attached (a peer that never answers an attach cannot hold the caller); when
    /// either attach fails it fails at once, cancelling the other.
    public static func attach(session: AMQPSession, address: String, replyAddress: String? = nil,
                              deadline: Deadline = .never,
                              queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                              completion: @escaping @Sendable (Result<AMQPRequestResponseLink, AMQPError>) -> Void) {
        let callback = Callback(callbackQueue, completion)
        let reply = replyAddress ?? "\(address)-client-\(RandomUUID.string())"
        let link = AMQPRequestResponseLink(session: session, address: address, replyAddress: reply)
        let queue = session.queue
        let pair = PairAttach()
        // Fails as soon as either attach fails: a peer that refuses one and never answers the other must not hold a
        // caller without a deadline. The other attach is then cancelled, or its link closed if it attached.
        let settle: @Sendable () -> Void = {
            debugAssertOnQueue(queue)
            guard !pair.reported else {
                if case .success(let receiver)? = pair.receiver { receiver.close(queue: LibraryQueues.ignoredCompletions) { _ in } }
                if case .success(let sender)? = pair.sender { sender.close(queue: LibraryQueues.ignoredCompletions) { _ in } }
                return
            }
            switch (pair.receiver, pair.sender) {
            case (.success(let receiver)?, .success(let sender)?):
                pair.reported = true
                link.receiver = receiver
                link.sender = sender
                link.links.withLockedValue { $0 = (sender, receiver) }
                // Once either link ends no response can come: what waits fails at once with the reason (a dropped
                // connection, the peer's detach) instead of at its time-out, which may be a minute away.
                receiver.onEnd(queue: queue) { [weak link] error in link?.pairEnded(error) }
                sender.onEnd(queue: queue) { [weak link] error in link?.pairEnded(error) }
                callback(.success(link))
            case (.failure(let error)?, _), (_, .failure(let error)?):
                pair.reported = true
                if case .success(let receiver)? = pair.receiver { receiver.close(queue: LibraryQueues.ignoredCompletions) { _ in } }
                if case .success(let sender)? = pair.sender { sender.close(queue: LibraryQueues.ignoredCompletions) { _ in } }
                if pair.receiver == nil { pair.receiverAttach?.cancel() }
                if pair.sender == nil { pair.senderAttach?.cancel() }
                callback(.failure(error))
            default:
                return
            }
        }
        let receiverOptions = AMQPReceiverOptions(credit: .auto(prefetch: 50), targetAddress: reply)
        // Started from the session's queue so the handles are stored before either completion (queued behind) runs.
        queue.async {
            pair.receiverAttach = session.attachReceiver(
                address: address, options: receiverOptions, messageQueue: queue, deadline: deadline, queue: queue,
                onMessage: { [weak link] delivery in link?.received(delivery) }) { result in
                pair.receiver = result
                settle()
            }
            pair.senderAttach = session.attachSender(address: address, deadline: deadline, queue: queue) { result in
                pair.sender = result
                settle()
            }
        }
    }

    /// Blocking form of `attach`.
    public static func attach(session: AMQPSession, address: String, replyAddress: String? = nil) throws -> AMQPRequestResponseLink {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<AMQPRequestResponseLink, any Error>) -> Void) in
            attach(session: session, address: address, replyAddress: replyAddress, queue: queue) { done($0.mapError { $0 }) }
        }
    }

    /// Whether either link of the pair has ended (the pair can no longer answer; attach a new one).
    public var hasEnded: Bool {
        let (sender, receiver) = links.load()
        return sender?.hasEnded ?? true || receiver?.hasEnded ?? true
    }

    /// Sends `request` and completes with the response whose correlation-id matches its message-id.
    ///
    /// A completion asked for on the connection's own queue (`session.queue`) runs there in the turn that decided it —
    /// possibly nested in the connection's handling of a frame or of the pair's end — so it must not block; any
    /// other queue gets it as a block of its own.
    public func request(_ request: AMQPMessage, timeout: Duration = .seconds(60),
                        queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                        completion: @escaping @Sendable (Result<AMQPMessage, AMQPError>) -> Void) {
        // Every completion is decided on the connection's queue; a caller that asks for it there (the clients'
        // management and CBS requests do) gets it in that same turn instead of in one more block queued behind it.
        let callback = callbackQueue === queue ? Callback.inline(completion) : Callback(callbackQueue, completion)
        var message = request
        var properties = message.properties ?? AMQPProperties()
        let id = properties.messageID ?? .uuid(RandomUUID.make())
        properties.messageID = id
        if properties.replyTo == nil { properties.replyTo = replyAddress }
        message.properties = properties
        // Encoded on the caller's thread: the connection's queue is what every caller of the connection shares.
        let payload = message.encode()
        let due = Deadline.after(timeout).instant.dispatchTime
        queue.async {
            // Either half may have ended a block ago with `pairEnded` still queued: a request sent on the surviving
            // sender could be carried out with no way to answer it.
            guard let sender = self.sender, let receiver = self.receiver, self.failure == nil,
                  sender.terminalError == nil, receiver.terminalError == nil
            else {
                callback(.failure(self.failure ?? self.sender?.terminalError ?? self.receiver?.terminalError
                    ?? AMQPError(.linkDetached, "request link is not attached")))
                return
            }
            guard self.pending[id] == nil else {
                callback(.failure(AMQPError(.invalidArgument, "a request with message-id \(id) is already pending")))
                return
            }
            self.pending[id] = Pending(callback: callback, due: due, timeout: timeout)
            if due < self.timerDue { self.setTimer(due) }
            // Handed to the sender here, on its queue, and its outcome read inline where the sender decides it (this
            // queue): a public `send` would queue the message and then its outcome once more behind this block.
            sender.enqueueOnQueue(payload, messageFormat: 0, callback: .inline { [weak self] result in
                guard let self else { return }
                debugAssertOnQueue(self.queue)
                let error: AMQPError? = switch result {
                case .failure(let error): error
                case .success(.rejected(let remote)): AMQPError(.requestFailed, "\(self.address) rejected the request", remote: remote)
                case .success(.released), .success(.modified): AMQPError(.requestFailed, "\(self.address) did not accept the request")
                case .success: nil
                }
                if let error, let entry = self.pending.removeValue(forKey: id) {
                    entry.callback(.failure(error))
                }
            })
        }
    }

    /// Blocking form of `request`.
    public func request(_ request: AMQPMessage, timeout: Duration = .seconds(60)) throws -> AMQPMessage {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<AMQPMessage, any Error>) -> Void) in
            self.request(request, timeout: timeout, queue: queue) { done($0.mapError { $0 }) }
        }
    }

    /// Detaches both links; pending requests fail.
    public func close(queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                      completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        let callback = Callback(callbackQueue, completion)
        queue.async {
            self.failAll(AMQPError(.linkDetached, "request link closed"))
            let sender = self.sender
            let receiver = self.receiver
            sender?.close(queue: self.queue) { _ in
                if let receiver { receiver.close(queue: self.queue) { callback($0) } } else { callback(.success(())) }
            }
            if sender == nil { callback(.success(())) }
        }
    }

    // Connection queue only.
    private func received(_ delivery: AMQPDelivery) {
        debugAssertOnQueue(queue)
        if !delivery.isSettled { delivery.accept(queue: LibraryQueues.ignoredCompletions) }
        guard let correlation = delivery.message.properties?.correlationID,
              let entry = pending.removeValue(forKey: correlation)
        else { return }
        entry.callback(.success(delivery.message))
    }

    /// Sets the time-out timer for `due`, making it on first use.
    private func setTimer(_ due: DispatchTime) {
        let timer: any DispatchSourceTimer
        if let existing = self.timer {
            timer = existing
        } else {
            timer = DispatchSource.makeTimerSource(queue: queue)
            timer.setEventHandler { [weak self] in self?.expire() }
            timer.activate()
            self.timer = timer
        }
        timerDue = due
        timer.schedule(deadline: due)
    }

    /// Fails the requests whose time is up and sets the timer for the next one.
    private func expire() {
        debugAssertOnQueue(queue)
        timerDue = .distantFuture
        let now = DispatchTime.now()
        let expired = pending.filter { $0.value.due <= now }
        for (id, _) in expired { pending[id] = nil }
        if let next = pending.values.lazy.map(\.due).min() { setTimer(next) }
        for entry in expired.values {
            entry.callback(.failure(AMQPError(.timedOut, "no response from \(address) within \(entry.timeout)")))
        }
    }

    /// Either link ended: what waits fails with the reason and the other half is detached (an ended pair is
    /// replaced, not reused; left attached, the survivor would hold its handle until the connection ends).
    private func pairEnded(_ error: AMQPError) {
        debugAssertOnQueue(queue)
        failAll(error)
        for link in [sender as AMQPLink?, receiver as AMQPLink?] {
            if let link, link.terminalError == nil { link.close(queue: LibraryQueues.ignoredCompletions) { _ in } }
        }
    }

    private func failAll(_ error: AMQPError) {
        debugAssertOnQueue(queue)
        failure = failure ?? error
        let entries = pending.values
        pending = [:]
        timer?.cancel()
        timer = nil
        timerDue = .distantFuture
        for entry in entries {
            entry.callback(.failure(error))
        }
    }
}

extension AMQPMessage {
    /// The status code of a `$cbs` / `$management` response: `status-code` (CBS, Event Hubs) or `statusCode`
    /// (Service Bus), as int, long or string.
    public var responseStatusCode: Int? {
        guard let props = applicationProperties else { return nil }
        for key in ["status-code", "statusCode"] {
            switch props[.string(key)] {
            case .int(let v): return Int(v)
            case .long(let v): return Int(v)
            case .uint(let v): return Int(v)
            case .short(let v): return Int(v)
            case .ushort(let v): return Int(v)
            case .byte(let v): return Int(v)
            case .ubyte(let v): return Int(v)
            // A ulong past Int.max is no status at all (it read as nil and was shown as status 0).
            case .ulong(let v): if let value = Int(exactly: v) { return value }
            case .string(let v): if let value = Int(v) { return value }
            default: continue
            }
        }
        return nil
    }

    /// `status-description` / `statusDescription` of a response.
    public var responseStatusDescription: String? {
        guard let props = applicationProperties else { return nil }
        for key in ["status-description", "statusDescription"] {
            if case .string(let v) = props[.string(key)] { return v }
        }
        return nil
    }
}

/// The two attach results of a request/response pair, gathered on the session's queue.
private final class PairAttach: @unchecked Sendable {
    // @unchecked Sendable: every field is written and read only on the session's queue: the attaches are started
    // there (storing the handles) and both attach completions run there, in later blocks.
    var receiver: Result<AMQPReceiver, AMQPError>?
    var sender: Result<AMQPSender, AMQPError>?
    var reported = false
    var receiverAttach: (any Cancellable)?
    var senderAttach: (any Cancellable)?
}
