import Dispatch
import ToolboxCore

/// The `Cancellable` of one request: cancels whichever step (acquire or exchange) is current.
final class HTTPRequestTask: Cancellable, Sendable {
    private struct State {
        var cancelled = false
        var action: (@Sendable () -> Void)?
        var handlers: [@Sendable () -> Void] = []
    }

    // The current step's cancel action and the handlers live in the LockedValue; they run outside it.
    private let state = LockedValue(State())

    var isCancelled: Bool { state.withLockedValue { $0.cancelled } }

    /// Runs `handler` when the task is cancelled (after the current step's action).
    func onCancel(_ handler: @escaping @Sendable () -> Void) {
        state.withLockedValue { $0.handlers.append(handler) }
    }

    /// Makes `action` the way to cancel the current step; false (and nothing stored) if already cancelled.
    @discardableResult
    func setCancelAction(_ action: @escaping @Sendable () -> Void) -> Bool {
        state.withLockedValue { state in
            if state.cancelled { return false }
            state.action = action
            return true
        }
    }

    /// Forgets the current step's cancel action (the step is over; what it would cancel now belongs to others).
    func clearCancelAction() {
        state.withLockedValue { $0.action = nil }
    }

    func cancel() {
        let (action, handlers): ((@Sendable () -> Void)?, [@Sendable () -> Void]) = state.withLockedValue { state in
            if state.cancelled { return (nil, []) }
            state.cancelled = true
            defer {
                state.action = nil
                state.handlers = []
            }
            return (state.action, state.handlers)
        }
        action?()
        for handler in handlers { handler() }
    }
}

/// Collects a response body in memory, up to a limit.
final class BufferingSink: HTTPResponseSink, Sendable {
    // Written on the connection queue during the exchange, read by the completion after it (the queue hop orders
    // the two); the LockedValue makes that explicit.
    private let body = LockedValue<[UInt8]>([])
    /// A `Content-Length` over the limit, as declared: the exchange fails at the body's first bytes instead of
    /// after reading the limit's worth (256 MiB by default) of a body that can never fit.
    private let declared = LockedValue<Int?>(nil)
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func receiveHead(_ head: HTTPResponseHead) {
        // A retried exchange starts over.
        body.withLockedValue { $0.removeAll() }
        // With Transfer-Encoding the body is framed by it and Content-Length means nothing (RFC 9112 §6.3).
        let length = head.headers.contains(name: "Transfer-Encoding") ? nil
            : head.headers.first(name: "Content-Length").flatMap { Int($0) }
        declared.withLockedValue { $0 = length.flatMap { $0 > limit ? $0 : nil } }
    }

    func receiveBody(_ bytes: [UInt8]) -> TransportError? {
        if let length = declared.load() {
            return TransportError(
                .httpBodyTooLarge, "the response declares a body of \(length) bytes, over the \(limit) bytes it may "
                    + "have; use HTTPClient.stream for large bodies or raise maxBufferedResponseBytes")
        }
        return body.withLockedValue { body in
            if body.count + bytes.count > limit {
                return TransportError(
                    .httpBodyTooLarge, "the response body exceeds \(limit) bytes; use HTTPClient.stream for large "
                        + "bodies or raise maxBufferedResponseBytes")
            }
            // Most bodies arrive in one piece: keep that array rather than copy it into an empty one.
            if body.isEmpty { body = bytes } else { body += bytes }
            return nil
        }
    }

    func takeBody() -> [UInt8] { body.withLockedValue { $0 } }

    func readyForMore(resume: @escaping @Sendable () -> Void) -> Bool { true }
}

/// Forwards a response to user callbacks on a serial delivery queue, pausing reads while the consumer lags.
final class StreamingSink: HTTPResponseSink, Sendable {
    /// Bytes handed to the delivery queue but not yet consumed above which reading pauses.
    static let highWater = 1 << 20
    /// Reading resumes once the backlog falls to this.
    static let lowWater = 256 << 10

    private let queue: DispatchQueue
    private let onHead: @Sendable (HTTPResponseHead) -> Void
    private let onBody: @Sendable ([UInt8]) -> Void
    private let backlog = LockedValue<(bytes: Int, resume: (@Sendable () -> Void)?)>((0, nil))

    init(queue: DispatchQueue, onHead: @escaping @Sendable (HTTPResponseHead) -> Void,
         onBody: @escaping @Sendable ([UInt8]) -> Void) {
        self.queue = queue
        self.onHead = onHead
        self.onBody = onBody
    }

    func receiveHead(_ head: HTTPResponseHead) {
        let onHead = self.onHead
        queue.async { onHead(head) }
    }

    func receiveBody(_ bytes: [UInt8]) -> TransportError? {
        let onBody = self.onBody
        let backlog = self.backlog
        let count = bytes.count
        backlog.withLockedValue { $0.bytes += count }
        queue.async {
            onBody(bytes)
            let resume: (@Sendable () -> Void)? = backlog.withLockedValue { state in
                state.bytes -= count
                guard state.bytes <= StreamingSink.lowWater, let resume = state.resume else { return nil }
                state.resume = nil
                return resume
            }
            resume?()
        }
        return nil
    }

    func readyForMore(resume: @escaping @Sendable () -> Void) -> Bool {
        backlog.withLockedValue { state in
            if state.bytes <= StreamingSink.highWater { return true }
            state.resume = resume
            return false
        }
    }
}
