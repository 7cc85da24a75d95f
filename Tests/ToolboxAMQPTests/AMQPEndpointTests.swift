import XCTest

@testable import ToolboxAMQP

/// An `amqp://` URL's password never reaches an error message — also when the URL does not parse, which is when
/// the message quotes it (it was quoted whole).
final class AMQPEndpointTests: XCTestCase {
    func testARefusedURLIsQuotedWithoutItsPassword() {
        for url in ["amqp://user:pa^SECRET@host:abc/q1", "amqp://user:SECRET@host:-1/q1", "amqp://user:SECRET@[::1:5672/q1",
                    "amqps://user:SE/CRET@host:x/q", "amqp://user:SECRET@"] {
            XCTAssertThrowsError(try AMQPEndpoint(url: url), url) { error in
                XCTAssertFalse("\(error)".contains("SECRET") || "\(error)".contains("SE/CRET"), "\(error)")
                XCTAssertTrue("\(error)".contains("user:redacted@"), "\(error)")
            }
        }
        XCTAssertEqual(AMQPEndpoint.redacted("amqp://user:SECRET@host:5672/q"), "amqp://user:redacted@host:5672/q")
        XCTAssertEqual(AMQPEndpoint.redacted("amqp://host:5672/q"), "amqp://host:5672/q")
        XCTAssertEqual(AMQPEndpoint.redacted("not a url"), "not a url")
        for typo in ["amqps:/user:SECRET@host/q", "amqps:user:SECRET@host/q", "amqp:///user:SECRET@host"] {
            XCTAssertFalse(AMQPEndpoint.redacted(typo).contains("SECRET"), typo)
            XCTAssertTrue(AMQPEndpoint.redacted(typo).contains("user:redacted@host"), AMQPEndpoint.redacted(typo))
        }
    }
}
