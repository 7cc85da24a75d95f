import ToolboxCore
import ToolboxTransport
import XCTest

/// `HTTPClientConfiguration`'s times are `Duration`s, checked when the client is made: a bad one is
/// `.invalidConfiguration` naming the field, not a failure on the first request (or a trap).
final class HTTPClientConfigurationTests: XCTestCase {
    private func assertRejected(
        _ field: String, file: StaticString = #filePath, line: UInt = #line,
        _ change: (inout HTTPClientConfiguration) -> Void
    ) {
        var configuration = HTTPClientConfiguration()
        change(&configuration)
        XCTAssertThrowsError(try HTTPClient(configuration: configuration), file: file, line: line) { error in
            XCTAssertEqual((error as? TransportError)?.code, .invalidConfiguration, file: file, line: line)
            XCTAssertTrue("\(error)".contains(field), "\(error) does not name \(field)", file: file, line: line)
        }
    }

    func testDefaults() {
        let configuration = HTTPClientConfiguration()
        XCTAssertEqual(configuration.maxIdle, .seconds(50))
        XCTAssertNil(configuration.maxLifespan)
        XCTAssertEqual(configuration.connectTimeout, .seconds(10))
        XCTAssertEqual(configuration.connectionAttemptDelay, .milliseconds(250))
        XCTAssertEqual(configuration.defaultRequestTimeout, .seconds(60))
    }

    func testNegativeZeroAndAbsurdTimesAreRejectedByName() {
        assertRejected("maxIdle") { $0.maxIdle = .seconds(-1) }
        assertRejected("maxIdle") { $0.maxIdle = .seconds(Int64.max) }
        assertRejected("maxLifespan") { $0.maxLifespan = .zero }
        assertRejected("connectTimeout") { $0.connectTimeout = .zero }
        assertRejected("connectionAttemptDelay") { $0.connectionAttemptDelay = .milliseconds(-1) }
        assertRejected("defaultRequestTimeout") { $0.defaultRequestTimeout = .seconds(-60) }
        assertRejected("defaultRequestTimeout") { $0.defaultRequestTimeout = .seconds(Int64.max) }
        assertRejected("connectTimeout") { $0.connectTimeout = .seconds(Int64.max) }
    }

    /// A per-call time-out is not a setting: an absurd one is a deadline that never comes, not a trap.
    func testAnAbsurdPerCallTimeoutIsADistantDeadline() {
        XCTAssertEqual(Deadline.after(.seconds(Int64.max)), .never)
        XCTAssertEqual(Deadline.after(.seconds(Int64.min)).instant.nanoseconds <= MonotonicInstant.now().nanoseconds, true)
    }
}
