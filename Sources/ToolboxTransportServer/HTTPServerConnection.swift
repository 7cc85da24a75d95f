import Dispatch
import ToolboxCore
import ToolboxTransport

/// One server-side HTTP connection: a read loop, a parser, and one request handled at a time.
///
/// Runs on its connection's queue; pipelined requests wait in `pending` until the previous response is written.
final class HTTPServerConnection: @unchecked Sendable {
    // @unchecked Sendable: all mutable state is used only on `connection.queue`.
    let connection: TCPConnection
    private let idleTimeout: Double
    private let setupDelay: Double
    /// Where the handler runs; nil: on `connection.queue`, inline.
    private let handlerQueue: DispatchQueue?
    private let handler: HTTPServer.Handler
    private var parser: HTTPParser
    private var pending: [HTTPParserEvent] = []
    private var currentHead: HTTPRequestHead?
    private var currentBody: [UInt8] = []
    private var handling = false
    private var processing = false
    private var processAgain = false
    private var reading = false
    private var peerClosed = false
    private var finished = false
    private var onFinish: (() -> Void)?

    init(connection: TCPConnection, limits: HTTPParserLimits, idleTimeout: Double, setupDelay: Double = 0,
         handlerQueue: DispatchQueue?, handler: @escaping HTTPServer.Handler) {
        self.connection = connection
        self.idleTimeout = idleTimeout
        self.setupDelay = setupDelay
        self.handlerQueue = handlerQueue
        self.handler = handler
        self.parser = HTTPParser(parsing: .requests, limits: limits)
    }

    func start(onFinish: @escaping @Sendable () -> Void) {
        let begin: @Sendable () -> Void = {
            self.onFinish = onFinish
            self.process()
        }
        if setupDelay > 0 {
            connection.queue.asyncAfter(deadline: .now() + setupDelay, execute: begin)
        } else {
            connection.queue.async(execute: begin)
        }
    }

    /// Handles buffered events until a request goes to the handler or more bytes are needed.
    ///
    /// Not re-entered: with an inline handler the response can be written, and the next request taken, while a
    /// `process` further up the stack is still in its loop; that call is noted and run by the outer one, so the
    /// stack stays flat however many requests are pipelined.
    private func process() {
        if processing {
            processAgain = true
            return
        }
        processing = true
        defer { processing = false }
        repeat {
            processAgain = false
            processOnce()
        } while processAgain
    }

