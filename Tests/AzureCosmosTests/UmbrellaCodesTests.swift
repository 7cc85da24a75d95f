import AzureClientsToolbox
import XCTest

/// Every client module's error codes resolve through the umbrella without ambiguity.
final class UmbrellaCodesTests: XCTestCase {
    func testCosmosCodesThroughTheUmbrella() {
        let codes: [ToolboxError.Code] = [.resourceNotFound, .resourceExists, .preconditionFailed, .throttled, .badRequest,
                                          .authorizationFailed, .forbidden, .requestTooLarge, .serviceUnavailable,
                                          .httpResponseError, .networkFailure, .invalidResponse, .unsupportedQuery,
                                          .notModified, .invalidJSON]
        XCTAssertEqual(Set(codes.map(\.rawValue)).count, codes.count)
    }
}
