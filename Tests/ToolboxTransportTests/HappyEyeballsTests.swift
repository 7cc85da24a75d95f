#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// Connecting over several addresses: attempts `attemptDelay` apart, families interleaved, first success wins,
/// losers closed, the deadline bounds everything, and the all-fail error names every address.
final class HappyEyeballsTests: XCTestCase {
    private func address(_ host: String, _ port: UInt16) -> SocketAddress {
        SocketAddress(numericHost: host, port: port)!
    }

    private func options(_ addresses: [SocketAddress], delay: Double = 0.05) -> TCPConnectOptions {
        var options = TCPConnectOptions(attemptDelay: .seconds(delay))
        options.addressesOverride = addresses
        return options
    }

    private static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    /// Waits (bounded) for the descriptor count to come back down: losers are closed by source cancel handlers,
    /// which run just after the winner is reported.
    private func assertNoLeakedDescriptors(baseline: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThan(baseline, 0, "could not count /proc/self/fd", file: file, line: line)
        let deadline = Deadline.after(seconds: 10)
        var now = Self.openDescriptors()
        while now > baseline, !deadline.hasPassed {
            usleep(10_000)
            now = Self.openDescriptors()
        }
        XCTAssertLessThanOrEqual(now, baseline, "descriptors leaked", file: file, line: line)
    }

    func testFamiliesAreInterleavedStartingWithTheFirst() {
        let v6a = address("::1", 1), v6b = address("::2", 1), v4a = address("127.0.0.1", 1)
        let v4b = address("127.0.0.2", 1), v4c = address("127.0.0.3", 1)
        XCTAssertEqual(ConnectRace.interleaved([v6a, v6b, v4a, v4b, v4c]).map(\.description),
                       [v6a, v4a, v6b, v4b, v4c].map(\.description))
        XCTAssertEqual(ConnectRace.interleaved([v4a, v4b, v6a]).map(\.description),
                       [v4a, v6a, v4b].map(\.description))
    }

    /// The first address never answers (a listener whose backlog is full drops SYNs); the second, a working
    /// listener, wins after the attempt delay. Sequential connecting would spend the whole deadline on the first.
    func testAnUnansweringFirstAddressIsOvertakenByTheNext() throws {
        let blackhole = try SYNDroppingListener()
        defer { blackhole.close() }
        let accepted = LockedValue(0)
        let listener = try TCPListener { connection in
            accepted.withLockedValue { $0 += 1 }
            echo(connection)
        }
        defer { listener.close() }
        let baseline = Self.openDescriptors()
        for _ in 0..<3 {
            let addresses = [address("127.0.0.1", blackhole.port), address("127.0.0.1", listener.port)]
            let connection = try TCPConnection.connect(
                host: "localhost", port: listener.port, options: options(addresses), timeout: .seconds(30))
            XCTAssertEqual(connection.remoteAddress?.port, listener.port, "the working address wins")
            try connection.write(Array("ping".utf8), timeout: .seconds(10))
            XCTAssertEqual(try readExactly(connection, count: 4), Array("ping".utf8))
            try connection.close(mode: .abortive)
        }
        XCTAssertEqual(accepted.load(), 3)
        assertNoLeakedDescriptors(baseline: baseline)
    }

    /// A failing address does not wait for the delay: with a delay far beyond the deadline, a refused first
    /// address still hands over to the second at once.
    func testAFailedAttemptStartsTheNextAtOnce() throws {
        let closed = try closedPort()
        let listener = try TCPListener { echo($0) }
        defer { listener.close() }
        let addresses = [address("127.0.0.1", closed), address("127.0.0.1", listener.port)]
        let connection = try TCPConnection.connect(
            host: "localhost", port: listener.port, options: options(addresses, delay: 3600), timeout: .seconds(30))
        XCTAssertEqual(connection.remoteAddress?.port, listener.port)
        try connection.close(mode: .abortive)
    }

    /// Every address refuses: one typed error naming each address and why.
    func testAllAddressesFailingNamesEachAddress() throws {
        let first = try closedPort(), second = try closedPort()
        let baseline = Self.openDescriptors()
        do {
            _ = try TCPConnection.connect(
                host: "db.example", port: first,
                options: options([address("127.0.0.1", first), address("127.0.0.1", second)]), timeout: .seconds(30))
            XCTFail("nothing listens; connecting must fail")
        } catch let error as TransportError {
            XCTAssertEqual(error.code, .connectionRefused, "\(error)")
            XCTAssertTrue(error.message.contains("127.0.0.1:\(first) (Connection refused)"), error.message)
            XCTAssertTrue(error.message.contains("127.0.0.1:\(second) (Connection refused)"), error.message)
            XCTAssertTrue(error.message.contains("db.example:\(first)"), error.message)
        }
        assertNoLeakedDescriptors(baseline: baseline)
    }

