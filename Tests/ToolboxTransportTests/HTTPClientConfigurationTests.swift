import ToolboxCore
import ToolboxTransport
import XCTest

/// `HTTPClientConfiguration`'s times are `Duration`s, checked when the client is made: a bad one is
/// `.invalidConfiguration` naming the field, not a failure on the first request (or a trap).
final class HTTPClientConfigurationTests: XCTestCase {
    /// The message of the error `validate()` throws for the configuration `change` makes (nil: accepted).
    private func refusal(_ change: (inout HTTPClientConfiguration) -> Void) -> String? {
        var configuration = HTTPClientConfiguration()
        change(&configuration)
        do {
            try configuration.validate()
            return nil
        } catch {
            XCTAssertEqual(error.code, .invalidConfiguration)
            return error.message
        }
    }

    func testDefaults() {
        let c = HTTPClientConfiguration()
        // maxIdle, connectTimeout, connectionAttemptDelay (RFC 8305), defaultRequestTimeout; no lifespan.
        XCTAssertEqual([c.maxIdle, c.connectTimeout, c.connectionAttemptDelay, c.defaultRequestTimeout],
                       [.seconds(50), .seconds(10), .milliseconds(250), .seconds(60)])
        XCTAssertNil(c.maxLifespan)
        XCTAssertNil(refusal { _ in })
    }

    func testNegativeZeroAndAbsurdTimesAreRejectedByName() {
        let cases: [(String, (inout HTTPClientConfiguration) -> Void)] = [
            ("maxIdle", { $0.maxIdle = .seconds(-1) }),
            ("maxIdle", { $0.maxIdle = .seconds(Int64.max) }),
            ("maxLifespan", { $0.maxLifespan = .zero }),
            ("connectTimeout", { $0.connectTimeout = .zero }),
            ("connectTimeout", { $0.connectTimeout = .seconds(Int64.max) }),
            ("connectionAttemptDelay", { $0.connectionAttemptDelay = .milliseconds(-1) }),
            ("defaultRequestTimeout", { $0.defaultRequestTimeout = .seconds(-60) }),
            ("defaultRequestTimeout", { $0.defaultRequestTimeout = .seconds(Int64.max) }),
        ]
        for (field, change) in cases {
            let message = refusal(change)
            XCTAssertTrue(message?.contains("HTTPClientConfiguration.\(field)") == true, "\(field): \(message ?? "accepted")")
        }
    }

    func testTheClientRefusesABadConfigurationWhenMade() {
        var configuration = HTTPClientConfiguration()
        configuration.maxIdle = .seconds(-1)
        XCTAssertThrowsError(try HTTPClient(configuration: configuration)) { error in
            XCTAssertEqual((error as? TransportError)?.code, .invalidConfiguration)
        }
    }

    /// A per-call time-out is not a setting: an absurd one is a deadline that never comes, not a trap.
    func testAnAbsurdPerCallTimeoutIsADistantDeadline() {
        XCTAssertEqual(Deadline.after(.seconds(Int64.max)), .never)
        XCTAssertLessThanOrEqual(Deadline.after(.seconds(Int64.min)).instant, MonotonicInstant.now())
    }
}
