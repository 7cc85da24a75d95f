import ConnectionPooling
import Dispatch
import Logging
import ToolboxCore

/// Opens, proves and closes a client's connections; the basic clients use one, the managed ones a pool of them.
package protocol MessagingConnectionFactory: Sendable {
    associatedtype Connection: AnyObject & Sendable
    /// Opens a connection (transport, SASL, CBS) by `deadline`.
    func open(deadline: Deadline, completion: @escaping @Sendable (Result<Connection, AzureMessagingError>) -> Void)
    /// Proves a new connection ready (entity link attached, a first round trip).
    func ready(_ connection: Connection, deadline: Deadline,
               completion: @escaping @Sendable (Result<Void, AzureMessagingError>) -> Void)
    func close(_ connection: Connection, completion: @escaping @Sendable () -> Void)
    /// Whether the connection has ended and must not be used again.
    func isClosed(_ connection: Connection) -> Bool
    /// Marks the connection retired; true only for the first call, so many users that saw one connection fail
    /// count one reconnect.
    func markRetired(_ connection: Connection) -> Bool
    /// Records how a try on the connection ended; true when the connection should be retired because
    /// `ConnectionProvider.timeoutsBeforeRetiring` tries in a row timed out on it (a dead or silent peer).
    @discardableResult
    func noteTryOutcome(_ connection: Connection, timedOut: Bool) -> Bool
    /// Ends the opens still in progress (their completions fail with `.cancelled`): the pool is closing.
    func cancelOpens()
}

extension MessagingConnectionFactory {
    package func cancelOpens() {}
}

/// Adapts a factory to `ConnectionPooling.Connector`.
struct FactoryConnector<F: MessagingConnectionFactory>: Connector {
    let factory: F
    let health: HealthTracker

    func create(deadline: Deadline, completion: @escaping @Sendable (Result<F.Connection, any Error>) -> Void) {
        factory.open(deadline: deadline) { [health] result in
            if case .success = result { health.recordOpened() }
            completion(result.mapError { $0 })
        }
    }

    func ready(_ connection: F.Connection, deadline: Deadline,
               completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        factory.ready(connection, deadline: deadline) { completion($0.mapError { $0 }) }
    }

    func close(_ connection: F.Connection, completion: @escaping @Sendable () -> Void) {
        factory.close(connection, completion: completion)
    }

    func cancelCreations() { factory.cancelOpens() }
}

/// A connection lent to one operation: release it once, with `discard: true` when it failed in use.
///
/// Not generic over the connection's type: the retry loop (`perform`) runs unspecialized in the client modules,
/// and there every generic type built from the connection's type (`ConnectionHandle<C>`, `Result<…>` of it, a
/// try's lease state) cost a lookup in the runtime's metadata cache — 31 per Service Bus scheduled send, ~5 % of
/// its client instructions (performance-history.md, "2026-12-06"). The provider that lends a handle gives the
/// connection back its type (`ConnectionProvider.connection(of:)`).
package struct ConnectionHandle: Sendable {
    private let object: any AnyObject & Sendable
    private let releaseBody: @Sendable (Bool) -> Void

    init(connection: some AnyObject & Sendable, release: @escaping @Sendable (Bool) -> Void) {
        object = connection
        releaseBody = release
    }

    /// The connection as `type`, which must be the type it was lent as (checked in debug builds).
    func connection<Connection: AnyObject>(as type: Connection.Type) -> Connection {
        unsafeDowncast(object, to: type)
    }

    package func release(discard: Bool) { releaseBody(discard) }
}

