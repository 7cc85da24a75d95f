import ConnectionPooling
import Synchronization
import Dispatch
import Logging
import ToolboxCore

/// Opens and closes the HTTP/1.1 connections of one endpoint for its `ConnectionPool`.
struct HTTPConnector: Connector {
    typealias Connection = HTTPClientConnection

    let endpoint: HTTPEndpoint
    let tls: TLSContext?
    /// The name to verify the certificate against, when not the endpoint's host.
    let serverNameOverride: String?
    let connectTimeout: Double
    let connectOptions: TCPConnectOptions
    let limits: HTTPParserLimits
    let userAgent: String
    /// Counts every connection opened, across all endpoints of the client.
    let opened: LockedValue<Int>
    /// The event loops new connections' queues target.
    let loops: HTTPEventLoops
    /// The request a new connection must answer before it serves anyone, if any.
    var readinessProbe: HTTPReadinessProbe? = nil
    /// Largest probe response body collected.
    var maxProbeBody = 1 << 20
    /// The connects running now, cancelled when the pool closes (shared by the copies of this connector).
    let creations = CancellableSet()

    func create(deadline: Deadline, completion: @escaping @Sendable (Result<HTTPClientConnection, any Error>) -> Void) {
        let endpoint = self.endpoint
        let limits = self.limits
        let userAgent = self.userAgent
        let opened = self.opened
        let loop = loops.next()
        let creations = self.creations
        let id = creations.reserve()
        let handle = TCPConnection.connect(
            host: endpoint.host, port: endpoint.port, tls: endpoint.isTLS ? tls : nil,
            serverName: serverNameOverride,
            deadline: min(deadline, .after(seconds: connectTimeout)), options: connectOptions,
            targetQueue: loop?.queue, poller: loop?.poller, queue: LibraryQueues.makeWorkQueue(label: "ToolboxTransport.connect")
        ) { result in
            creations.finish(id)
            switch result {
            case .success(let tcp):
                opened.withLockedValue { $0 += 1 }
                completion(.success(HTTPClientConnection(tcp: tcp, endpoint: endpoint, limits: limits, userAgent: userAgent)))
            case .failure(let error):
                completion(.failure(error))
            }
        }
        creations.attach(id, handle)
    }

    func cancelCreations() { creations.cancelAll() }

    /// HTTP has no handshake beyond TCP and TLS: without a readiness probe the first request proves the
    /// connection; with one, the probe's request must succeed on it first.
    func ready(_ connection: HTTPClientConnection, deadline: Deadline,
               completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard let probe = readinessProbe else {
            completion(.success(()))
            return
        }
        let limit = maxProbeBody
        probe.makeRequest(endpoint, deadline) { built in
            switch built {
            case .failure(let error):
                completion(.failure(error))
            case .success(let request):
                let sink = BufferingSink(limit: limit)
                connection.exchange(request, deadline: deadline, sink: sink) { outcome in
                    switch outcome.result {
                    case .failure(let error):
                        completion(.failure(error))
                    case .success(let head):
                        if !outcome.reusable {
                            completion(.failure(TransportError(
                                .connectionReset, "the server closed the connection after the readiness request")))
                        } else if let refusal = probe.check(HTTPResponse(head: head, body: sink.takeBody())) {
                            completion(.failure(refusal))
                        } else {
                            completion(.success(()))
                        }
                    }
                }
            }
        }
    }

    func close(_ connection: HTTPClientConnection, completion: @escaping @Sendable () -> Void) {
        connection.tcp.close(mode: .graceful, queue: LibraryQueues.makeWorkQueue(label: "ToolboxTransport.http-close"),
                             completion: completion)
    }
}

/// The serial queues an `HTTPClient`'s connections share (see `HTTPClientConfiguration.eventLoopCount`), and
/// those of an `HTTPServer`'s accepted connections when it asks for event loops (`TCPListener`'s `eventLoops`).
/// Each loop has a `SocketPoller` (Linux) whose thread runs its connections' socket reports; the thread starts
/// with the loop's first connection and ends after the loop has had none for a while (falling back to a Dispatch
/// read source on the loop's queue if the system refuses the thread).
package final class HTTPEventLoops: Sendable {
    package struct Loop: Sendable {
        package let queue: DispatchQueue
        let poller: SocketPoller?
    }

    let loops: [Loop]
    private let counter = Atomic<Int>(0)

    /// - parameter pollerThreads: whether each loop's poller gets a thread of its own (see
    ///   `SocketPoller.init(thread:fallbackQueue:idleSeconds:logger:)`); otherwise a Dispatch read source on the
    ///   loop's queue drains it (each report then passes through libdispatch's manager thread). `HTTPClient`
    ///   always asks for threads: a request started from a report (an inline completion's next request) is handed
    ///   to the thread for after its round (`SocketPoller.runAfterCurrentRound`), so it needs no worker wake-up.
    /// - parameter idleSeconds: how long a loop's poller thread waits without any connection before it ends.
    package init(count: Int, pollerThreads: Bool = true, idleSeconds: Double = 30,
                 label: String = "ToolboxTransport.HTTPClient.loop",
                 logger: Logger = Logger(label: "AzureClientsToolbox.HTTPClient", factory: { _ in SwiftLogNoOpLogHandler() })) {
        loops = (0..<max(0, count)).map {
            let queue = LibraryQueues.makeQueue(label: "\(label)\($0)")
            // Marked like a connection's queue, though none of its own code runs there: see `isOnTransportQueue`.
            TCPConnection.transportQueueMark.set(on: queue)
            let threaded = pollerThreads
                ? SocketPoller(thread: (), fallbackQueue: queue, idleSeconds: idleSeconds, logger: logger) : nil
            return Loop(queue: queue, poller: threaded ?? SocketPoller(queue: queue))
        }
    }

    /// The loop for the next connection, round robin; nil when connections get independent queues.
    package func next() -> Loop? {
        guard !loops.isEmpty else { return nil }
        let n = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[(n % loops.count + loops.count) % loops.count]
    }
}
