import Foundation
import ToolboxCore
import XCTest

@testable import AzureEventGrid

/// The JSON our client writes is what azure-eventgrid writes (transcripts/eventgrid.md), field for field.
final class EventGridWireTests: XCTestCase {
    private let time = Date(timeIntervalSince1970: 1_795_638_018.461078)

    func testEventGridEventBodyMatchesTheSDKsShape() throws {
        let event = EventGridEvent(subject: "orders/42", eventType: "Contoso.Orders.Created",
                                   data: try EventGridData(json: Array(#"{"orderId": 42}"#.utf8)),
                                   id: "8cb7d01e-4690-4460-990f-e59ff2a51d8d", eventTime: time)
        XCTAssertEqual(String(decoding: EventGridWire.body([event]), as: UTF8.self),
            #"[{"id": "8cb7d01e-4690-4460-990f-e59ff2a51d8d", "subject": "orders/42", "data": {"orderId": 42}, "#
            + #""eventType": "Contoso.Orders.Created", "eventTime": "2026-11-25T20:20:18.461078Z", "dataVersion": "v1"}]"#)
    }

    func testCloudEventBodyMatchesTheSDKsShape() throws {
        let event = CloudEvent(source: "/contoso/orders", type: "Contoso.Orders.Created",
                               data: .json(try EventGridData(json: Array(#"{"orderId": 42}"#.utf8))),
                               subject: "orders/42", id: "f611d8bd-452d-49ec-918c-5b8970da65b0", time: time)
        XCTAssertEqual(String(decoding: EventGridWire.body([event]), as: UTF8.self),
            #"[{"id": "f611d8bd-452d-49ec-918c-5b8970da65b0", "source": "/contoso/orders", "type": "Contoso.Orders.Created", "#
            + #""specversion": "1.0", "data": {"orderId": 42}, "time": "2026-11-25T20:20:18.461078Z", "subject": "orders/42"}]"#)
        let binary = CloudEvent(source: "s", type: "t", data: .binary(Array("hi".utf8)), id: "1", time: nil,
                                extensions: ["zext": .null, "aext": try EventGridData(1)])
        XCTAssertEqual(String(decoding: EventGridWire.body([binary]), as: UTF8.self),
            #"[{"id": "1", "source": "s", "type": "t", "specversion": "1.0", "data_base64": "aGk=", "aext": 1, "zext": null}]"#)
    }

    func testStringsAreEscapedAndTimestampsAreUTCWithMicroseconds() throws {
        XCTAssertEqual(String(decoding: EventGridWire.string("a\"b\\c\n\t\u{1}ü"), as: UTF8.self), #""a\"b\\c\n\t\u0001ü""#)
        // Strings with nothing to escape are copied whole; any byte that needs an escape takes the slow path.
        XCTAssertEqual(String(decoding: EventGridWire.string("plain ü 🎉 /"), as: UTF8.self), "\"plain ü 🎉 /\"")
        XCTAssertEqual(String(decoding: EventGridWire.string(""), as: UTF8.self), "\"\"")
        XCTAssertEqual(String(decoding: EventGridWire.string("end\u{7F}\u{1F}"), as: UTF8.self), "\"end\u{7F}\\u001f\"")
        XCTAssertEqual(EventGridWire.timestamp(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000000Z")
        XCTAssertEqual(EventGridWire.timestamp(Date(timeIntervalSince1970: 1.9999999)), "1970-01-01T00:00:02.000000Z")
        // Whatever the subject holds, the body stays valid JSON that reads back the same.
        let tricky = "line\nbreak \"quoted\" \u{0}\u{1f} \\ ü 🎉"
        let event = EventGridEvent(subject: tricky, eventType: "t", data: .null, id: "x", eventTime: time)
        let parsed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(EventGridWire.body([event]))) as? [[String: Any]])
        XCTAssertEqual(parsed.first?["subject"] as? String, tricky)
    }

    func testEventGridDataFromDictionariesEncodablesAndRawJSON() throws {
        XCTAssertEqual(try EventGridData(["b": 1, "a": [true, "x"]]).description, #"{"a":[true,"x"],"b":1}"#)
        XCTAssertEqual(try EventGridData(encoding: [1, 2]).description, "[1,2]")
        XCTAssertEqual(try EventGridData("text").description, #""text""#)
        XCTAssertEqual(EventGridData.null.description, "null")
        XCTAssertEqual(try EventGridData(json: Array("  [1]  ".utf8)).decode([Int].self), [1])
        XCTAssertThrowsError(try EventGridData(Date())) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try EventGridData(json: []))
    }

    func testConfigKeepsOrderAndLetsALaterTopicReplaceAnEarlierOne() {
        let config = EventGridConfig([EventGridTopicConfig(name: "a", url: "https://a/api/events"),
                                      EventGridTopicConfig(name: "b", url: "https://b/api/events"),
                                      EventGridTopicConfig(name: "a", url: "https://a2/api/events")])
        XCTAssertEqual(config.topics, ["a", "b"])
        XCTAssertEqual(config.url(for: "a"), "https://a2/api/events")
        XCTAssertNil(config.config(for: "c"))
        XCTAssertFalse("\(EventGridCredential.key(Secret("s3cr3t")))".contains("s3cr3t"))
        XCTAssertFalse("\(EventGridTopicConfig(name: "a", url: "u", credential: .sharedAccessSignature(Secret("r=x&s=sig"))))"
            .contains("sig"))
    }
}