/// Where a client's operations get their connection: one lazily opened connection (basic clients) or a
/// `ConnectionPool` of them (managed clients).
///
/// A connection that fails in use is released with `discard: true`: the basic form forgets it (the next
/// operation opens a new one, exactly once for all callers waiting), the pooled form retires its slot.
package final class ConnectionProvider<F: MessagingConnectionFactory>: Sendable {
    private enum Mode: Sendable {
        case single(SingleConnection<F>)
        case pooled(ConnectionPool<FactoryConnector<F>>)
    }

    private let mode: Mode
    package let factory: F
    package let health: HealthTracker
    /// The clock of every timer an operation sets: per-try time-outs and retry delays (and the pool's own).
    package let clock: any ToolboxClock
    /// The per-try time-outs, on `clock`.
    let timeouts: TimeoutScheduler

    /// One connection, opened on first use (and re-opened after it fails).
    package init(single factory: F, health: HealthTracker, clock: any ToolboxClock = SystemClock()) {
        self.factory = factory
        self.health = health
        self.clock = clock
        timeouts = .on(clock)
        mode = .single(SingleConnection(factory: factory, health: health))
    }

    /// A pool of connections with `configuration`.
    package init(pooled factory: F, configuration: ConnectionPoolConfiguration, logger: Logger,
                health: HealthTracker, clock: any ToolboxClock = SystemClock()) throws(AzureMessagingError) {
        self.factory = factory
        self.health = health
        self.clock = clock
        timeouts = .on(clock)
        do {
            mode = .pooled(try ConnectionPool(connector: FactoryConnector(factory: factory, health: health),
                                              configuration: configuration, logger: logger, clock: clock))
        } catch {
            throw AzureMessagingError(.invalidArgument, "invalid pool configuration: \(error)")
        }
    }

    /// Lends a connection; `completion` runs once on `queue`. A nil `timeout` waits as long as the pool's
    /// `acquireTimeout` (10 s by default, as the Python library) or, for the single connection, as long as
    /// opening it may take: `openTimeout` (an operation passes its try time-out, so a connect that hangs is given
    /// up with the try that waited for it, and the retry opens afresh), at most 60 s (the pool's `getTimeout`).
    @discardableResult
    package func acquire(timeout: Double?, openTimeout: Double? = nil, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<ConnectionHandle, AzureMessagingError>) -> Void)
        -> any Cancellable
    {
        switch mode {
        case .single(let single):
            return single.acquire(timeout: timeout ?? min(openTimeout ?? 60, 60), queue: queue, completion: completion)
        case .pooled(let pool):
            let health = self.health
            let factory = self.factory
            return pool.acquire(timeoutSeconds: timeout, queue: queue) { result in
                completion(result.map { lease in
                    ConnectionHandle(connection: lease.connection) { discard in
                        if discard && factory.markRetired(lease.connection) { health.recordReconnect() }
                        lease.release(discard ? .discard : .reuse)
                    }
                }.mapError { AzureMessagingError.wrap($0, context: "getting a connection") })
            }
        }
    }

    /// Lends a ready connection with spare capacity if the pool has one right now (no queueing, no opening,
    /// no thread hop); nil otherwise, and always nil for the single-connection form.
    package func tryAcquireNow() -> ConnectionHandle? {
        guard case .pooled(let pool) = mode, let lease = pool.tryAcquireImmediately() else { return nil }
        let health = self.health
        let factory = self.factory
        return ConnectionHandle(connection: lease.connection) { discard in
            if discard && factory.markRetired(lease.connection) { health.recordReconnect() }
            lease.release(discard ? .discard : .reuse)
        }
    }

    /// The connection a handle this provider lent holds, with its type.
    package func connection(of handle: ConnectionHandle) -> F.Connection { handle.connection(as: F.Connection.self) }

    /// Opens up to `count` connections ahead of need (pooled) or the one connection (basic).
    package func warmUp(count: Int, queue: DispatchQueue,
                       completion: @escaping @Sendable (Result<Int, AzureMessagingError>) -> Void) {
        switch mode {
        case .single:
            acquire(timeout: 60, queue: queue) { result in
                completion(result.map { handle in handle.release(discard: false); return 1 })
            }
        case .pooled(let pool):
            pool.warmUp(count: count, queue: queue) { result in
                completion(result.mapError { AzureMessagingError.wrap($0, context: "warming up") })
            }
        }
    }

    /// Closes every connection; later acquires fail with `.clientClosed`.
    package func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        switch mode {
        case .single(let single): single.close(queue: queue, completion: completion)
        case .pooled(let pool): pool.closeAll(queue: queue, completion: completion)
        }
    }

    /// Connection counts merged with the tracker's errors and reconnects.
    package var currentHealth: ClientHealth {
        var report = health.current
        switch mode {
        case .single(let single):
            let (ready, opening, inUse) = single.counts
            report.readyConnections = ready
            report.openingConnections = opening
            report.inUseLeases = inUse
        case .pooled(let pool):
            let snapshot = pool.snapshot
            report.readyConnections = snapshot.ready
            report.openingConnections = snapshot.opening
            report.inUseLeases = snapshot.inUse
        }
        return report
    }
}
