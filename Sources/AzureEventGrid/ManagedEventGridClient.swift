import ConnectionPooling
import Dispatch
import ToolboxCore
import ToolboxTransport

/// `EventGridClient` over a pool of warm keep-alive connections per topic host (`EventGridClientOptions.pool`):
/// concurrent publishes run side by side, and with `minReadyPerTopic` no publish pays for connect and TLS.
///
/// ```swift
/// var options = EventGridClientOptions()
/// options.pool.maxConnectionsPerTopic = 8
/// let client = try ManagedEventGridClient(config: config, credential: .token(credential), options: options)
/// _ = try client.warmUp()                      // optional: open the connections now
/// client.send(events, toTopic: "orders") { result in … }
/// ```
public final class ManagedEventGridClient: EventGridPublishing {
    private let core: EventGridCore

    /// - throws: as `EventGridClient.init`.
    public init(config: EventGridConfig, credential: EventGridCredential? = nil,
                options: EventGridClientOptions = EventGridClientOptions()) throws(ToolboxError) {
        core = try EventGridCore(config: config, credential: credential, options: options) { tls in
            var http = HTTPClientConfiguration()
            http.tls = tls
            http.maxConnectionsPerEndpoint = max(1, options.pool.maxConnectionsPerTopic)
            http.minReadyPerEndpoint = max(0, min(options.pool.minReadyPerTopic, http.maxConnectionsPerEndpoint))
            http.maxIdle = options.pool.maxIdle.toolboxSeconds
            http.maxLifespan = options.pool.maxLifespan?.toolboxSeconds
            http.userAgent = options.userAgent
            return try HTTPClient(configuration: http, logger: options.logger)
        }
    }

    public var config: EventGridConfig { core.config }

    @discardableResult
    public func send(_ events: [EventGridEvent], toTopic topic: String, timeout: Duration, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.publish(events, topic: topic, timeout: timeout, queue: queue, completion: completion)
    }

    @discardableResult
    public func send(_ events: [CloudEvent], toTopic topic: String, timeout: Duration, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.publish(events, topic: topic, timeout: timeout, queue: queue, completion: completion)
    }

    public func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        core.close(queue: queue, completion: completion)
    }

    /// Opens up to `connectionsPerTopic` (default: `minReadyPerTopic`, at least one) connections to every topic
    /// host now; delivers how many are ready in total, or the first connection failure.
    public func warmUp(connectionsPerTopic: Int? = nil, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                       completion: @escaping @Sendable (Result<Int, ToolboxError>) -> Void) {
        let count = max(1, connectionsPerTopic ?? core.options.pool.minReadyPerTopic)
        let endpoints = core.endpoints
        let results = LockedValue<(ready: Int, error: ToolboxError?)>((0, nil))
        let group = DispatchGroup()
        for endpoint in endpoints {
            group.enter()
            core.http.warmUp(endpoint, count: count, queue: queue) { result in
                results.withLockedValue { state in
                    switch result {
                    case .success(let ready): state.ready += ready
                    case .failure(let error): state.error = state.error ?? error
                    }
                }
                group.leave()
            }
        }
        group.notify(queue: queue) {
            let (ready, error) = results.load()
            completion(error.map { .failure($0) } ?? .success(ready))
        }
    }

    /// Blocking form of `warmUp(connectionsPerTopic:queue:completion:)`.
    public func warmUp(connectionsPerTopic: Int? = nil) throws(ToolboxError) -> Int {
        try Blocking.waitForResult { queue, done in warmUp(connectionsPerTopic: connectionsPerTopic, queue: queue, completion: done) }
    }

    /// The pool state (ready, in use, opening, creates …) per topic host, for metrics and tests.
    public func poolSnapshots() -> [HTTPEndpoint: ConnectionPoolSnapshot] {
        core.http.poolSnapshots()
    }
}
