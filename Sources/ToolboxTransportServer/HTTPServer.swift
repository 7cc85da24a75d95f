import Dispatch
import ToolboxCore
import ToolboxTransport

/// A request received by `HTTPServer`, with its whole body.
public struct HTTPServerRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: [UInt8]
    /// The client's address.
    public var remoteAddress: SocketAddress?
}

/// What an `HTTPServer` handler answers.
public struct HTTPServerResponse: Sendable {
    /// How the body goes on the wire.
    public enum Body: Sendable {
        /// One piece, framed by `Content-Length`.
        case bytes([UInt8])
        /// Pieces sent as chunks with `Transfer-Encoding: chunked`.
        case chunked([[UInt8]])
        /// Pieces pulled one at a time while sending, so a large body is never held whole: `next` is called on
        /// the connection's queue each time the previous piece has been written (it must not block) and returns
        /// the next piece, or nil at the end. With a `contentLength` the body is framed by `Content-Length` and
        /// the pieces must add up to exactly that many bytes (otherwise the connection is reset, as framing can
        /// no longer be trusted); without one it goes out chunked. A HEAD request never pulls.
        case stream(contentLength: Int?, next: @Sendable () -> [UInt8]?)
    }

    public var head: HTTPResponseHead
    public var body: Body
    /// Close the connection after this response (also implied by the request asking for it).
    public var closeConnection: Bool
    /// Send nothing and reset the connection instead (fault injection: a peer that drops mid-request).
    public var abortConnection = false

    public init(status: Int, headers: HTTPHeaders = [:], body: Body = .bytes([]), closeConnection: Bool = false) {
        self.head = HTTPResponseHead(status: status, headers: headers)
        self.body = body
        self.closeConnection = closeConnection
    }

    /// No response at all: the connection is reset (RST) as a dropped connection would be.
    public static var abort: HTTPServerResponse {
        var response = HTTPServerResponse(status: 500)
        response.abortConnection = true
        return response
    }

    public init(status: Int, headers: HTTPHeaders = [:], text: String) {
        var headers = headers
        if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
        self.init(status: status, headers: headers, body: .bytes(Array(text.utf8)))
    }
}

/// A small HTTP/1.1 server on `TCPListener`: keep-alive, pipelining, chunked bodies both ways, `100-continue`.
///
/// ```swift
/// let server = try HTTPServer { request, respond in
///     respond(HTTPServerResponse(status: 200, text: "hello"))
/// }
/// print(server.port)
/// server.close()
/// ```
///
/// It exists for the emulator and for tests, so it favours clarity over throughput: each request body is
/// collected whole (bounded by `limits.maxBodyBytes`) before the handler runs. Malformed requests get a 400,
/// oversized ones a 413 or 431, and the connection closes.
public final class HTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPServerRequest, @escaping @Sendable (HTTPServerResponse) -> Void) -> Void

    private let listener: TCPListener
    private let connections = LockedValue<[ObjectIdentifier: HTTPServerConnection]>([:])

    /// The port the server listens on.
    public var port: UInt16 { listener.port }
    public var localAddress: SocketAddress { listener.localAddress }

    /// Starts listening.
    ///
    /// - parameter host: a numeric address to bind ("127.0.0.1", "::1", "0.0.0.0").
    /// - parameter port: 0 lets the kernel pick a free port (read it from `localAddress`).
    /// - parameter tls: serve HTTPS with this server context; nil serves plain HTTP.
    /// - parameter limits: request parsing limits; the body limit defaults to 64 MiB here.
    /// - parameter idleTimeout: how long a keep-alive connection may wait for its next request.
    /// - parameter connectionSetupDelay: how long each new connection waits (after its TLS handshake) before its
    ///   first request is read — an emulator reproducing a slow service's connection setup.
    /// - parameter queue: where `handler` runs (unless `handlesOnConnectionQueue`).
    /// - parameter handlesOnConnectionQueue: run `handler` on the connection's own (serial) queue, where the
    ///   request was parsed, instead of hopping to `queue`; an answer given before the handler returns is
    ///   written at once, without the hop back. The handler must then not block: work that may wait (file I/O,
    ///   a lock held long) goes to another queue, as on an event loop.
    /// - parameter eventLoops: 0 (the default): each connection runs on a queue of its own. N > 0: connections
    ///   share N event loops whose poller threads read, parse and (with `handlesOnConnectionQueue`) handle and
    ///   answer requests without a thread hop; see `TCPListener`'s `eventLoops`. A handler on the connection's
    ///   queue must then never wait.
    /// - parameter handler: answers each request through the responder it is given.
    public init(
        host: String = "127.0.0.1", port: UInt16 = 0, tls: TLSContext? = nil,
        limits: HTTPParserLimits = HTTPServer.defaultLimits, idleTimeout: Duration = .seconds(60),
        connectionSetupDelay: Duration = .zero,
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue, handlesOnConnectionQueue: Bool = false,
        eventLoops: Int = 0,
        handler: @escaping Handler
    ) throws {
        let connections = self.connections
        let setupDelay = min(max(connectionSetupDelay.toolboxSeconds, 0), 3600)
        let idleTimeout = min(max(idleTimeout.toolboxSeconds, 0), 1e9)
        // Accepting and starting a connection is the server's own work, on a serial queue of its own rather than
        // `queue` (by default the concurrent default callback queue, which libdispatch's worker-pool monitor
        // inspects: architecture.md, "No library work on a .concurrent queue"). Handlers still run on `queue`.
        listener = try TCPListener(host: host, port: port, tls: tls,
                                   queue: LibraryQueues.makeWorkQueue(label: "ToolboxTransportServer.http-accept"),
                                   eventLoops: eventLoops) {
            connection in
            let served = HTTPServerConnection(
                connection: connection, limits: limits, idleTimeout: idleTimeout, setupDelay: setupDelay,
                handlerQueue: handlesOnConnectionQueue ? nil : queue, handler: handler)
            let key = ObjectIdentifier(served)
            connections.withLockedValue { $0[key] = served }
            served.start { connections.withLockedValue { _ = $0.removeValue(forKey: key) } }
        }
    }

    public static let defaultLimits: HTTPParserLimits = {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 64 << 20
        return limits
    }()

    /// Stops accepting and closes every open connection abortively.
    public func close() {
        listener.close()
        let open = connections.withLockedValue { all in
            defer { all = [:] }
            return Array(all.values)
        }
        for served in open { served.connection.close(mode: .abortive, queue: LibraryQueues.ignoredCompletions) {} }
    }
}
