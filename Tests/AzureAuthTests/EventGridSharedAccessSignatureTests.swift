import ToolboxCore
import XCTest

@testable import AzureAuth
import AzureAuthVerification

/// Event Grid SAS tokens match azure-eventgrid's `generate_sas` byte for byte, and parse back.
final class EventGridSharedAccessSignatureTests: XCTestCase {
    private let endpoint = "https://mytopic.westus2-1.eventgrid.azure.net/api/events"
    private let key = Secret("RU1VTEFUT1JfRVZFTlRHUklEX0tFWV9WQUxVRV8wMTIzNDU2Nzg5QUJDREVG")

    /// From azure-eventgrid 4.22.1: `generate_sas(endpoint, key, datetime(2030, 1, 1, 1, tzinfo=timezone.utc))`.
    func testTokenMatchesThePythonSDK() throws {
        let token = try EventGridSharedAccessSignature.token(endpoint: endpoint, key: key, expiry: 1_893_459_600)
        XCTAssertEqual(token.exposedValue,
            "r=https%3A%2F%2Fmytopic.westus2-1.eventgrid.azure.net%2Fapi%2Fevents%3FapiVersion%3D2018-01-01"
            + "&e=2030-01-01%2001%3A00%3A00%2B00%3A00&s=L37BjXXuoEKqkcMSiyCZeVDYbh7kswzx6l8HR9mugps%3D")
    }

    func testParseVerifiesTokensFromThePythonSDKIncludingNaiveDates() throws {
        // generate_sas with a naive datetime(2030, 1, 1, 1, 0, 0, 123456): str() has microseconds, no offset.
        let naive = "r=https%3A%2F%2Fmytopic.westus2-1.eventgrid.azure.net%2Fapi%2Fevents%3FapiVersion%3D2018-01-01"
            + "&e=2030-01-01%2001%3A00%3A00.123456&s=jeOCWnmhcQCaWZdE%2Fg4KvPODB0Q7gtxem7EcEIqH2aQ%3D"
        let parsed = try XCTUnwrap(EventGridSharedAccessSignature.parse(naive))
        XCTAssertEqual(parsed.resource, endpoint + "?apiVersion=2018-01-01")
        XCTAssertEqual(parsed.expiry, 1_893_459_600)
        XCTAssertTrue(EventGridSharedAccessSignature.isSignatureValid(parsed, key: key))
        XCTAssertFalse(EventGridSharedAccessSignature.isSignatureValid(parsed, key: Secret("b3RoZXIta2V5")))
        let tampered = naive.replacingOccurrences(of: "mytopic", with: "yourtopic")
        XCTAssertFalse(EventGridSharedAccessSignature.isSignatureValid(
            try XCTUnwrap(EventGridSharedAccessSignature.parse(tampered)), key: key))
        XCTAssertNil(EventGridSharedAccessSignature.parse("r=a&e=b"))
    }

    func testExpirationFormatsTheSDKsWrite() {
        let expected = 1_893_459_600
        for text in ["2030-01-01 01:00:00+00:00", "2030-01-01T01:00:00Z", "2030-01-01 01:00:00.5",
                     "2030-01-01T03:00:00+02:00", "1/1/2030 1:00:00 AM", "1893459600"] {
            XCTAssertEqual(EventGridSharedAccessSignature.parseExpiration(text), expected, text)
        }
        XCTAssertEqual(EventGridSharedAccessSignature.parseExpiration("1/1/2030 1:00:00 PM"), expected + 12 * 3600)
        for text in ["", "tomorrow", "2030-13-01 01:00:00", "2030-01-01 01:00:00+0", "13/40/2030 1:00:00 AM", "-5"] {
            XCTAssertNil(EventGridSharedAccessSignature.parseExpiration(text), text)
        }
    }

    func testAKeyThatIsNotBase64IsATypedError() {
        XCTAssertThrowsError(try EventGridSharedAccessSignature.token(endpoint: endpoint, key: Secret("not base64!"),
                                                                       expiry: 1)) { error in
            XCTAssertEqual((error as? AuthError)?.code, .invalidKey)
            XCTAssertFalse("\(error)".contains("not base64!"))
        }
    }
}
