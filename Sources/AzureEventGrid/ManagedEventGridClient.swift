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
public final class ManagedEventGridClient: EventGridCoreBacked {
    let core: EventGridCore

    /// - throws: as `EventGridClient.init`.
    public init(config: EventGridConfig, credential: EventGridCredential? = nil,
                options: EventGridClientOptions = EventGridClientOptions()) throws(ToolboxError) {
        core = try EventGridCore(config: config, credential: credential, options: options, pooled: true)
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
    @discardableResult
    public func warmUp(connectionsPerTopic: Int? = nil) throws(ToolboxError) -> Int {
        try Blocking.waitForResult { queue, done in warmUp(connectionsPerTopic: connectionsPerTopic, queue: queue, completion: done) }
    }

    /// The pool state (ready, in use, opening, creates …) per topic host, for metrics and tests.
    public func poolSnapshots() -> [HTTPEndpoint: ConnectionPoolSnapshot] {
        core.http.poolSnapshots()
    }
}
