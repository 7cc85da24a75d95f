import AzureAuth
import Foundation
import XCTest

/// `AuthCrypto.uuidString()`: the request and event ids, drawn from OpenSSL instead of Foundation's `UUID()`
/// (which opens `/dev/urandom` on every call on Linux).
final class UUIDStringTests: XCTestCase {
    func testIsALowercaseVersion4UUIDThatFoundationParses() throws {
        for _ in 0..<200 {
            let text = AuthCrypto.uuidString()
            XCTAssertEqual(text.count, 36)
            XCTAssertEqual(text, text.lowercased())
            let uuid = try XCTUnwrap(UUID(uuidString: text), text)
            XCTAssertEqual(uuid.uuidString.lowercased(), text)
            let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
            XCTAssertEqual(bytes[6] >> 4, 4, "version 4: \(text)")
            XCTAssertEqual(bytes[8] >> 6, 0b10, "RFC 4122 variant: \(text)")
        }
    }

    func testIdsDoNotRepeat() {
        let ids = Set((0..<10_000).map { _ in AuthCrypto.uuidString() })
        XCTAssertEqual(ids.count, 10_000)
    }
}