    private func processOnce() {
        while !handling, !finished, !pending.isEmpty {
            let event = pending.removeFirst()
            switch event {
            case .requestHead(let head):
                currentHead = head
                currentBody = []
                // The parser has checked Content-Length against the body limit; reserving it keeps a large body
                // (a blob block) at its own size instead of up to twice that from doubling growth.
                if let length = head.headers.first(name: "Content-Length").flatMap({ Int($0) }), length > 0,
                   length <= parser.limits.maxBodyBytes {
                    currentBody.reserveCapacity(length)
                }
                if head.expectsContinue, pending.isEmpty, head.headers.contains(name: "Transfer-Encoding")
                    || (head.headers.first(name: "Content-Length").map { $0 != "0" } ?? false)
                {
                    // The client holds the body back until it hears from us (RFC 9110 §10.1.1).
                    connection.writeOnQueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), deadline: .after(seconds: 30)) { _ in }
                }
            case .body(let bytes):
                currentBody += bytes
            case .end:
                guard let head = currentHead else { continue }
                currentHead = nil
                let body = currentBody
                currentBody = []
                dispatch(HTTPServerRequest(head: head, body: body, remoteAddress: connection.remoteAddress))
            case .responseHead:
                continue
            }
        }
        if !handling, !finished, pending.isEmpty {
            if peerClosed { finish() } else { readMore() }
        }
    }

    private func readMore() {
        guard !reading else { return }
        reading = true
        let deadline = parser.isIdle ? Deadline.after(seconds: idleTimeout) : .after(seconds: max(idleTimeout, 30))
        connection.readOnQueue(maxBytes: TCPConnection.plaintextChunk, deadline: deadline) { [self] result in
            reading = false
            switch result {
            case .success(let bytes):
                do {
                    pending += bytes.isEmpty ? try parser.finish() : try parser.feed(bytes)
                    if bytes.isEmpty {
                        peerClosed = true
                        process()
                        if !handling { finish() }
                        return
                    }
                } catch let error as TransportError {
                    reject(error)
                    return
                } catch {
                    finish()
                    return
                }
                process()
            case .failure:
                finish()
            }
        }
    }

    private func dispatch(_ request: HTTPServerRequest) {
        handling = true
        let keepAlive = request.head.keepAlive
        let isHEAD = request.head.method == "HEAD"
        let handler = self.handler
        guard let handlerQueue else {
            // On the connection's queue: an answer given before the handler returns is sent right here.
            let answer = InlineAnswer()
            handler(request) { response in
                guard answer.hop(response) else { return }
                self.connection.queue.async { self.send(response, keepAlive: keepAlive, isHEAD: isHEAD) }
            }
            if let response = answer.leave() { send(response, keepAlive: keepAlive, isHEAD: isHEAD) }
            return
        }
        handlerQueue.async {
            let once = CompletionOnce<HTTPServerResponse> { response in
                self.connection.queue.async { self.send(response, keepAlive: keepAlive, isHEAD: isHEAD) }
            }
            handler(request) { once.complete($0) }
        }
    }

    private func send(_ response: HTTPServerResponse, keepAlive: Bool, isHEAD: Bool) {
        if response.abortConnection {
            abort()
            return
        }
        var head = response.head
        let close = response.closeConnection || !keepAlive
        if close { head.headers.replaceOrAdd(name: "Connection", value: "close") }
        var bytes: [UInt8] = []
        let mayHaveBody = head.status >= 200 && head.status != 204 && head.status != 304
        switch response.body {
        case .bytes(let body):
            // Content-Length is written behind the head's fields (no copy of the head to add it), and a small
            // body gets its room with the head's.
            let length = mayHaveBody && !head.headers.contains(name: "Content-Length") ? body.count : nil
            let sentWithHead = !isHEAD && mayHaveBody && body.count <= TCPConnection.stagingPiece
            serialize(head, contentLength: length, bodyCapacity: sentWithHead ? body.count : 0, into: &bytes)
            if sentWithHead {
                bytes += body
            } else if !isHEAD, mayHaveBody {
                // A large body (a blob range) goes as a write of its own, staged by the connection in bounded
                // pieces, rather than copied behind its head.
                connection.writeOnQueue(bytes, deadline: .after(seconds: 60)) { _ in }
                bytes = body
            }
        case .chunked(let chunks):
            head.headers.remove(name: "Content-Length")
            if mayHaveBody { head.headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked") }
            serialize(head, into: &bytes)
            if !isHEAD, mayHaveBody {
                for chunk in chunks { HTTPSerializer.writeChunk(chunk, into: &bytes) }
                HTTPSerializer.writeLastChunk(into: &bytes)
            }
        case .stream(let contentLength, let next):
            if let contentLength, contentLength >= 0 {
                head.headers.replaceOrAdd(name: "Content-Length", value: String(contentLength))
                head.headers.remove(name: "Transfer-Encoding")
            } else {
                head.headers.remove(name: "Content-Length")
                if mayHaveBody { head.headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked") }
            }
            serialize(head, into: &bytes)
            if !isHEAD, mayHaveBody {
                let framing = contentLength.map { StreamFraming.length(remaining: max($0, 0)) } ?? .chunked
                connection.writeOnQueue(bytes, deadline: .after(seconds: 60)) { [self] error in
                    if error != nil { responseWritten(error: error, close: true) } else { sendPieces(next, framing: framing, close: close) }
                }
                return
            }
        }
        connection.writeOnQueue(bytes, deadline: .after(seconds: 60)) { [self] error in
            responseWritten(error: error, close: close)
        }
    }

    private enum StreamFraming {
        case length(remaining: Int)
        case chunked
    }

    /// Writes a streamed body one piece at a time: the next piece is pulled only once the previous one is out.
    private func sendPieces(_ next: @escaping @Sendable () -> [UInt8]?, framing: StreamFraming, close: Bool) {
        var bytes: [UInt8] = []
        var nextFraming = framing
        var done = false
        var broken = false
        var pulled = next()
        // An empty piece carries nothing (and an empty chunk would end a chunked body): pull on.
        while let piece = pulled, piece.isEmpty { pulled = next() }
        if let piece = pulled {
            switch framing {
            case .length(let remaining):
                if piece.count > remaining { broken = true } else {
                    bytes = piece
                    nextFraming = .length(remaining: remaining - piece.count)
                }
            case .chunked:
                HTTPSerializer.writeChunk(piece, into: &bytes)
            }
        } else {
            done = true
            switch framing {
            case .length(let remaining): broken = remaining != 0
            case .chunked: HTTPSerializer.writeLastChunk(into: &bytes)
            }
        }
        if broken {
            // The body no longer matches what the head announced: the peer cannot find the message's end.
            abort()
            return
        }
        let following = nextFraming
        connection.writeOnQueue(bytes, deadline: .after(seconds: 60)) { [self] error in
            if error != nil || done {
                responseWritten(error: error, close: close)
            } else {
                // The completion runs inline when the socket took everything: hop, so a body of many pieces
                // does not recurse once per piece (and overflow the stack).
                connection.queue.async { self.sendPieces(next, framing: following, close: close) }
            }
        }
    }

    /// Resets the connection without a (further) response.
    private func abort() {
        finished = true
        connection.closeOnQueue(mode: .abortive) {}
        let onFinish = self.onFinish
        self.onFinish = nil
        onFinish?()
    }

    private func responseWritten(error: TransportError?, close: Bool) {
        handling = false
        if error != nil || close || (peerClosed && pending.isEmpty) {
            finish()
        } else {
            process()
        }
    }

    private func serialize(_ head: HTTPResponseHead, contentLength: Int? = nil, bodyCapacity: Int = 0,
                           into bytes: inout [UInt8]) {
        do {
            try HTTPSerializer.writeOpen(head, reserving: 40 + bodyCapacity, into: &bytes)
            if let contentLength {
                try HTTPSerializer.appendField(name: "Content-Length", value: String(contentLength), into: &bytes)
            }
            HTTPSerializer.endHead(into: &bytes)
        } catch {
            // A handler produced an unsendable head (bad header value): answer 500 rather than corrupt framing.
            bytes = []
            let fallback = HTTPResponseHead(status: 500, headers: ["Content-Length": "0", "Connection": "close"])
            try? HTTPSerializer.write(fallback, into: &bytes)
        }
    }

    /// Answers a request the parser refused, then closes.
    private func reject(_ error: TransportError) {
        let status: Int
        switch error.code {
        case .httpBodyTooLarge: status = 413
        case .httpHeadersTooLarge, .httpLineTooLong: status = 431
        default: status = 400
        }
        handling = true
        send(HTTPServerResponse(status: status, text: error.description + "\n"), keepAlive: false, isHEAD: false)
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        connection.closeOnQueue(mode: .graceful) {}
        let onFinish = self.onFinish
        self.onFinish = nil
        onFinish?()
    }
}

/// The answer of a handler run inline on the connection's queue: kept when it comes before the handler returns
/// (the connection sends it without a hop), hopped to the queue when it comes later; only the first one counts.
private final class InlineAnswer: @unchecked Sendable {
    // @unchecked Sendable: `state` is only read or written with `lock` held.
    private enum State { case inside, kept(HTTPServerResponse), outside, answered }
    private let lock = Lock()
    private var state = State.inside

    /// Called by the responder: true when the caller must hop to the connection's queue to send `response`.
    func hop(_ response: HTTPServerResponse) -> Bool {
        lock.withLock {
            switch state {
            case .inside:
                state = .kept(response)
                return false
            case .outside:
                state = .answered
                return true
            case .kept, .answered:
                return false
            }
        }
    }

    /// Called once the handler returned: the answer it gave meanwhile, if any.
    func leave() -> HTTPServerResponse? {
        lock.withLock {
            switch state {
            case .kept(let response):
                state = .answered
                return response
            case .inside:
                state = .outside
                return nil
            case .outside, .answered:
                return nil
            }
        }
    }
}
