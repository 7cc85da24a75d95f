#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// Issue 13 item 11: a listener that runs out of descriptors (EMFILE) used to retry `accept` at once on every
/// readiness report — the pending connection keeps the socket readable, so it spun, reporting an error each
/// time. It now pauses and backs off, and accepts the connection once descriptors are free again.
final class ListenerExhaustionTests: XCTestCase {
    func testEMFILEPausesAcceptingAndRecovers() throws {
        let errors = LockedValue(0)
        let accepted = LockedValue<[TCPConnection]>([])
        let listener = try TCPListener(host: "127.0.0.1", port: 0, onError: { error in
            if error.systemErrno == EMFILE { errors.withLockedValue { $0 += 1 } }
        }) { connection in accepted.withLockedValue { $0.append(connection) } }
        defer {
            listener.close()
            for connection in accepted.load() { connection.close(mode: .abortive) {} }
        }
        // The client socket exists before descriptors run out; the kernel completes its connect into the backlog.
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(client, 0)
        defer { Glibc.close(client) }

        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        let original = limit
        let inUse = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 64
        limit.rlim_cur = rlim_t(inUse + 32)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        var fillers: [Int32] = []
        while true {
            let fd = open("/dev/null", O_RDONLY)
            if fd < 0 { break }
            fillers.append(fd)
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = listener.port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(rc, 0, "connect into the backlog: \(String(cString: strerror(errno)))")
        // Hold the process out of descriptors for a second: a spinning listener reports thousands of EMFILEs.
        Thread.sleep(forTimeInterval: 1)
        let duringExhaustion = errors.load()
        for fd in fillers { Glibc.close(fd) }
        var restore = original
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restore), 0)
        XCTAssertGreaterThan(duringExhaustion, 0, "accept never hit EMFILE")
        XCTAssertLessThan(duringExhaustion, 30, "the listener spun on EMFILE (\(duringExhaustion) errors in ~1 s)")
        let deadline = Deadline.after(seconds: 10)
        while accepted.load().isEmpty, !deadline.hasPassed { usleep(10_000) }
        XCTAssertEqual(accepted.load().count, 1, "the pending connection was not accepted after recovery")
    }
}
