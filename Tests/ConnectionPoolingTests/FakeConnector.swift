import ConnectionPooling
import Dispatch
import Foundation
import ToolboxCore

/// A connection handed out by `FakeConnector`; counts the leases using it so tests can check `clientLimit`.
final class FakeConnection: @unchecked Sendable {
    // @unchecked Sendable: mutable fields are guarded by `lock`.
    let id: Int
    private let lock = Lock()
    private var _closed = false
    private var _users = 0
    private var _maxUsers = 0

    init(id: Int) { self.id = id }

    var isClosed: Bool { lock.withLock { _closed } }
    var maxUsers: Int { lock.withLock { _maxUsers } }

    func markClosed() { lock.withLock { _closed = true } }

    /// Called by a test when it starts using the connection; returns the number of users now.
    @discardableResult
    func beginUse() -> Int {
        lock.withLock {
            _users += 1
            _maxUsers = max(_maxUsers, _users)
            return _users
        }
    }

    func endUse() { lock.withLock { _users -= 1 } }
}

struct FakeError: Error, Equatable, CustomStringConvertible {
    let what: String
    var description: String { "FakeError(\(what))" }
}

/// A connector whose delays and failures tests control, and which records what the pool asked of it.
final class FakeConnector: Connector, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is guarded by `lock`; behaviour closures are set before use.
    typealias Connection = FakeConnection

    struct Counts: Equatable {
        var createCalls = 0
        var created = 0
        var readyCalls = 0
        var closes = 0
        var open = 0
        var maxOpen = 0
        var opening = 0
        var maxOpening = 0
    }

    private let lock = Lock()
    private var counts = Counts()
    private var nextID = 1
    private var connections: [FakeConnection] = []

    /// Delay before `create` answers; nil means never answer.
    var createDelay: Double? = 0
    var readyDelay: Double = 0
    var closeDelay: Double = 0
    /// Decides whether the n-th create (1-based) fails.
    var createFails: @Sendable (Int) -> Bool = { _ in false }
    var readyFails: @Sendable (Int) -> Bool = { _ in false }
    let queue = DispatchQueue(label: "fake-connector", attributes: .concurrent)

    var snapshot: Counts { lock.withLock { counts } }
    var allConnections: [FakeConnection] { lock.withLock { connections } }

    func create(deadline: Deadline, completion: @escaping @Sendable (Result<FakeConnection, any Error>) -> Void) {
        let n: Int = lock.withLock {
            counts.createCalls += 1
            counts.opening += 1
            counts.maxOpening = max(counts.maxOpening, counts.opening)
            return counts.createCalls
        }
        guard let createDelay else { return }
        queue.asyncAfter(deadline: .now() + createDelay) { [self] in
            if createFails(n) {
                lock.withLock { counts.opening -= 1 }
                completion(.failure(FakeError(what: "create \(n)")))
                return
            }
            let connection: FakeConnection = lock.withLock {
                let connection = FakeConnection(id: nextID)
                nextID += 1
                connections.append(connection)
                counts.created += 1
                counts.open += 1
                counts.maxOpen = max(counts.maxOpen, counts.open)
                return connection
            }
            completion(.success(connection))
        }
    }

    func ready(
        _ connection: FakeConnection, deadline: Deadline,
        completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        let n: Int = lock.withLock {
            counts.readyCalls += 1
            return counts.readyCalls
        }
        queue.asyncAfter(deadline: .now() + readyDelay) { [self] in
            lock.withLock { counts.opening -= 1 }
            completion(readyFails(n) ? .failure(FakeError(what: "ready \(n)")) : .success(()))
        }
    }

    func close(_ connection: FakeConnection, completion: @escaping @Sendable () -> Void) {
        queue.asyncAfter(deadline: .now() + closeDelay) { [self] in
            connection.markClosed()
            lock.withLock {
                counts.closes += 1
                counts.open -= 1
            }
            completion()
        }
    }
}

/// Waits (polling, for test set-up only) until `condition` holds or `seconds` pass.
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(2_000)
    }
    return condition()
}

/// Collects results delivered to completion handlers, in order, thread-safely.
final class Collector<T: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `items` is guarded by `lock`.
    private let lock = Lock()
    private var items: [T] = []

    func append(_ item: T) { lock.withLock { items.append(item) } }
    var all: [T] { lock.withLock { items } }
    var count: Int { lock.withLock { items.count } }
}