    /// Nothing answers before the deadline: `.timedOut`, naming the addresses still pending; all sockets closed.
    func testTheDeadlineBoundsAllAttempts() throws {
        let blackhole = try SYNDroppingListener()
        defer { blackhole.close() }
        let closed = try closedPort()
        let baseline = Self.openDescriptors()
        let addresses = [address("127.0.0.1", blackhole.port), address("127.0.0.1", closed)]
        do {
            _ = try TCPConnection.connect(host: "localhost", port: blackhole.port, options: options(addresses),
                                          timeout: .seconds(0.5))
            XCTFail("the only live address never answers")
        } catch let error as TransportError {
            XCTAssertEqual(error.code, .timedOut, "\(error)")
            XCTAssertTrue(error.message.contains("127.0.0.1:\(blackhole.port) (no answer yet)"), error.message)
            XCTAssertTrue(error.message.contains("127.0.0.1:\(closed) (Connection refused)"), error.message)
        }
        assertNoLeakedDescriptors(baseline: baseline)
    }

    /// Cancelling while attempts run closes them and completes once with `.cancelled`.
    func testCancellingClosesEveryAttempt() throws {
        let blackhole = try SYNDroppingListener()
        defer { blackhole.close() }
        let baseline = Self.openDescriptors()
        let done = DispatchSemaphore(value: 0)
        let results = LockedValue<[Result<TCPConnection, TransportError>]>([])
        let addresses = [address("127.0.0.1", blackhole.port), address("127.0.0.1", blackhole.port)]
        let attempt = TCPConnection.connect(host: "localhost", port: blackhole.port, deadline: .after(seconds: 30),
                                            options: options(addresses, delay: 0)) { result in
            results.withLockedValue { $0.append(result) }
            done.signal()
        }
        // Cancel once both attempts hold a socket (waiting on that, not on a guessed interval).
        let started = Deadline.after(.seconds(10))
        while Self.openDescriptors() < baseline + 2, !started.hasPassed { usleep(1_000) }
        XCTAssertGreaterThanOrEqual(Self.openDescriptors(), baseline + 2, "both attempts should be connecting")
        attempt.cancel()
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        guard case .failure(let error)? = results.load().first else { return XCTFail("expected a failure") }
        XCTAssertEqual(error.code, .cancelled)
        assertNoLeakedDescriptors(baseline: baseline)
        XCTAssertEqual(results.load().count, 1)
    }

    /// The HTTP client passes its `connectionAttemptDelay` on.
    func testHTTPClientConfigurationCarriesTheAttemptDelay() throws {
        var configuration = HTTPClientConfiguration()
        XCTAssertEqual(configuration.connectionAttemptDelay, .milliseconds(250))
        configuration.connectionAttemptDelay = .seconds(0.1)
        let listener = try TCPListener { connection in
            connection.read { _ in
                connection.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)) { _ in }
            }
        }
        defer { listener.close() }
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        // "localhost" may resolve to ::1 first (nothing listens there): the IPv4 listener is still reached.
        let response = try client.execute(try HTTPRequest(url: "http://localhost:\(listener.port)/"), timeout: .seconds(30))
        XCTAssertEqual(response.body, Array("ok".utf8))
    }
}

/// A loopback listener that never accepts, its backlog filled, so further SYNs are dropped and connects to it
/// stay pending (a deterministic stand-in for a black-holed address; public "blackhole" addresses answer here).
final class SYNDroppingListener: @unchecked Sendable {
    // @unchecked Sendable: descriptors are set in init and closed once by the test thread.
    let port: UInt16
    private let listenFD: Int32
    private var fillers: [Int32] = []

    init() throws {
        let listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listenFD = listenFD
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, length) }
        }
        guard listenFD >= 0, bound == 0, listen(listenFD, 0) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(listenFD)
            throw TestSetupError("could not set up the SYN-dropping listener: \(reason)")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenFD, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)
        self.port = port
        // Fill the accept queue (backlog 0 holds one) with connections nobody accepts, until one stays pending.
        for _ in 0..<4 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            fillers.append(fd)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var target = address
            _ = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            if poll(&poller, 1, 200) == 0 { return }   // this one is stuck in SYN_SENT: the queue is full
        }
        close()
        throw TestSetupError("could not fill the listener's backlog so that SYNs are dropped")
    }

    func close() {
        for fd in fillers { Glibc.close(fd) }
        fillers = []
        Glibc.close(listenFD)
    }
}
