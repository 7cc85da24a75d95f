import Dispatch
import ToolboxCore

/// Receives a response as an exchange produces it; called on the connection's queue.
protocol HTTPResponseSink: AnyObject {
    func receiveHead(_ head: HTTPResponseHead)
    /// Returns an error to abort the exchange (a buffered body over its limit).
    func receiveBody(_ bytes: [UInt8]) -> TransportError?
    /// Whether the exchange may read more now; when not, `resume` runs once the consumer has caught up.
    func readyForMore(resume: @escaping @Sendable () -> Void) -> Bool
}

/// How one request/response exchange on a connection ended.
struct HTTPExchangeOutcome {
    var result: Result<HTTPResponseHead, TransportError>
    /// The connection may carry another request.
    var reusable: Bool
    /// The connection had served requests before and failed before a single response byte arrived: the
    /// signature of a keep-alive connection the server had already closed.
    var stale: Bool
    /// Not a byte of the request was written (the connection was found closed first): safe to send again
    /// whatever the method.
    var unsent = false
}

/// One pooled HTTP/1.1 connection: a `TCPConnection` plus the response parser, one exchange at a time.
final class HTTPClientConnection: @unchecked Sendable {
    // @unchecked Sendable: `parser`, `exchanges` and the exchange state live on `tcp.queue` only.
    let tcp: TCPConnection
    let endpoint: HTTPEndpoint
    private let limits: HTTPParserLimits
    private let userAgent: String
    /// `endpoint.hostHeader`, built once: every request of the connection sends it.
    private let hostHeader: String
    private var parser: HTTPParser
    private(set) var exchanges = 0
    /// Methods that carry `Content-Length: 0` when their body is empty.
    private static let methodsSendingLength = ["POST", "PUT", "PATCH"]

    init(tcp: TCPConnection, endpoint: HTTPEndpoint, limits: HTTPParserLimits, userAgent: String) {
        self.tcp = tcp
        self.endpoint = endpoint
        self.limits = limits
        self.userAgent = userAgent
        self.hostHeader = endpoint.hostHeader
        self.parser = HTTPParser(parsing: .responses, limits: limits)
    }

    /// Cancels the exchange `ticket` names, and only that one: running, its connection is failed (and retired);
    /// not started yet, it ends at its start without sending a byte, the connection untouched; already ended, the
    /// cancel came too late and changes nothing — the connection may be carrying the next request by then.
    func abort(_ error: TransportError, ticket: HTTPExchangeTicket) {
        tcp.queue.async {
            switch ticket.state {
            case .waiting: ticket.state = .cancelledBeforeStart(error)
            case .running: self.tcp.fail(error)
            case .ended, .cancelledBeforeStart: break
            }
        }
    }

    /// Runs one request/response exchange; `completion` runs on `tcp.queue`.
    ///
    /// With `onCallerThread`, a caller that runs on no connection's queue starts the exchange (encodes and writes
    /// the request) on its own thread, inside `tcp.queue.sync`: when the connection's queue and its event loop
    /// are idle that wakes no other thread, where `async` wakes a worker for every request. When the loop's poller
    /// thread is delivering reports at that moment, the start is handed to that thread instead, to run once its
    /// round is over (`.afterPollerRound`): a `sync` would wait for the loop, and the poller would then wait for
    /// the caller at its next report. With `onOwnQueue`, a caller that runs on this connection's own queue (a
    /// waiting request handed the connection by the previous exchange's completion) starts it right there, in the
    /// current turn: enqueueing it would cost a worker's wake-up once the turn ends. In both cases `completion` may run before this returns (a request that fails at
    /// once), so only callers whose completion hops elsewhere, merely records the outcome, or runs in library code
    /// holding no caller's lock pass them. From any other connection's queue the exchange is handed to the poller
    /// thread when it is in a round, else enqueued — never a `sync`: it could meet another connection's `sync` the
    /// other way and deadlock.
    @discardableResult
    func exchange(_ request: HTTPRequest, deadline: Deadline, sink: any HTTPResponseSink, onCallerThread: Bool = false,
                  onOwnQueue: Bool = false, ticket: HTTPExchangeTicket? = nil,
                  completion: @escaping (HTTPExchangeOutcome) -> Void) -> ExchangeStart {
        if onOwnQueue, tcp.isOnOwnQueue {
            HTTPExchange(connection: self, request: request, deadline: deadline, sink: sink, ticket: ticket,
                         completion: completion).start()
            return .inPlace
        }
        let onTransportQueue = TCPConnection.isOnTransportQueue
        let confined = QueueConfined((sink, completion))
        let start: @Sendable () -> Void = { [self] in
            HTTPExchange(connection: self, request: request, deadline: deadline, sink: confined.value.0,
                         ticket: ticket, completion: confined.value.1).start()
        }
        // While the loop's poller thread is delivering reports, a caller's `sync` would wait for it (and it for the
        // caller at its next report), and a start enqueued from a report would need a worker once the thread lets
        // go: the thread starts the exchange itself once its round is over.
        if onCallerThread || onTransportQueue, let poller = tcp.poller,
           poller.runAfterCurrentRound({ [self] in tcp.queue.sync(execute: start) }) {
            return .afterPollerRound
        }
        if onCallerThread, !onTransportQueue {
            tcp.queue.sync(execute: start)
            return .onCallerThread
        }
        tcp.queue.async(execute: start)
        return .enqueued
    }

