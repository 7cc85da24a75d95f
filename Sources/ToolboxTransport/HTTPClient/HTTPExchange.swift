import Dispatch
import ToolboxCore

/// One request and its response on one connection; lives on the connection's queue from start to completion.
final class HTTPExchange {
    private let connection: HTTPClientConnection
    private let request: HTTPRequest
    private let deadline: Deadline
    private let sink: any HTTPResponseSink
    private var completion: ((HTTPExchangeOutcome) -> Void)?
    /// What a cancel of this exchange looks at (nil: the exchange cannot be cancelled on its own).
    private let ticket: HTTPExchangeTicket?
    private var reused = false
    private var receivedAny = false
    private var awaitingContinue = false
    /// The whole request, body included, has been handed to the kernel (only then may the connection be reused).
    private var bodySent = false
    /// The read loop runs (a read is pending, or the sink paused it and will resume it).
    private var readStarted = false
    private var finalHead: HTTPResponseHead?
    /// Computed once: the read loop asks per received chunk.
    private let isHEAD: Bool
    private var tcp: TCPConnection { connection.tcp }

    /// How long to wait for `100 Continue` before sending the body anyway (RFC 9110 §10.1.1 lets clients stop
    /// waiting; curl waits 1 s too).
    static let continueTimeout = 1.0

    init(connection: HTTPClientConnection, request: HTTPRequest, deadline: Deadline, sink: any HTTPResponseSink,
         ticket: HTTPExchangeTicket? = nil, completion: @escaping (HTTPExchangeOutcome) -> Void) {
        self.connection = connection
        self.ticket = ticket
        self.request = request
        self.deadline = deadline
        self.sink = sink
        self.completion = completion
        self.isHEAD = request.method.uppercased() == "HEAD"
    }

    func start() {
        if let ticket {
            if case .cancelledBeforeStart(let error) = ticket.state {
                // Cancelled while it waited for this turn: nothing was sent, the connection serves the next one.
                finish(.failure(error), reusable: true, unsent: true)
                return
            }
            ticket.state = .running
        }
        let (reused, closed) = connection.beginExchange()
        self.reused = reused
        if closed {
            finish(.failure(TransportError(
                .connectionClosed, "the server closed the idle connection to \(connection.endpoint)")), stale: true,
                   unsent: true)
            return
        }
        // A small body is sent in one write with its head: room for it is reserved with the head's.
        var bodyWithHead = 0
        if case .bytes(let body) = request.body, body.count <= TCPConnection.stagingPiece { bodyWithHead = body.count }
        var head: [UInt8]
        do {
            head = try connection.head(for: request, reservingBody: bodyWithHead)
        } catch let error as TransportError {
            finish(.failure(error), reusable: true)
            return
        } catch {
            finish(.failure(TransportError(.invalidRequest, "\(error)")))
            return
        }
        let sent: () -> Void = { [self] in bodyWasSent() }
        if case .stream(let length, let next) = request.body {
            // The response is read while the body streams: a server may answer (and close) before it ends.
            send(.bytes(head)) { [self] in
                startReading()
                pump(next, chunked: length == nil)
            }
        } else if let body = request.body.inMemory {
            if request.headers.containsToken("100-continue", inField: "Expect"), !body.isEmpty {
                awaitingContinue = true
                send(.bytes(head)) { [self] in startReading() }
            } else if case .bytes(let small) = body, small.count <= TCPConnection.stagingPiece {
                // One write (one TLS record, one send) for a small request.
                head.append(contentsOf: small)
                sendBody(.bytes(head), then: sent)
            } else {
                // Head and body as two writes: a large body (a Blob block) is not copied to sit behind its head,
                // and the connection stages it in bounded pieces as the socket drains.
                send(.bytes(head)) {}
                sendBody(body, then: sent)
            }
        } else {
            send(.bytes(head), then: sent)
        }
    }

    /// Writes `bytes`; `then` runs once the kernel has them.
    ///
    /// A write that fails with a reset does not end the exchange at once: a server that refuses a request body
    /// (`413`, `401`) answers and closes, and its answer may already be here. The read loop then delivers the
    /// bytes received before the reset, and reports the reset only if they do not make a complete response.
    private func send(_ bytes: OutgoingBytes, then: @escaping () -> Void) {
        tcp.writeOnQueue(bytes, deadline: deadline) { [self] error in
            guard let error else { return then() }
            if error.code == .connectionReset { startReading() } else { fail(error) }
        }
    }

    /// `send` for request body bytes: when the kernel does not take them at once, the response is read while
    /// they drain, so an early answer ends the upload instead of waiting behind it. (Writes that complete at
    /// once, the common small request, start reading afterwards as before: no extra work on the hot path.)
    private func sendBody(_ bytes: OutgoingBytes, then: @escaping () -> Void) {
        var written = false
        send(bytes) {
            written = true
            then()
        }
        if !written { startReading() }
    }

