#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// Issue 13 item 0: connects that keep failing must never crash the process.
///
/// libdispatch's epoll back end on Linux handles `EPOLLHUP` (reported for every refused connect and every reset
/// socket) on its manager thread while the source's own queue may already be unregistering the same source; under
/// enough churn that ended in "BUG IN LIBDISPATCH: Source finalized twice" (SIGILL). Sockets are therefore watched
/// by `SocketPoller` (an epoll set of our own), never by a Dispatch source. This test churns exactly the traffic
/// that crashed: many concurrent connects refused by a closed port, connects to a listener that resets or closes
/// at random, and connects abandoned by short deadlines or cancelled. A crash kills the test process.
///
/// Duration: `TOOLBOX_SOAK_SECONDS` (default 20 s for this transport-level churn).
final class ConnectChurnSoakTests: XCTestCase {
    static var seconds: Double {
        ProcessInfo.processInfo.environment["TOOLBOX_SOAK_SECONDS"].flatMap(Double.init).map { max(1, $0) } ?? 20
    }

    func testConnectChurnAgainstRefusingAndDroppingEndpointsNeverCrashes() throws {
        let closedPort = try Self.closedPort()
        // A listener that, at random, resets at once, closes gracefully, or answers one echo and resets.
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { connection in
            switch Int.random(in: 0..<3) {
            case 0: connection.close(mode: .abortive) {}
            case 1: connection.close(mode: .graceful) {}
            default:
                connection.read(deadline: .after(seconds: 2)) { _ in connection.close(mode: .abortive) {} }
            }
        }
        defer { listener.close() }
        let end = Deadline.after(seconds: Self.seconds)
        let workers = ProcessInfo.processInfo.environment["TOOLBOX_SOAK_WORKERS"].flatMap(Int.init) ?? 24
        let outcomes = LockedValue((refused: 0, connected: 0, other: 0))
        let finished = DispatchGroup()
        for worker in 0..<workers {
            finished.enter()
            Self.churn(worker: worker, closedPort: closedPort, openPort: listener.port, until: end,
                       outcomes: outcomes) { finished.leave() }
        }
        XCTAssertEqual(finished.wait(timeout: .now() + Self.seconds + 60), .success, "a connect never completed")
        let counts = outcomes.load()
        print("connect churn: \(counts.refused) refused, \(counts.connected) connected, \(counts.other) other")
        XCTAssertGreaterThan(counts.refused, 0, "no connect to the closed port was refused")
        XCTAssertGreaterThan(counts.connected, 0, "no connect to the dropping listener succeeded")
    }

    /// One worker: connect after connect until `end`, alternating targets and ways of giving up.
    private static func churn(
        worker: Int, closedPort: UInt16, openPort: UInt16, until end: Deadline,
        outcomes: LockedValue<(refused: Int, connected: Int, other: Int)>, done: @escaping @Sendable () -> Void
    ) {
        guard !end.hasPassed else { return done() }
        let toClosed = Bool.random()
        let port = toClosed ? closedPort : openPort
        // Mostly a normal deadline; sometimes one so short it fires mid-connect, sometimes a cancel.
        let style = Int.random(in: 0..<10)
        let deadline: Deadline = style == 0 ? .after(seconds: 0.0005) : .after(seconds: 5)
        let attempt = TCPConnection.connect(host: "127.0.0.1", port: port, deadline: deadline) { result in
            switch result {
            case .failure(let error) where error.code == .connectionRefused:
                outcomes.withLockedValue { $0.refused += 1 }
            case .failure:
                outcomes.withLockedValue { $0.other += 1 }
            case .success(let connection):
                outcomes.withLockedValue { $0.connected += 1 }
                connection.write([1, 2, 3], deadline: .after(seconds: 2)) { _ in
                    connection.read(deadline: .after(seconds: 2)) { _ in
                        connection.close(mode: Bool.random() ? .abortive : .graceful) {}
                    }
                }
            }
            churn(worker: worker, closedPort: closedPort, openPort: openPort, until: end, outcomes: outcomes,
                  done: done)
        }
        if style == 1 { attempt.cancel() }
    }

    /// A port nothing listens on: bound once to learn a free number, then closed.
    static func closedPort() throws -> UInt16 {
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { _ in }
        let port = listener.port
        listener.close()
        return port
    }
}
