import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// The emulated Event Grid topics: both schemas, the three auth schemes, per-schema validation, bounded keeping.
final class EventGridServiceTests: XCTestCase {
    private static let eventGridEvent = #"{"id": "e1", "subject": "orders/42", "data": {"orderId": 42, "price": 1.50}, "eventType": "Contoso.Orders.Created", "eventTime": "2026-11-25T20:20:18.461078Z", "dataVersion": "v1"}"#
    private static let cloudEvent = #"{"id": "c1", "source": "/contoso/orders", "data": {"orderId": 42}, "type": "Contoso.Orders.Created", "time": "2026-11-25T20:20:18.461117Z", "specversion": "1.0", "subject": "orders/42", "myext": "x"}"#

    private var emulator: Emulator!
    private var client: HTTPClient!

    override func setUpWithError() throws {
        emulator = try startEmulator { configuration in
            configuration.eventGridTopics = ["orders", "small"]
        }
        client = try HTTPClient(configuration: HTTPClientConfiguration())
        let client = self.client
        addTeardownBlock { try? client?.shutdown() }
    }

    private var endpoint: String { emulator.plainHTTPBaseURL! + "/eventgrid/orders/api/events" }

    @discardableResult
    private func post(_ body: String, url: String? = nil, contentType: String = "application/json; charset=utf-8",
                      headers extra: HTTPHeaders = ["aeg-sas-key": EmulatorWellKnown.eventGridKey],
                      query: String = "?api-version=2018-01-01") throws -> (status: Int, body: String) {
        var headers: HTTPHeaders = ["Content-Type": contentType]
        for header in extra { headers.add(name: header.name, value: header.value) }
        let response = try client.execute(HTTPRequest(method: "POST", url: (url ?? endpoint) + query, headers: headers,
                                                      body: .bytes(Array(body.utf8))), timeout: .seconds(10))
        return (response.head.status, String(decoding: response.body, as: UTF8.self))
    }

    func testKeyAuthPublishesBothSchemasAndKeepsTheEventsByteForByte() throws {
        let answer = try post("[\(Self.eventGridEvent), \(Self.eventGridEvent.replacingOccurrences(of: "e1", with: "e2"))]")
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.body, "")
        XCTAssertEqual(try post("[\(Self.cloudEvent)]", contentType: "application/cloudevents-batch+json; charset=utf-8").status, 200)
        XCTAssertEqual(try post(Self.cloudEvent, contentType: "application/cloudevents+json").status, 200)

        let kept = emulator.eventGridEvents(topic: "orders")
        XCTAssertEqual(kept.map(\.sequence), [1, 2, 3, 4])
        XCTAssertEqual(kept.map(\.schema), [.eventGrid, .eventGrid, .cloudEvent, .cloudEvent])
        XCTAssertEqual(String(decoding: kept[0].json, as: UTF8.self), Self.eventGridEvent)
        XCTAssertEqual(String(decoding: kept[3].json, as: UTF8.self), Self.cloudEvent)
        XCTAssertEqual(kept[2].object()?["myext"] as? String, "x")
        XCTAssertEqual(emulator.eventGridEvents(topic: "orders", after: 3).map(\.sequence), [4])

