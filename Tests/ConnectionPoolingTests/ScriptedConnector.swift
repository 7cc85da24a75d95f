import ConnectionPooling
import ToolboxCore

/// A connection of `ScriptedConnector`; remembers whether the pool asked to close it.
final class ScriptedConnection: @unchecked Sendable {
    // @unchecked Sendable: `_closeCalled` is guarded by `lock`.
    let id: Int
    private let lock = Lock()
    private var _closeCalled = false

    init(id: Int) { self.id = id }

    var closeCalled: Bool { lock.withLock { _closeCalled } }
    func markCloseCalled() { lock.withLock { _closeCalled = true } }
}

/// A connector that answers only when told to: every `create`, `ready` and `close` waits until the test completes
/// it, so a test decides the order of the pool's connector events (the model-trace replay drives it).
///
/// Create calls are numbered from 1 in call order, which is the pool's slot id order (`lease.connectionID`).
final class ScriptedConnector: Connector, @unchecked Sendable {
    // @unchecked Sendable: every mutable field is guarded by `lock`; completions are called outside it.
    typealias Connection = ScriptedConnection
    typealias CreateCompletion = @Sendable (Result<ScriptedConnection, any Error>) -> Void
    typealias ReadyCompletion = @Sendable (Result<Void, any Error>) -> Void

    struct ScriptedFailure: Error, CustomStringConvertible {
        let what: String
        var description: String { "ScriptedFailure(\(what))" }
    }

    private let lock = Lock()
    private var createCalls = 0
    private var pendingCreates: [Int: CreateCompletion] = [:]
    private var pendingReadies: [Int: ReadyCompletion] = [:]
    private var pendingCloses: [Int: @Sendable () -> Void] = [:]
    private var closeCalls: [Int] = []
    /// Connections delivered whose close has not finished.
    private var open: Set<Int> = []

    /// How many times the pool called `create`.
    var createCount: Int { lock.withLock { createCalls } }
    /// The connection ids the pool asked to close, in call order.
    var closeCallIDs: [Int] { lock.withLock { closeCalls } }
    var openCount: Int { lock.withLock { open.count } }
    /// Creates and readiness checks the pool is waiting for.
    var inFlightOpenings: Int { lock.withLock { pendingCreates.count + pendingReadies.count } }

    func create(deadline: Deadline, completion: @escaping CreateCompletion) {
        lock.withLock {
            createCalls += 1
            pendingCreates[createCalls] = completion
        }
    }

    func ready(_ connection: ScriptedConnection, deadline: Deadline, completion: @escaping ReadyCompletion) {
        lock.withLock { pendingReadies[connection.id] = completion }
    }

    func close(_ connection: ScriptedConnection, completion: @escaping @Sendable () -> Void) {
        connection.markCloseCalled()
        lock.withLock {
            closeCalls.append(connection.id)
            pendingCloses[connection.id] = completion
        }
    }

    /// Answers create call `id`; false if the pool is not waiting for it.
    func finishCreate(_ id: Int, ok: Bool) -> Bool {
        let completion: CreateCompletion? = lock.withLock {
            let completion = pendingCreates.removeValue(forKey: id)
            if completion != nil && ok { open.insert(id) }
            return completion
        }
        guard let completion else { return false }
        completion(ok ? .success(ScriptedConnection(id: id)) : .failure(ScriptedFailure(what: "create \(id)")))
        return true
    }

    /// Answers the readiness check of connection `id`; false if the pool is not waiting for it.
    func finishReady(_ id: Int, ok: Bool) -> Bool {
        guard let completion = lock.withLock({ pendingReadies.removeValue(forKey: id) }) else { return false }
        completion(ok ? .success(()) : .failure(ScriptedFailure(what: "ready \(id)")))
        return true
    }

    /// Finishes closing connection `id`; false if the pool is not waiting for it.
    func finishClose(_ id: Int) -> Bool {
        let completion: (@Sendable () -> Void)? = lock.withLock {
            let completion = pendingCloses.removeValue(forKey: id)
            if completion != nil { open.remove(id) }
            return completion
        }
        guard let completion else { return false }
        completion()
        return true
    }
}
