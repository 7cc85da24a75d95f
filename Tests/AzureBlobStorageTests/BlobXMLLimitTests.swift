@testable import AzureBlobStorage
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer
import XCTest

/// libxml2 compares each attribute of an element with every other one: an element with hundreds of thousands of
/// attributes took minutes of CPU. More than `maxAttributesPerElement` are refused by a linear scan first.
final class BlobXMLLimitTests: XCTestCase {
    private func attributes(_ count: Int) -> String {
        (0..<count).map { " a\($0)=\"x\"" }.joined()
    }

    func testAListingWithHundredsOfThousandsOfAttributesIsRefusedQuickly() throws {
        let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults\(attributes(200_000))><Blobs>"
            + "<Blob><Name>b</Name></Blob></Blobs><NextMarker/></EnumerationResults>"
        let server = try HTTPServer { _, respond in
            respond(HTTPServerResponse(status: 200, headers: ["Content-Type": "application/xml"], text: xml))
        }
        defer { server.close() }
        let container = try scriptedContainer(port: server.port, permissions: "l")
        defer { try? container.close() }
        XCTAssertThrowsError(try container.listBlobs()) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .invalidResponse, "\(String(describing: error))")
            XCTAssertTrue(error?.message.contains("more than 64 attributes") ?? false, "\(String(describing: error))")
        }
    }

    func testTheScanCountsAttributesOfTagsOnly() {
        func over(_ xml: String, limit: Int = 2) -> Int? {
            XMLAttributeScan.firstElementOver(limit, in: Array(xml.utf8))
        }
        XCTAssertNil(over(#"<?xml version="1.0" encoding="utf-8"?><E a="1" b='2'><N c="x>y">'"'"'"</N></E>"#))
        XCTAssertEqual(over(#"<E a="1" b="2" c="3"/>"#), 3)
        XCTAssertEqual(over(#"<E><F a="1" b='2' c="3"></F></E>"#), 3)
        // Quotes in comments, CDATA and processing instructions are no attributes.
        XCTAssertNil(over(#"<E><!-- "a" "b" "c" --><![CDATA[ <x a="1" b="2" c="3"> ]]><?pi "a" "b" "c"?></E>"#))
        // A quote inside a value of the other kind does not end it.
        XCTAssertNil(over(#"<E a="it's" b='say "x"'/>"#))
        // Unterminated constructs end the scan (the parser refuses them).
        XCTAssertNil(over(#"<E a="1"#))
        XCTAssertNil(over("<!-- a"))
    }

    func testBlobStorageDocumentsStillParse() throws {
        let xml = #"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://h/a" "#
            + #"ContainerName="c"><Blobs><Blob><Name Encoded="true">a%20b</Name><Properties>"#
            + "<Content-Length>3</Content-Length></Properties></Blob></Blobs><NextMarker /></EnumerationResults>"
        let page = try BlobXML.listPage(Array(xml.utf8))
        XCTAssertEqual(page.blobs.map(\.name), ["a b"])
        XCTAssertEqual(page.blobs.first?.size, 3)
        XCTAssertNil(page.nextMarker)
    }

    func testAMalformedListingSaysWhy() {
        XCTAssertThrowsError(try BlobXML.listPage(Array("<EnumerationResults><Blobs>".utf8))) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .invalidResponse)
            XCTAssertTrue(error?.message.contains("not well-formed XML") ?? false, "\(String(describing: error))")
        }
    }
}