        // The same over the emulator-only route, and clearing.
        let route = emulator.plainHTTPBaseURL! + "/_emulator/eventgrid/orders/events"
        let listed = try client.execute(HTTPRequest(url: route + "?after=1"), timeout: .seconds(10))
        XCTAssertEqual(listed.head.status, 200)
        let text = String(decoding: listed.body, as: UTF8.self)
        XCTAssertTrue(text.contains(#""event":\#(Self.cloudEvent)"#), text)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.body)) as? [String: Any])
        let events = try XCTUnwrap(object["events"] as? [[String: Any]])
        XCTAssertEqual(events.map { $0["sequence"] as? Int }, [2, 3, 4])
        XCTAssertEqual(events.map { $0["schema"] as? String }, ["eventgrid", "cloudevent", "cloudevent"])
        XCTAssertEqual(try client.execute(HTTPRequest(method: "DELETE", url: route), timeout: .seconds(10)).head.status, 204)
        XCTAssertTrue(emulator.eventGridEvents(topic: "orders").isEmpty)
        // Media types compare without case, whitespace around them and parameters ignored.
        XCTAssertEqual(try post(Self.cloudEvent, contentType: " Application/CloudEvents+JSON\t;charset=utf-8").status, 200)
        XCTAssertEqual(emulator.eventGridEvents(topic: "orders").map(\.schema), [.cloudEvent])
        XCTAssertEqual(try client.execute(HTTPRequest(url: emulator.plainHTTPBaseURL! + "/_emulator/eventgrid/none/events"),
                                          timeout: .seconds(10)).head.status, 404)
    }

    func testSASTokenBearerAndKeyInTheQuery() throws {
        let batch = "[\(Self.eventGridEvent)]"
        let now = Int(Date().timeIntervalSince1970)
        let sas = try EventGridSharedAccessSignature.token(endpoint: endpoint, key: Secret(EmulatorWellKnown.eventGridKey),
                                                           expiry: now + 600)
        XCTAssertEqual(try post(batch, headers: ["aeg-sas-token": sas.exposedValue]).status, 200)
        let expired = try EventGridSharedAccessSignature.token(endpoint: endpoint, key: Secret(EmulatorWellKnown.eventGridKey),
                                                               expiry: now - 5)
        let expiredAnswer = try post(batch, headers: ["aeg-sas-token": expired.exposedValue])
        XCTAssertEqual(expiredAnswer.status, 401)
        XCTAssertTrue(expiredAnswer.body.contains("expired"), expiredAnswer.body)
        let otherTopic = try EventGridSharedAccessSignature.token(
            endpoint: emulator.plainHTTPBaseURL! + "/eventgrid/small/api/events",
            key: Secret(EmulatorWellKnown.eventGridKey), expiry: now + 600)
        XCTAssertEqual(try post(batch, headers: ["aeg-sas-token": otherTopic.exposedValue]).status, 401)
        let wrongKey = try EventGridSharedAccessSignature.token(endpoint: endpoint, key: Secret("b3RoZXIta2V5"), expiry: now + 600)
        let wrongKeyAnswer = try post(batch, headers: ["aeg-sas-token": wrongKey.exposedValue])
        XCTAssertEqual(wrongKeyAnswer.status, 401)
        XCTAssertTrue(wrongKeyAnswer.body.contains("signature"), wrongKeyAnswer.body)
        XCTAssertEqual(try post(batch, headers: ["aeg-sas-token": "garbage"]).status, 401)

        let token = emulator.issueToken(forScope: "https://eventgrid.azure.net/.default").token.exposedValue
        XCTAssertEqual(try post(batch, headers: ["Authorization": "Bearer \(token)"]).status, 200)
        let storage = emulator.issueToken(forScope: "https://storage.azure.com/.default").token.exposedValue
        let refused = try post(batch, headers: ["Authorization": "Bearer \(storage)"])
        XCTAssertEqual(refused.status, 401)
        XCTAssertFalse(refused.body.contains(storage))

        let key = EmulatorWellKnown.eventGridKey.addingPercentEncodingForPath()
        XCTAssertEqual(try post(batch, headers: [:], query: "?api-version=2018-01-01&aeg-sas-key=\(key)").status, 200)
        let noAuth = try post(batch, headers: [:])
        XCTAssertEqual(noAuth.status, 401)
        let wrong = try post(batch, headers: ["aeg-sas-key": "bm90LXRoZS1rZXk="])
        XCTAssertEqual(wrong.status, 401)
        XCTAssertTrue(wrong.body.contains(#""code":"Unauthorized""#), wrong.body)
        XCTAssertEqual(emulator.eventGridEvents(topic: "orders").count, 3)
    }

    func testSchemaValidationNamesWhatIsWrong() throws {
        func check(_ body: String, contentType: String = "application/json", mentions expected: String,
                   file: StaticString = #filePath, line: UInt = #line) throws {
            let answer = try post(body, contentType: contentType)
            XCTAssertEqual(answer.status, 400, body, file: file, line: line)
            XCTAssertTrue(answer.body.contains(expected), "\(answer.body) lacks \(expected)", file: file, line: line)
            XCTAssertTrue(answer.body.contains(#""code":"BadRequest""#), answer.body, file: file, line: line)
        }
        let missingType = Self.eventGridEvent.replacingOccurrences(of: #""eventType": "Contoso.Orders.Created", "#, with: "")
        try check("[\(missingType)]", mentions: "'eventType' is missing")
        try check("[\(Self.eventGridEvent.replacingOccurrences(of: "2026-11-25T20:20:18.461078Z", with: "yesterday"))]",
                  mentions: "eventTime")
        try check("[\(Self.eventGridEvent.replacingOccurrences(of: #""dataVersion": "v1""#, with: #""dataVersion": 1"#))]",
                  mentions: "'dataVersion' must be a string")
        try check(Self.eventGridEvent, mentions: "JSON array")
        try check("[]", mentions: "no events")
        try check("[\(Self.eventGridEvent), 5]", mentions: "Event 1 is not a JSON object")
        try check("[{", mentions: "not valid JSON")
        try check("[\(Self.cloudEvent)]", contentType: "text/plain", mentions: "Unsupported Content-Type")
        try check("[\(Self.cloudEvent)]", contentType: ";application/cloudevents-batch+json",
                  mentions: "Unsupported Content-Type")
        let cloudBatch = "application/cloudevents-batch+json"
        try check("[\(Self.cloudEvent.replacingOccurrences(of: #""specversion": "1.0""#, with: #""specversion": "0.3""#))]",
                  contentType: cloudBatch, mentions: "specversion")
        try check("[\(Self.cloudEvent.replacingOccurrences(of: #""source": "/contoso/orders", "#, with: ""))]",
                  contentType: cloudBatch, mentions: "'source' is missing")
        try check("[\(Self.cloudEvent.replacingOccurrences(of: "myext", with: "My_Ext"))]", contentType: cloudBatch,
                  mentions: "attribute name")
        try check(#"[{"id":"1","source":"s","type":"t","specversion":"1.0","data":1,"data_base64":"AA=="}]"#,
                  contentType: cloudBatch, mentions: "mutually exclusive")
        try check("[\(Self.cloudEvent)]", contentType: "application/cloudevents+json", mentions: "one CloudEvent")
        XCTAssertTrue(emulator.eventGridEvents(topic: "orders").isEmpty)
    }

    func testUnknownTopicMissingAPIVersionWrongMethodAndOversizedBody() throws {
        let batch = "[\(Self.eventGridEvent)]"
        XCTAssertEqual(try post(batch, url: emulator.plainHTTPBaseURL! + "/eventgrid/nope/api/events").status, 404)
        XCTAssertEqual(try post(batch, query: "").status, 400)
        let get = try client.execute(HTTPRequest(url: endpoint + "?api-version=2018-01-01"), timeout: .seconds(10))
        XCTAssertEqual(get.head.status, 405)
        // Topic names compare case-insensitively, as Azure's host names do.
        XCTAssertEqual(try post(batch, url: emulator.plainHTTPBaseURL! + "/eventgrid/ORDERS/api/events").status, 200)
        XCTAssertEqual(emulator.eventGridEvents(topic: "orders").first?.topic, "orders")

        let limited = try startEmulator { configuration in
            configuration.eventGridTopics = ["t"]
            configuration.httpLimits.maxEventGridBodyBytes = 300
            configuration.httpLimits.maxEventGridEventsPerTopic = 3
        }
        let url = limited.plainHTTPBaseURL! + "/eventgrid/t/api/events"
        let big = try post("[\(Self.eventGridEvent), \(Self.eventGridEvent)]", url: url)
        XCTAssertEqual(big.status, 413)
        XCTAssertTrue(big.body.contains("300"), big.body)
        for index in 1...5 {
            XCTAssertEqual(try post("[\(Self.eventGridEvent.replacingOccurrences(of: "e1", with: "e\(index)"))]", url: url).status, 200)
        }
        XCTAssertEqual(limited.eventGridEvents(topic: "t").map { $0.object()?["id"] as? String }, ["e3", "e4", "e5"])
        let listed = try client.execute(HTTPRequest(url: limited.plainHTTPBaseURL! + "/_emulator/eventgrid/t/events"), timeout: .seconds(10))
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(listed.body)) as? [String: Any])?["dropped"] as? Int, 2)

        // The bytes kept per topic are bounded too: room for two and a half events keeps the newest two.
        let one = Self.eventGridEvent.utf8.count
        let byBytes = try startEmulator { configuration in
            configuration.eventGridTopics = ["t"]
            configuration.httpLimits.maxEventGridBytesPerTopic = 2 * one + one / 2
        }
        let bytesURL = byBytes.plainHTTPBaseURL! + "/eventgrid/t/api/events"
        for index in 1...5 {
            XCTAssertEqual(try post("[\(Self.eventGridEvent.replacingOccurrences(of: "e1", with: "e\(index)"))]", url: bytesURL).status, 200)
        }
        XCTAssertEqual(byBytes.eventGridEvents(topic: "t").map { $0.object()?["id"] as? String }, ["e4", "e5"])
        XCTAssertEqual(byBytes.eventGridEvents(topic: "t").map(\.json.count), [one, one], "kept byte for byte")
    }

    func testNamespaceTopicPublishTakesCloudEventsWithSharedAccessKey() throws {
        let url = emulator.plainHTTPBaseURL! + "/topics/orders:publish"
        let answer = try post("[\(Self.cloudEvent)]", url: url, contentType: "application/cloudevents-batch+json; charset=utf-8",
                              headers: ["Authorization": "SharedAccessKey \(EmulatorWellKnown.eventGridKey)"],
                              query: "?api-version=2024-06-01")
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.body, "{}")
        XCTAssertEqual(try post("[\(Self.eventGridEvent)]", url: url,
                                headers: ["Authorization": "SharedAccessKey \(EmulatorWellKnown.eventGridKey)"],
                                query: "?api-version=2024-06-01").status, 400)
        XCTAssertEqual(try post("[\(Self.cloudEvent)]", url: url, contentType: "application/cloudevents-batch+json",
                                headers: ["Authorization": "SharedAccessKey wrong"], query: "?api-version=2024-06-01").status, 401)
        XCTAssertEqual(emulator.eventGridEvents(topic: "orders").map(\.schema), [.cloudEvent])
    }

    func testThrottlingAndRefusedAuthenticationFaults() throws {
        let throttling = try startEmulator { configuration in
            configuration.eventGridTopics = ["t"]
            configuration.faults.httpThrottleRate = 1
        }
        let answer = try post("[\(Self.eventGridEvent)]", url: throttling.plainHTTPBaseURL! + "/eventgrid/t/api/events")
        XCTAssertEqual(answer.status, 429)
        XCTAssertTrue(answer.body.contains("TooManyRequests"))
        let refusing = try startEmulator { configuration in
            configuration.eventGridTopics = ["t"]
            configuration.faults.refuseAuthentication = true
        }
        XCTAssertEqual(try post("[\(Self.eventGridEvent)]", url: refusing.plainHTTPBaseURL! + "/eventgrid/t/api/events").status, 401)
        XCTAssertTrue(refusing.eventGridEvents(topic: "t").isEmpty)
    }

    func testScanKeepsEachEventsBytesAndReadsOnlyTopLevelMembers() throws {
        let body = Array(#" [ {"a":"],}{\"x", "n": {"deep": ["\u00e9", 1e400, -0.5]}} ,[1,2], "s" ,3 ] "#.utf8)
        let elements = try EventGridValidation.scan(body, single: false)
        XCTAssertEqual(elements.map { String(decoding: body[$0.range!], as: UTF8.self) },
                       [#"{"a":"],}{\"x", "n": {"deep": ["\u00e9", 1e400, -0.5]}}"#, "[1,2]", #""s""#, "3"])
        XCTAssertEqual(elements[0].attributes, ["a": .string(#"],}{"x"#), "n": .other])
        XCTAssertEqual(elements.dropFirst().map { $0.attributes == nil }, [true, true, true])
        XCTAssertEqual(try EventGridValidation.scan(Array("[]".utf8), single: false).count, 0)
        let object = try EventGridValidation.scan(Array(#" {"id": "1", "id": "2"} "#.utf8), single: false)
        XCTAssertEqual(object.count, 1)
        XCTAssertNil(object[0].range, "not an array")
        XCTAssertEqual(object[0].attributes, ["id": .string("2")], "the last of repeated names wins")
        XCTAssertEqual(try EventGridValidation.scan(Array(#" {"id": "1"} "#.utf8), single: true)[0].range, 1..<12)
    }

    func testScanRefusesWhatIsNotJSON() {
        let refused = [
            "", "[", "[{", #"[{"a":1,}]"#, "[1,]", "[01]", "[1.]", "[-]", "[1e]", "[tru]", #"["\x"]"#, #"["\u12"]"#,
            "[\"\u{01}\"]", "[1] [2]", "{}{}", #"[{"a" 1}]"#, "[nul]", String(repeating: "[", count: 200) + String(repeating: "]", count: 200),
        ].map { Array($0.utf8) } + [[0x5B, 0x22, 0xC3, 0x22, 0x5D], [0x5B, 0x22, 0xFF, 0xFE, 0x22, 0x5D]]
        for body in refused {
            XCTAssertThrowsError(try EventGridValidation.scan(body, single: false), "\(body)")
            XCTAssertThrowsError(try EventGridValidation.scan(body, single: true), "\(body)")
        }
        let accepted = [#"[{"é": "ü", "x": [true, false, null, {"y": -1.5E+3}]}]"#, "[0, -0, 0.25, 1e-7]", "  [ ]  "]
        for body in accepted {
            XCTAssertNoThrow(try EventGridValidation.scan(Array(body.utf8), single: false), body)
        }
    }
}
