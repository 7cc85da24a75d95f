import Foundation
import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// TCP connections whose read readiness comes from an event loop's shared epoll set (what HTTPClient uses),
/// through the same paths TCPConnectionTests check with a read source per connection.
final class SocketPollerTests: XCTestCase {
    private let loops = HTTPEventLoops(count: 1)

    private func connect(port: UInt16) throws -> TCPConnection {
        let loop = try XCTUnwrap(loops.next())
        #if os(Linux)
        XCTAssertNotNil(loop.poller, "an event loop on Linux has an epoll poller")
        #endif
        return try Blocking.wait { queue, completion in
            TCPConnection.connect(
                host: "127.0.0.1", port: port, tls: nil, serverName: nil, deadline: .after(seconds: 10),
                targetQueue: loop.queue, poller: loop.poller, queue: queue
            ) { completion($0.mapError { $0 }) }
        }
    }

    func testEchoOnSeveralConnectionsOfOneLoop() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        let connections = try (0..<4).map { _ in try connect(port: listener.port) }
        for round in 0..<3 {
            for (index, connection) in connections.enumerated() {
                try connection.write([UInt8(round), UInt8(index)], timeout: .seconds(10))
            }
            for (index, connection) in connections.enumerated() {
                XCTAssertEqual(try readExactly(connection, count: 2), [UInt8(round), UInt8(index)])
            }
        }
        for connection in connections { try connection.close() }
    }

    func testLargeTransferNeedsSeveralReadinessReports() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        let connection = try connect(port: listener.port)
        let payload = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        connection.write(payload, deadline: .after(seconds: 30)) { _ in }
        XCTAssertEqual(try readExactly(connection, count: payload.count, timeout: .seconds(30)), payload)
        try connection.close()
    }

    func testReadTimeoutLeavesConnectionUsable() throws {
        let peer = LockedValue<TCPConnection?>(nil)
        let accepted = DispatchSemaphore(value: 0)
        let listener = try TCPListener { connection in
            peer.withLockedValue { $0 = connection }
            accepted.signal()
        }
        defer { listener.close() }
        let connection = try connect(port: listener.port)
        XCTAssertEqual(accepted.wait(timeout: .now() + 10), .success)
        expectTransportError(.timedOut) { _ = try connection.read(timeout: .seconds(0.2)) }
        try XCTUnwrap(peer.load()).write([7, 8], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 2), [7, 8])
        try connection.close()
        try peer.load()?.close()
    }

    func testPendingReadSeesALaterCloseAndReset() throws {
        try assertPendingReadSeesALaterCloseAndReset { try connect(port: $0) }
    }

    func testClosedConnectionsLeaveTheLoopUsable() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        for _ in 0..<20 {
            let connection = try connect(port: listener.port)
            try connection.write([42], timeout: .seconds(10))
            XCTAssertEqual(try readExactly(connection, count: 1), [42])
            try connection.close(mode: .abortive)
        }
    }

    #if os(Linux)
    private func connect(_ loop: HTTPEventLoops.Loop, port: UInt16) throws -> TCPConnection {
        try Blocking.wait { queue, completion in
            TCPConnection.connect(
                host: "127.0.0.1", port: port, tls: nil, serverName: nil, deadline: .after(seconds: 10),
                targetQueue: loop.queue, poller: loop.poller, queue: queue
            ) { completion($0.mapError { $0 }) }
        }
    }

    /// Waits (bounded) until `condition` holds; the caller asserts it afterwards.
    private func eventually(_ condition: () -> Bool) {
        let deadline = Deadline.after(seconds: 10)
        while !condition(), !deadline.hasPassed { usleep(1000) }
    }

    /// A client that never connects starts no poller thread (Blob makes a client per container: eager threads
    /// were min(cores, maxConnectionsPerEndpoint) idle threads per container client).
    func testClientThatNeverConnectsStartsNoPollerThread() throws {
        var configuration = HTTPClientConfiguration()
        configuration.eventLoopCount = 4
        configuration.maxConnectionsPerEndpoint = 4
        let client = try HTTPClient(configuration: configuration)
        XCTAssertEqual(client.loops.loops.count, 4)
        for loop in client.loops.loops {
            let status = try XCTUnwrap(loop.poller).threadStatus
            XCTAssertFalse(status.running)
            XCTAssertEqual(status.starts, 0)
        }
    }

    /// The thread starts with a loop's first connection, only on that loop, ends once the loop has had no
    /// connection for its idle time, and the next connection starts another.
    func testPollerThreadStartsOnFirstConnectionEndsWhenIdleAndRestarts() throws {
        let loops = HTTPEventLoops(count: 2, idleSeconds: 0.05)
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        let loop = try XCTUnwrap(loops.next())
        let poller = try XCTUnwrap(loop.poller)
        let other = try XCTUnwrap(loops.next()?.poller)
        let first = try connect(loop, port: listener.port)
        try first.write([1], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(first, count: 1), [1])
        // At least one: a 50 ms idle wait could in principle end between the connect attempt's registration
        // and the connection's.
        let firstStarts = poller.threadStatus.starts
        XCTAssertGreaterThanOrEqual(firstStarts, 1)
        XCTAssertEqual(other.threadStatus.starts, 0, "a loop without connections starts no thread")
        XCTAssertTrue(poller.threadStatus.running, "a registered connection keeps its loop's thread")
        try first.close()
        eventually { !poller.threadStatus.running }
        XCTAssertFalse(poller.threadStatus.running, "the thread ends once its set has been empty for a while")
        let second = try connect(loop, port: listener.port)
        try second.write([2], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(second, count: 1), [2])
        XCTAssertGreaterThan(poller.threadStatus.starts, firstStarts, "the next connection started a thread")
        try second.close()
    }

    #if os(Linux)
    /// Work handed to a poller thread while it delivers a round of reports runs on that thread once the round is
    /// over (after the report being handled, and with whatever is handed over while it runs); while the thread
    /// waits in `epoll_wait` nothing is taken and the caller runs its work itself.
    func testWorkHandedOverDuringARoundRunsOnThePollerThreadAfterIt() throws {
        let loops = HTTPEventLoops(count: 1)
        let loop = try XCTUnwrap(loops.next())
        let poller = try XCTUnwrap(loop.poller)
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        let queue = DispatchQueue(label: "registration", target: loop.queue)
        let events = LockedValue<[String]>([])
        let pollerThread = LockedValue<pthread_t?>(nil)
        let inRound = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let secondRan = DispatchSemaphore(value: 0)
        XCTAssertFalse(poller.runAfterCurrentRound { events.withLockedValue { $0.append("never") } },
                       "no thread delivers yet: nothing is taken")
        let token = try XCTUnwrap(poller.register(fd: fds[0], interest: .read, queue: queue) { _, _ in
            pollerThread.withLockedValue { $0 = pthread_self() }
            inRound.signal()
            release.wait()
            events.withLockedValue { $0.append("report") }
        })
        defer { poller.unregister(fd: fds[0], token: token) }
        var byte: UInt8 = 1
        XCTAssertEqual(write(fds[1], &byte, 1), 1)
        XCTAssertEqual(inRound.wait(timeout: .now() + 10), .success)
        let taken = poller.runAfterCurrentRound {
            let onPoller = pollerThread.load().map { pthread_equal($0, pthread_self()) != 0 } ?? false
            events.withLockedValue { $0.append(onPoller ? "first on the poller thread" : "first elsewhere") }
            // Handed over while the round's hand-overs run: taken too, and run after this one.
            let again = poller.runAfterCurrentRound {
                events.withLockedValue { $0.append("second") }
                secondRan.signal()
            }
            events.withLockedValue { $0.append(again ? "second taken" : "second refused") }
        }
        XCTAssertTrue(taken, "the thread is delivering a round: the work is taken")
        release.signal()
        XCTAssertEqual(secondRan.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(events.load(), ["report", "first on the poller thread", "second taken", "second"])
        // The round ends: the thread goes back to waiting and takes nothing more. What it took until then runs;
        // what it refused does not.
        let late = LockedValue(0)
        var tookLate = 0
        eventually {
            let took = poller.runAfterCurrentRound { late.withLockedValue { $0 += 1 } }
            if took { tookLate += 1 }
            return !took
        }
        XCTAssertFalse(poller.runAfterCurrentRound { events.withLockedValue { $0.append("refused") } })
        eventually { late.load() == tookLate }
        usleep(50_000)
        XCTAssertEqual(late.load(), tookLate, "every piece of work taken ran, once")
        XCTAssertEqual(events.load().filter { $0 == "refused" || $0 == "never" }, [], "refused work never runs")
    }
    #endif

    /// The poller's descriptors are close-on-exec from birth (a fork/exec elsewhere, such as the Azure CLI
    /// credential running `az`, must not inherit the stop signal and keep the thread from ever ending).
    func testPollerDescriptorsAreCloseOnExec() throws {
        let loops = HTTPEventLoops(count: 1)
        let fds = try XCTUnwrap(loops.next()?.poller).ownedDescriptors
        XCTAssertEqual(fds.count, 2)
        for fd in fds {
            XCTAssertNotEqual(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0, "descriptor \(fd) is close-on-exec")
        }
    }

    /// `epoll_wait` failing is not a stop: the thread waits again (backing off), the epoll set stays open, and
    /// the loop's connections keep being served.
    func testPollerThreadSurvivesWaitFailures() throws {
        let loops = HTTPEventLoops(count: 1)
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        let loop = try XCTUnwrap(loops.next())
        let poller = try XCTUnwrap(loop.poller)
        let connection = try connect(loop, port: listener.port)
        poller.injectWaitFailures(4, errno: EBADF)
        // The report for this echo ends the thread's current wait; the next four waits fail.
        try connection.write([1], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 1), [1])
        eventually { poller.pendingInjectedWaitFailures == 0 }
        XCTAssertEqual(poller.pendingInjectedWaitFailures, 0)
        try connection.write([2, 3], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 2), [2, 3])
        XCTAssertTrue(poller.threadStatus.running)
        let epfd = poller.ownedDescriptors[0]
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(epfd)"),
                       "anon_inode:[eventpoll]", "the epoll set is still open")
        try connection.close()
    }

    /// An event loop's poller thread ends, and closes its epoll set, once the loops are released (a dropped
    /// HTTPClient must not leave threads or descriptors behind).
    func testPollerThreadsEndWithTheirLoops() throws {
        func epollSets() -> Set<String> {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return Set(fds.filter {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == "anon_inode:[eventpoll]"
            })
        }
        var loops: HTTPEventLoops? = HTTPEventLoops(count: 3)
        // The loops' own sets, by descriptor (a difference of two listings of the whole process would miss one whose
        // number an earlier test's set, closed meanwhile on another thread, just freed).
        let added = Set((loops?.loops ?? []).compactMap { $0.poller?.ownedDescriptors.first }.map(String.init))
        XCTAssertEqual(added.count, 3, "one epoll set per loop")
        XCTAssertTrue(added.isSubset(of: epollSets()), "each is an open epoll set")
        // Two loops never start a thread: their sets are closed when the loops go; the third's by its thread.
        // The loops work: a connection on one of them echoes (and, closed and released, lets its poller go).
        let listener = try TCPListener(host: "127.0.0.1", port: 0) { echo($0) }
        defer { listener.close() }
        do {
            let loop = try XCTUnwrap(loops?.next())
            let connection: TCPConnection = try Blocking.wait { queue, completion in
                TCPConnection.connect(
                    host: "127.0.0.1", port: listener.port, tls: nil, serverName: nil, deadline: .after(seconds: 10),
                    targetQueue: loop.queue, poller: loop.poller, queue: queue
                ) { completion($0.mapError { $0 }) }
            }
            try connection.write([1, 2, 3], timeout: .seconds(10))
            XCTAssertEqual(try readExactly(connection, count: 3), [1, 2, 3])
            try connection.close()
        }
        loops = nil
        // The threads notice the closed pipe on their own time: wait (bounded) for their sets to be closed.
        let deadline = Deadline.after(seconds: 10)
        while !epollSets().isDisjoint(with: added), !deadline.hasPassed { usleep(1000) }
        XCTAssertTrue(epollSets().isDisjoint(with: added), "every poller thread closed its epoll set")
    }
    #endif
}