    /// Where `exchange` started the exchange.
    enum ExchangeStart {
        /// In the current turn of this connection's queue (`onOwnQueue`).
        case inPlace
        /// On the caller's thread, inside `tcp.queue.sync` (`onCallerThread`).
        case onCallerThread
        /// Handed to the loop's poller thread, which was delivering reports (`onCallerThread`): started on that
        /// thread once its round is over.
        case afterPollerRound
        /// Enqueued on `tcp.queue`.
        case enqueued
    }

    // MARK: For HTTPExchange (on tcp.queue)

    func beginExchange() -> (reused: Bool, closed: Bool) {
        let reused = exchanges > 0
        exchanges += 1
        // A server that closed an idle keep-alive connection shows it as EOF or RST: probe before sending.
        let closed = reused && tcp.probeClosedOnQueue()
        if parser.kind == .responses, !parser.isIdle { parser = HTTPParser(parsing: .responses, limits: limits) }
        return (reused, closed)
    }

    func feed(_ bytes: [UInt8], toHEAD: Bool) throws -> [HTTPParserEvent] {
        if toHEAD { parser.nextResponseIsToHEAD = true }
        return bytes.isEmpty ? try parser.finish() : try parser.feed(bytes)
    }

    var parserIsIdle: Bool { parser.isIdle }

    /// The request's head as bytes: the caller's fields, then the ones the connection adds (`Host`, `User-Agent`,
    /// the body's framing). The caller's headers are copied only when one of theirs must go (a `Content-Length` or
    /// `Transfer-Encoding` that the body's own framing replaces); `reservingBody` more bytes are reserved for a
    /// body sent behind the head.
    func head(for request: HTTPRequest, reservingBody bodyBytes: Int = 0) throws -> [UInt8] {
        var headers = request.headers
        let hasLength = headers.contains(name: "Content-Length")
        var length: String?
        var chunked = false
        var replacesFraming = false
        switch request.body {
        case .empty:
            if !hasLength,
                HTTPClientConnection.methodsSendingLength.contains(where: { HTTPHeaders.namesMatch($0, request.method) })
            {
                length = "0"
            }
        case .bytes, .block:
            length = request.body.inMemory.map { String($0.count) }
            replacesFraming = true
        case .stream(let streamLength, _):
            length = streamLength.map { String($0) }
            chunked = streamLength == nil
            replacesFraming = true
        }
        if replacesFraming, hasLength || headers.contains(name: "Transfer-Encoding") {
            headers.remove(name: "Content-Length")
            headers.remove(name: "Transfer-Encoding")
        }
        let addsHost = !headers.contains(name: "Host")
        let addsUserAgent = !headers.contains(name: "User-Agent")
        var bytes: [UInt8] = []
        try HTTPSerializer.writeOpen(HTTPRequestHead(method: request.method, target: request.target, headers: headers),
                                     reserving: hostHeader.utf8.count + userAgent.utf8.count + 80 + bodyBytes,
                                     into: &bytes)
        if addsHost { try HTTPSerializer.appendField(name: "Host", value: hostHeader, into: &bytes) }
        if addsUserAgent { try HTTPSerializer.appendField(name: "User-Agent", value: userAgent, into: &bytes) }
        if let length { try HTTPSerializer.appendField(name: "Content-Length", value: length, into: &bytes) }
        if chunked { try HTTPSerializer.appendField(name: "Transfer-Encoding", value: "chunked", into: &bytes) }
        HTTPSerializer.endHead(into: &bytes)
        return bytes
    }
}

extension TCPConnection {
    /// Without blocking, checks whether the peer has closed or reset an idle connection.
    func probeClosedOnQueue() -> Bool {
        if failure != nil || peerClosed || state != .open { return true }
        if inbound.isEmpty, pendingRead == nil { handleReadable() }
        // Bytes nobody asked for (a 408 before closing, say) would be mistaken for the next response.
        return failure != nil || peerClosed || state != .open || !inbound.isEmpty
    }
}

/// Names one exchange so that a cancel reaches that exchange and no other (see `HTTPClientConnection.abort`).
final class HTTPExchangeTicket: @unchecked Sendable {
    // @unchecked Sendable: `state` is read and written on the connection's queue only (the exchange's start and end
    // run there, and `abort` hops there first).
    enum State {
        case waiting
        case running
        case ended
        case cancelledBeforeStart(TransportError)
    }

    var state = State.waiting
}
