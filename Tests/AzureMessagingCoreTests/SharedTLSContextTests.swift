import AzureClientsToolboxTesting
import XCTest

@testable import AzureMessagingCore

/// Connections from one endpoint share one client TLS context (one trust store, one session cache), as the
/// transport's design has it, instead of loading the trust roots again per connection.
final class SharedTLSContextTests: XCTestCase {
    private func endpoint(tls: Bool = true) -> MessagingEndpoint {
        MessagingEndpoint(fullyQualifiedNamespace: "ns.servicebus.windows.net", credential: FakeTokenCredential(),
                          scope: "https://servicebus.azure.net/.default", allowPlainTextForDevelopment: !tls)
    }

    func testConnectionsOfOneEndpointAndItsCopiesShareOneContext() throws {
        let endpoint = endpoint()
        let first = try XCTUnwrap(endpoint.makeTLSContext())
        XCTAssertTrue(try XCTUnwrap(endpoint.makeTLSContext()) === first)
        let copy = endpoint
        XCTAssertTrue(try XCTUnwrap(copy.makeTLSContext()) === first)
        // A separately made endpoint (another client) has its own.
        XCTAssertFalse(try XCTUnwrap(self.endpoint().makeTLSContext()) === first)
        XCTAssertNil(try self.endpoint(tls: false).makeTLSContext())
    }

    func testACopyTrustingOtherRootsGetsItsOwnContextAndAFailureIsNotKept() throws {
        let endpoint = endpoint()
        let first = try XCTUnwrap(endpoint.makeTLSContext())
        var other = endpoint
        other.caFile = "/nonexistent/ca.pem"
        XCTAssertThrowsError(try other.makeTLSContext()) { error in
            XCTAssertEqual((error as? AzureMessagingError)?.code, .invalidArgument)
        }
        // The failed load left the stored context alone, and the next attempt loads again (and fails again).
        XCTAssertTrue(try XCTUnwrap(endpoint.makeTLSContext()) === first)
        XCTAssertThrowsError(try other.makeTLSContext())
    }
}
