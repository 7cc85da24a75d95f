import ConnectionPooling
import Dispatch
import Foundation
import ToolboxCore
import XCTest

/// `closeAll` ends the connections still opening through `Connector.cancelCreations`: it waited for them until
/// the connector gave up by itself (`toolbox cosmos read --timeout 2` against a TLS peer that never answers the
/// handshake took 10 s, the connect time-out, to close).
final class PoolCloseCancelsCreationsTests: XCTestCase {
    /// Never finishes a create by itself; `cancelCreations` fails every pending one.
    final class SilentConnector: Connector, @unchecked Sendable {
        // @unchecked Sendable: `pending` and `cancelCalls` are guarded by `lock`.
        private let lock = Lock()
        private var pending: [@Sendable (Result<FakeConnection, any Error>) -> Void] = []
        private var cancelCalls = 0

        var cancels: Int { lock.withLock { cancelCalls } }
        var waiting: Int { lock.withLock { pending.count } }

        func create(deadline: Deadline, completion: @escaping @Sendable (Result<FakeConnection, any Error>) -> Void) {
            lock.withLock { pending.append(completion) }
        }

        func ready(_ connection: FakeConnection, deadline: Deadline,
                   completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
            completion(.success(()))
        }

        func close(_ connection: FakeConnection, completion: @escaping @Sendable () -> Void) { completion() }

        func cancelCreations() {
            let completions = lock.withLock {
                cancelCalls += 1
                defer { pending = [] }
                return pending
            }
            for completion in completions { completion(.failure(FakeError(what: "cancelled"))) }
        }
    }

    func testCloseAllCancelsConnectionsStillOpening() throws {
        let connector = SilentConnector()
        var configuration = ConnectionPoolConfiguration()
        configuration.metricsLabel = nil
        configuration.getTimeout = .seconds(3600)
        let pool = try ConnectionPool(connector: connector, configuration: configuration)
        let refused = Result { try pool.acquire(timeout: .milliseconds(50)) }
        XCTAssertEqual((refused.failureValue as? ConnectionPoolError)?.code, .timedOut)
        XCTAssertEqual(connector.waiting, 1, "one connection is still opening")
        let closed = expectation(description: "closed")
        pool.closeAll { closed.fulfill() }
        wait(for: [closed], timeout: 30)
        XCTAssertEqual(connector.cancels, 1)
        XCTAssertEqual(pool.snapshot.opening, 0)
    }

    /// A pool with nothing opening does not ask the connector to cancel anything.
    func testCloseAllWithNothingOpeningCancelsNothing() throws {
        let connector = SilentConnector()
        var configuration = ConnectionPoolConfiguration()
        configuration.metricsLabel = nil
        let pool = try ConnectionPool(connector: connector, configuration: configuration)
        try pool.closeAll()
        XCTAssertEqual(connector.cancels, 0)
    }
}