    /// Starts the response read loop unless it runs already; it then runs until the exchange finishes.
    private func startReading() {
        guard completion != nil, !readStarted else { return }
        readStarted = true
        readResponse()
    }

    /// Pulls the next piece of a streamed body and writes it; ends with the last chunk when chunked. `next` runs
    /// here on the connection's queue (see `HTTPRequestBody.stream`: it must not `sync` onto other work).
    private func pump(
        _ next: @escaping @Sendable (@escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) -> Void, chunked: Bool
    ) {
        let queue = tcp.queue
        let me = QueueConfined(self)
        next { result in
            queue.async {
                let exchange = me.value
                guard exchange.completion != nil else { return }
                switch result {
                case .failure(let error):
                    exchange.fail(TransportError(.invalidRequest, "the request body stream failed: \(error)"))
                case .success(nil):
                    var tail: [UInt8] = []
                    if chunked { HTTPSerializer.writeLastChunk(into: &tail) }
                    exchange.sendBody(.bytes(tail)) { exchange.bodyWasSent() }
                case .success(let piece?):
                    var bytes: [UInt8] = []
                    if chunked { HTTPSerializer.writeChunk(piece, into: &bytes) } else { bytes = piece }
                    exchange.sendBody(.bytes(bytes)) { exchange.pump(next, chunked: chunked) }
                }
            }
        }
    }

    private func readResponse() {
        let readDeadline = awaitingContinue ? min(deadline, .after(seconds: HTTPExchange.continueTimeout)) : deadline
        tcp.readOnQueue(maxBytes: TCPConnection.plaintextChunk, deadline: readDeadline) { [self] result in
            switch result {
            case .failure(let error) where error.code == .timedOut && awaitingContinue && !deadline.hasPassed:
                sendBodyAfterContinue()
            case .failure(let error):
                fail(error)
            case .success(let bytes):
                if !bytes.isEmpty { receivedAny = true }
                let events: [HTTPParserEvent]
                do {
                    events = try connection.feed(bytes, toHEAD: isHEAD)
                } catch {
                    fail(.passing(error, orElse: .httpMalformed))
                    return
                }
                if handle(events) { return }
                if bytes.isEmpty {
                    fail(TransportError(
                        .connectionClosed, "\(connection.endpoint) closed the connection before the response was complete"))
                    return
                }
                // Back-pressure: a streaming consumer that falls behind pauses the reads (and so the server).
                let me = QueueConfined(self)
                let queue = tcp.queue
                if sink.readyForMore(resume: { queue.async { me.value.readResponse() } }) { readResponse() }
            }
        }
    }

    /// Processes parser events; returns true when the exchange finished.
    private func handle(_ events: [HTTPParserEvent]) -> Bool {
        for event in events {
            switch event {
            case .responseHead(let head) where head.isInformational:
                if head.status == 100, awaitingContinue {
                    sendBodyAfterContinue()
                    return true  // sendBodyAfterContinue resumes reading
                }
            case .responseHead(let head):
                finalHead = head
                sink.receiveHead(head)
            case .body(let bytes):
                if let error = sink.receiveBody(bytes) {
                    fail(error)
                    return true
                }
            case .end:
                guard let head = finalHead else { continue }
                // A response that completes before the request body was sent (an early `413`) ends the upload;
                // the connection, its request cut short, is closed rather than reused.
                let reusable = bodySent && head.keepAlive && !request.headers.containsToken("close", inField: "Connection")
                    && connection.parserIsIdle
                finish(.success(head), reusable: reusable)
                return true
            case .requestHead:
                continue
            }
        }
        return false
    }

    private func sendBodyAfterContinue() {
        guard awaitingContinue, let body = request.body.inMemory else { return }
        awaitingContinue = false
        // The read loop stopped (at `100 Continue` or its time-out) and restarts around the body.
        readStarted = false
        sendBody(body) { [self] in bodyWasSent() }
    }

    /// The whole request is with the kernel: the connection may be reused once the response ends.
    private func bodyWasSent() {
        bodySent = true
        startReading()
    }

    private func fail(_ error: TransportError) {
        let stale = reused && !receivedAny
            && [.connectionReset, .connectionClosed, .tlsProtocolError].contains(error.code)
        finish(.failure(error), stale: stale)
    }

    private func finish(_ result: Result<HTTPResponseHead, TransportError>, reusable: Bool = false, stale: Bool = false,
                        unsent: Bool = false) {
        guard let completion else { return }
        self.completion = nil
        ticket?.state = .ended
        if !reusable, tcp.state == .open {
            tcp.fail(TransportError(.closedLocally, "the connection was retired after a failed exchange"))
        }
        completion(HTTPExchangeOutcome(result: result, reusable: reusable, stale: stale, unsent: unsent))
    }
}
