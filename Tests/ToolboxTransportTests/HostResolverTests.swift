import Dispatch
import Foundation
@testable import ToolboxTransport
import ToolboxCore
import XCTest

/// Overlapping lookups of one name share one `getaddrinfo`; nothing is remembered once it ends.
final class HostResolverTests: XCTestCase {
    /// A lookup that counts its calls and blocks until the test opens its gate.
    private final class GatedLookup: Sendable {
        let calls = LockedValue(0)
        let gate = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let result: Result<[SocketAddress], TransportError>

        init(_ result: Result<[SocketAddress], TransportError>) { self.result = result }

        func run(_ host: String, _ port: UInt16) -> Result<[SocketAddress], TransportError> {
            calls.withLockedValue { $0 += 1 }
            entered.signal()
            gate.wait()
            return result
        }
    }

    private func uniqueHost() -> String { "resolver-test-\(UUID().uuidString.lowercased()).invalid" }

    private func address(_ port: UInt16) -> SocketAddress { SocketAddress(numericHost: "192.0.2.7", port: port)! }

    func testOverlappingLookupsOfOneNameShareOneCallAndAllGetItsAnswer() {
        let host = uniqueHost()
        let lookup = GatedLookup(.success([address(5671)]))
        let answers = LockedValue<[String]>([])
        let done = DispatchGroup()
        for index in 0..<20 {
            done.enter()
            let queue = DispatchQueue(label: "resolver-test-\(index)")
            HostResolver.resolve(host: host, port: 5671, queue: queue, lookup: lookup.run) { result in
                dispatchPrecondition(condition: .onQueue(queue))
                answers.withLockedValue { $0.append((try? result.get())?.map(\.description).joined() ?? "failed") }
                done.leave()
            }
        }
        XCTAssertEqual(lookup.entered.wait(timeout: .now() + 10), .success)
        lookup.gate.signal()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(lookup.calls.load(), 1, "20 overlapping lookups of one name must share one getaddrinfo")
        XCTAssertEqual(answers.load(), Array(repeating: address(5671).description, count: 20))
    }

    func testAFailureReachesEveryWaiterAndTheNextLookupRunsAgain() {
        let host = uniqueHost()
        let failing = GatedLookup(.failure(TransportError(.resolutionFailed, "could not resolve host '\(host)'")))
        let failures = LockedValue(0)
        let done = DispatchGroup()
        for _ in 0..<5 {
            done.enter()
            HostResolver.resolve(host: host, port: 443, queue: .global(), lookup: failing.run) { result in
                if case .failure(let error) = result, error.code == .resolutionFailed { failures.withLockedValue { $0 += 1 } }
                done.leave()
            }
        }
        XCTAssertEqual(failing.entered.wait(timeout: .now() + 10), .success)
        failing.gate.signal()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(failing.calls.load(), 1)
        XCTAssertEqual(failures.load(), 5)

        // Nothing is cached: a lookup after the first ended asks again (and can succeed this time).
        let working = GatedLookup(.success([address(443)]))
        working.gate.signal()
        let second = DispatchSemaphore(value: 0)
        let answer = LockedValue<String?>(nil)
        HostResolver.resolve(host: host, port: 443, queue: .global(), lookup: working.run) { result in
            answer.withLockedValue { $0 = (try? result.get())?.first?.description }
            second.signal()
        }
        XCTAssertEqual(second.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(working.calls.load(), 1)
        XCTAssertEqual(answer.load(), address(443).description)
    }

    func testOtherPortsAndNumericHostsDoNotJoinALookupInFlight() {
        let host = uniqueHost()
        let first = GatedLookup(.success([address(1)]))
        let second = GatedLookup(.success([address(2)]))
        let done = DispatchGroup()
        let answers = LockedValue<[UInt16: String]>([:])
        for (port, lookup) in [(UInt16(1), first), (UInt16(2), second)] {
            done.enter()
            HostResolver.resolve(host: host, port: port, queue: .global(), lookup: lookup.run) { result in
                answers.withLockedValue { $0[port] = (try? result.get())?.first?.description }
                done.leave()
            }
        }
        XCTAssertEqual(first.entered.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(second.entered.wait(timeout: .now() + 10), .success, "another port is another lookup")
        // A numeric host never waits for a lookup.
        let numeric = DispatchSemaphore(value: 0)
        HostResolver.resolve(host: "192.0.2.7", port: 1, queue: .global(), lookup: first.run) { _ in numeric.signal() }
        XCTAssertEqual(numeric.wait(timeout: .now() + 10), .success)
        first.gate.signal()
        second.gate.signal()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(first.calls.load(), 1)
        XCTAssertEqual(second.calls.load(), 1)
        XCTAssertEqual(answers.load(), [1: address(1).description, 2: address(2).description])
    }
}
