import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// The emulator's Cosmos DB gateway at the request level: authorization, resources, items, ETags, patch, paging,
/// partition key ranges with ETag/304 and splits, cross-partition answers, limits.
final class CosmosServiceTests: XCTestCase {
    func testAccountAdvertisesTheAddressedHostAndResourcesRoundTrip() throws {
        let cosmos = try CosmosTestHarness()
        let account = cosmos.send("GET", "/")
        XCTAssertEqual(account.status, 200)
        XCTAssertEqual(account.body?["writableLocations"], .array([.object([
            ("name", .string("South Central US")), ("databaseAccountEndpoint", .string("http://127.0.0.1:8081/"))])]))
        XCTAssertNotNil(account.body?["queryEngineConfiguration"]?.stringValue, "a JSON string, as the service sends it")

        XCTAssertEqual(cosmos.send("GET", "/dbs/other/").status, 404)
        XCTAssertEqual(cosmos.send("POST", "/dbs", body: #"{"id":"other"}"#).status, 201)
        XCTAssertEqual(cosmos.send("POST", "/dbs", body: #"{"id":"other"}"#).status, 409)
        let created = cosmos.send("POST", "/dbs/other/colls/", body: #"{"id":"k","partitionKey":{"paths":["/tenant"],"kind":"Hash","version":2}}"#)
        XCTAssertEqual(created.status, 201, created.raw)
        XCTAssertNotNil(created.body?["_rid"]?.stringValue)
        XCTAssertEqual(created.body?["partitionKey"]?["paths"], .array([.string("/tenant")]))
        let hierarchical = cosmos.send("POST", "/dbs/other/colls/", body: #"{"id":"h","partitionKey":{"paths":["/a","/b"],"kind":"MultiHash"}}"#)
        XCTAssertEqual(hierarchical.status, 400)
        XCTAssertTrue(hierarchical.raw.contains("exactly one path"), hierarchical.raw)
        let list = cosmos.send("GET", "/dbs/other/colls/")
        XCTAssertEqual(list.body?["_count"], .number(1))
        let byQuery = cosmos.send("POST", "/dbs", body: #"{"query":"SELECT * FROM root r WHERE r.id = @id","parameters":[{"name":"@id","value":"other"}]}"#,
                                  headers: [("x-ms-documentdb-isquery", "true"), ("Content-Type", "application/query+json")])
        XCTAssertEqual((byQuery.body?["Databases"]).map { if case .array(let a) = $0 { return a.count } else { return -1 } }, 1)
        XCTAssertEqual(cosmos.send("DELETE", "/dbs/other/colls/k/").status, 204)
        XCTAssertEqual(cosmos.send("DELETE", "/dbs/other/").status, 204)
        XCTAssertEqual(cosmos.send("GET", "/dbs/other/").status, 404)
        let sprocs = cosmos.send("GET", "/dbs/db/colls/c/sprocs/")
        XCTAssertEqual(sprocs.status, 400)
        XCTAssertTrue(sprocs.raw.contains("'sprocs'"), sprocs.raw)
    }

    func testMasterKeySignaturesAreVerifiedAndWrongKeysGetCosmosUnauthorized() throws {
        let cosmos = try CosmosTestHarness()
        let otherSigner = try CosmosMasterKeySigner(key: Secret(Data(repeating: 7, count: 64).base64EncodedString()))
        let date = UTCDate.rfc1123(Int(Date().timeIntervalSince1970))
        let wrong = cosmos.send("GET", "/dbs/db/", authorization: otherSigner.authorizationHeader(verb: "GET", path: "/dbs/db/", date: date).exposedValue, date: date)
        XCTAssertEqual(wrong.status, 401)
        XCTAssertEqual(wrong.body?["code"], .string("Unauthorized"))
        XCTAssertTrue(wrong.raw.contains("The input authorization token can't serve the request"), wrong.raw)
        XCTAssertFalse(wrong.raw.contains(EmulatorWellKnown.cosmosKey))
        XCTAssertNotNil(wrong.header("x-ms-activity-id"))
        // Signed for another resource: the link is part of what is signed.
        let replayed = cosmos.send("GET", "/dbs/db/colls/c/", authorization: cosmos.signer.authorizationHeader(verb: "GET", path: "/dbs/db/", date: date).exposedValue, date: date)
        XCTAssertEqual(replayed.status, 401)
        // Ids are signed decoded ("item 1"), sent encoded.
        XCTAssertEqual(cosmos.create(#"{"id":"item 1","pk":"a"}"#, pk: #""a""#).status, 201)
        XCTAssertEqual(cosmos.send("GET", "/dbs/db/colls/c/docs/item%201/", headers: [("x-ms-documentdb-partitionkey", #"["a"]"#)]).status, 200)
        let stale = cosmos.send("GET", "/dbs/db/", date: UTCDate.rfc1123(Int(Date().timeIntervalSince1970) - 3600))
        XCTAssertEqual(stale.status, 401)
        XCTAssertEqual(cosmos.send("GET", "/dbs/db/", authorization: "").status, 401)
    }

    func testBearerTokensFromTheEmulatorIssuerForCosmosAudiences() throws {
        let cosmos = try CosmosTestHarness()
        let context = cosmos.service.context
        for audience in ["https://127.0.0.1/", "https://localhost/", "https://cosmos.azure.com/"] {
            let token = context.issueToken(audience: audience, lifetime: 600)
            XCTAssertEqual(cosmos.send("GET", "/dbs/db/", authorization: "type=aad&ver=1.0&sig=\(token)").status, 200, audience)
        }
        let storage = context.issueToken(audience: "https://storage.azure.com/", lifetime: 600)
        let refused = cosmos.send("GET", "/dbs/db/", authorization: "type=aad&ver=1.0&sig=\(storage)")
        XCTAssertEqual(refused.status, 401)
        XCTAssertFalse(refused.raw.contains(storage), "the token is never echoed")
    }

    func testItemsETagsSessionTokensAndConditions() throws {
        let cosmos = try CosmosTestHarness()
        let created = cosmos.create(#"{"id":"x","pk":"a","n":1}"#, pk: #""a""#)
        XCTAssertEqual(created.status, 201)
        let etag = try XCTUnwrap(created.body?["_etag"]?.stringValue)
        XCTAssertEqual(created.header("etag"), etag)
        XCTAssertTrue(created.body?["_self"]?.stringValue?.hasPrefix("dbs/") == true)
        XCTAssertNotNil(created.body?["_ts"]?.numberValue)
        let session = try XCTUnwrap(created.header("x-ms-session-token"))
        XCTAssertTrue(cosmos.rangeIDs().contains(String(session.split(separator: ":")[0])), "the token names a live range")
        XCTAssertEqual(created.header("x-ms-alt-content-path"), "dbs/db/colls/c")
        XCTAssertEqual(cosmos.create(#"{"id":"x","pk":"a"}"#, pk: #""a""#).status, 409)
        XCTAssertEqual(cosmos.create(#"{"id":"x","pk":"b"}"#, pk: #""a""#).substatus, "1001", "header and body disagree")
        XCTAssertEqual(cosmos.create(#"{"id":"x","pk":"b"}"#, pk: #""b""#).status, 201, "same id, other partition")
        XCTAssertEqual(cosmos.create(#"{"id":"x","pk":"a","n":2}"#, pk: #""a""#, upsert: true).status, 200)
        XCTAssertEqual(cosmos.create(#"{"id":"y","pk":"a"}"#, pk: #""a""#, upsert: true).status, 201)

        let pk = [("x-ms-documentdb-partitionkey", #"["a"]"#)]
        let read = cosmos.send("GET", "/dbs/db/colls/c/docs/x/", headers: pk)
        XCTAssertEqual(read.body?["n"], .number(2))
        let current = try XCTUnwrap(read.header("etag"))
        let unchanged = cosmos.send("GET", "/dbs/db/colls/c/docs/x/", headers: pk + [("If-None-Match", current)])
        XCTAssertEqual(unchanged.status, 304)
        XCTAssertEqual(unchanged.header("etag"), current)
        XCTAssertNil(unchanged.body)
        XCTAssertEqual(cosmos.send("PUT", "/dbs/db/colls/c/docs/x/", body: #"{"id":"x","pk":"a","n":3}"#,
                                   headers: pk + [("If-Match", etag)]).status, 412, "stale ETag")
        let replaced = cosmos.send("PUT", "/dbs/db/colls/c/docs/x/", body: #"{"id":"x","pk":"a","n":3}"#, headers: pk + [("If-Match", current)])
        XCTAssertEqual(replaced.status, 200)
        XCTAssertNotEqual(replaced.header("etag"), current)
        XCTAssertEqual(cosmos.send("DELETE", "/dbs/db/colls/c/docs/x/", headers: pk + [("If-Match", current)]).status, 412)
        XCTAssertEqual(cosmos.send("DELETE", "/dbs/db/colls/c/docs/x/", headers: pk).status, 204)
        XCTAssertEqual(cosmos.send("GET", "/dbs/db/colls/c/docs/x/", headers: pk).status, 404)
        XCTAssertEqual(cosmos.send("GET", "/dbs/db/colls/c/docs/y/").status, 400, "point reads need the partition key")
        XCTAssertEqual(cosmos.create(#"{"pk":"a"}"#, pk: #""a""#).status, 400, "id is required")
        XCTAssertEqual(cosmos.create("[1,2]", pk: #""a""#).status, 400)
        XCTAssertEqual(cosmos.create(#"{"id":"bad/id","pk":"a"}"#, pk: #""a""#).status, 400)
        XCTAssertEqual(cosmos.create("{\"id\":", pk: #""a""#).status, 400, "truncated JSON is a 400, not a crash")
    }

    /// Ids, member names and string values compare byte for byte, as in Cosmos DB: "caf\u{E9}" and "cafe\u{301}"
    /// are two ids (Swift's `==` calls them equal: the second create was a 409), `=` tells them apart, and
    /// LENGTH counts code points, not user-perceived characters.
    func testStringsCompareByteForByte() throws {
        let cosmos = try CosmosTestHarness()
        XCTAssertEqual(cosmos.create(#"{"id":"caf\u00e9","pk":"a","s":"\u00e9"}"#, pk: #""a""#).status, 201)
        XCTAssertEqual(cosmos.create(#"{"id":"cafe\u0301","pk":"a","s":"e\u0301"}"#, pk: #""a""#).status, 201)
        XCTAssertEqual(cosmos.create(#"{"id":"cafe\u0301","pk":"a"}"#, pk: #""a""#).status, 409)
        let composed = cosmos.query(#"SELECT VALUE c.id FROM c WHERE c.s = "\u00e9""#, pk: #""a""#)
        XCTAssertEqual(composed.documents, [.string("caf\u{E9}")])
        XCTAssertEqual(cosmos.query("SELECT VALUE COUNT(1) FROM c WHERE c.s = @s", parameters: #"[{"name":"@s","value":"e\u0301"}]"#,
                                    pk: #""a""#).documents, [.number(1)])
        let lengths = cosmos.query(#"SELECT VALUE [LENGTH("e\u0301"), LENGTH("\ud83c\uddfa\ud83c\uddf8"), LENGTH("\u00e9")] FROM c"#
                                   + " WHERE c.id = 'caf\u{E9}'", pk: #""a""#)
        XCTAssertEqual(lengths.documents, [.array([.number(2), .number(2), .number(1)])], lengths.raw)
        // Member names too: two members, not one replaced by the other.
        let members = try CosmosValue.parse(#"{"\u00e9":1,"e\u0301":2}"#)
        XCTAssertEqual(members.objectMembers?.count, 2)
        XCTAssertEqual(members["e\u{301}"], .number(2))
        XCTAssertNotEqual(members, try CosmosValue.parse(#"{"\u00e9":1,"\u00e9":2}"#))
    }

    func testPatchOperationsAndConditionalPatch() throws {
        let cosmos = try CosmosTestHarness()
        XCTAssertEqual(cosmos.create(#"{"id":"p","pk":"a","ttl":100,"tax":1,"items":[{"sku":"x"}],"total":10,"freight":3,"list":[1,3]}"#, pk: #""a""#).status, 201)
        let pk = [("x-ms-documentdb-partitionkey", #"["a"]"#), ("Content-Type", "application/json-patch+json")]
        let patched = cosmos.send("PATCH", "/dbs/db/colls/c/docs/p/", body: #"""
            {"operations":[{"op":"add","path":"/color","value":"red"},{"op":"remove","path":"/ttl"},
            {"op":"replace","path":"/tax","value":14},{"op":"set","path":"/items/0/discount","value":20.5},
            {"op":"incr","path":"/total","value":5},{"op":"move","from":"/freight","path":"/extra"},
            {"op":"add","path":"/list/1","value":2},{"op":"add","path":"/list/-","value":4},{"op":"incr","path":"/fresh","value":1}]}
            """#, headers: pk)
        XCTAssertEqual(patched.status, 200, patched.raw)
        let document = try XCTUnwrap(patched.body)
        XCTAssertEqual(document["color"], .string("red"))
        XCTAssertNil(document["ttl"])
        XCTAssertEqual(document["tax"], .number(14))
        XCTAssertEqual(document["items"], .array([.object([("sku", .string("x")), ("discount", .number(20.5))])]))
        XCTAssertEqual(document["total"], .number(15))
        XCTAssertNil(document["freight"])
        XCTAssertEqual(document["extra"], .number(3))
        XCTAssertEqual(document["list"], .array([.number(1), .number(2), .number(3), .number(4)]))
        XCTAssertEqual(document["fresh"], .number(1))

        let failing = cosmos.send("PATCH", "/dbs/db/colls/c/docs/p/", body: #"{"operations":[{"op":"incr","path":"/total","value":1}],"condition":"from c where c.total = 0"}"#, headers: pk)
        XCTAssertEqual(failing.status, 412)
        let passing = cosmos.send("PATCH", "/dbs/db/colls/c/docs/p/", body: #"{"operations":[{"op":"incr","path":"/total","value":1}],"condition":"from c where c.total = 15 AND IS_DEFINED(c.color)"}"#, headers: pk)
        XCTAssertEqual(passing.body?["total"], .number(16))
        for (body, reason) in [
            (#"{"operations":[{"op":"replace","path":"/missing","value":1}]}"#, "does not exist"),
            (#"{"operations":[{"op":"remove","path":"/missing"}]}"#, "does not exist"),
            (#"{"operations":[{"op":"incr","path":"/color","value":1}]}"#, "not a number"),
            (#"{"operations":[{"op":"copy","path":"/a","from":"/b"}]}"#, "Unsupported patch operation"),
            (#"{"operations":[{"op":"set","path":"/pk","value":"b"}]}"#, "partition key"),
            (#"{"operations":[{"op":"set","path":"/a/b","value":1}]}"#, "parent"),
        ] {
            let answer = cosmos.send("PATCH", "/dbs/db/colls/c/docs/p/", body: body, headers: pk)
            XCTAssertEqual(answer.status, 400, body)
            XCTAssertTrue(answer.raw.contains(reason), "\(body): \(answer.raw)")
        }
        XCTAssertEqual(cosmos.send("GET", "/dbs/db/colls/c/docs/p/", headers: pk).body?["total"], .number(16), "failed patches change nothing")
        // Nesting grows with patches only up to the limit the parser enforces on bodies.
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        XCTAssertEqual(cosmos.send("PATCH", "/dbs/db/colls/c/docs/p/", body: #"{"operations":[{"op":"set","path":"/d","value":\#(deep)}]}"#, headers: pk).status, 200)
        let deeper = cosmos.send("PATCH", "/dbs/db/colls/c/docs/p/", body: #"{"operations":[{"op":"set","path":"/d/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0","value":\#(deep)}]}"#, headers: pk)
        XCTAssertEqual(deeper.status, 400, deeper.raw)
        XCTAssertTrue(deeper.raw.contains("deeper than"), deeper.raw)
    }

    func testPartitionKeyRangesETag304AndSplitGone() throws {
        let cosmos = try CosmosTestHarness()
        let first = cosmos.send("GET", "/dbs/db/colls/c/pkranges/", headers: [("A-IM", "Incremental Feed"), ("x-ms-max-item-count", "-1")])
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(cosmos.rangeIDs(), ["0", "1"], "at least two ranges")
        let etag = try XCTUnwrap(first.header("etag"))
        let again = cosmos.send("GET", "/dbs/db/colls/c/pkranges/", headers: [("If-None-Match", etag)])
        XCTAssertEqual(again.status, 304, "the only answer that ends the SDK's incremental feed loop")
        XCTAssertEqual(again.header("etag"), etag)

        for index in 0..<40 { _ = cosmos.create(#"{"id":"i\#(index)","pk":"t\#(index)","n":\#(index)}"#, pk: #""t\#(index)""#) }
        let before = cosmos.drain("SELECT * FROM c", range: "0", maxItemCount: 1000).count
            + cosmos.drain("SELECT * FROM c", range: "1", maxItemCount: 1000).count
        XCTAssertEqual(before, 40, "every item in exactly one range")
        // First page of range 0, then the range splits: the old id is gone (410/1002), and its children resume from
        // the parent's continuation with nothing lost or repeated.
        let page = cosmos.query("SELECT * FROM c ORDER BY c.n", range: "0", maxItemCount: 3)
        let token = try XCTUnwrap(page.header("x-ms-continuation"))
        let wholeRange = cosmos.drain("SELECT * FROM c ORDER BY c.n", range: "0", maxItemCount: 1000)
        XCTAssertEqual(try cosmos.service.store.splitPartitionKeyRange(database: "db", container: "c", rangeID: "0").map(\.id), ["2", "3", "1"])
        let gone = cosmos.query("SELECT * FROM c ORDER BY c.n", range: "0", maxItemCount: 3, continuation: token)
        XCTAssertEqual(gone.status, 410)
        XCTAssertEqual(gone.substatus, "1002")
        XCTAssertEqual(cosmos.send("GET", "/dbs/db/colls/c/pkranges/", headers: [("If-None-Match", etag)]).status, 200, "new ETag after a split")
        let rest = cosmos.drain("SELECT * FROM c ORDER BY c.n", range: "2", maxItemCount: 2, startingAt: token)
            + cosmos.drain("SELECT * FROM c ORDER BY c.n", range: "3", maxItemCount: 2, startingAt: token)
        let resumed = (page.documents + rest).compactMap { $0["n"]?.numberValue }.sorted()
        XCTAssertEqual(resumed, wholeRange.compactMap { $0["n"]?.numberValue }.sorted())
        XCTAssertEqual(Set(resumed).count, resumed.count, "no repeats")
        let parents = cosmos.send("GET", "/dbs/db/colls/c/pkranges/").body?["PartitionKeyRanges"]
        XCTAssertTrue(parents?.json.contains(#""parents":["0"]"#) == true)
    }

    /// A page ends near 4 MB of documents whatever `x-ms-max-item-count` asks for (as the service's do), the pages
    /// together hold every item once; a single result above 16 MB (one large document projected many times over)
    /// is a 400, measured before any of it is written.
    func testQueryPagesAreBoundedInBytes() throws {
        let cosmos = try CosmosTestHarness()
        let filler = String(repeating: "x", count: 1_000_000)
        for index in 0..<10 {
            XCTAssertEqual(cosmos.create(#"{"id":"big\#(index)","pk":"p","n":\#(index),"blob":"\#(filler)"}"#, pk: #""p""#).status, 201)
        }
        var pages: [Int] = []
        var seen: [Double] = []
        var continuation: String?
        repeat {
            let answer = cosmos.query("SELECT * FROM c", pk: #""p""#, maxItemCount: -1, continuation: continuation)
            XCTAssertEqual(answer.status, 200, String(answer.raw.prefix(300)))
            pages.append(answer.documents.count)
            seen += answer.documents.compactMap { $0["n"]?.numberValue }
            continuation = answer.header("x-ms-continuation")
        } while continuation != nil && pages.count < 20
        XCTAssertEqual(seen.sorted(), (0..<10).map(Double.init), "every item once")
        XCTAssertTrue(pages.allSatisfy { $0 <= 4 }, "\(pages)")
        XCTAssertGreaterThan(pages.count, 2, "\(pages)")

        let repeated = "SELECT VALUE [" + Array(repeating: "c", count: 20).joined(separator: ",") + "] FROM c"
        let huge = cosmos.query(repeated, pk: #""p""#, maxItemCount: 1)
        XCTAssertEqual(huge.status, 400)
        XCTAssertTrue(huge.raw.contains("larger than"), String(huge.raw.prefix(300)))
    }

    /// The length `jsonLength` counts is the length of the text `json` writes.
    func testJSONLengthIsTheWrittenLength() throws {
        let samples = [
            #"{"a":[1,2.5,-3e20,null,true,false],"b":"q\"uo\\te\n\t\u0001é😀","c":{},"d":[],"e":{"f":{"g":"h"}}}"#,
            #"[]"#, #""""#, #"0.1"#, #"{"k":[{"x":1},{"y":[2,[3]]}]}"#,
        ]
        for sample in samples {
            let value = try CosmosValue.parse(Array(sample.utf8))
            let full = value.json.utf8.count
            XCTAssertEqual(value.jsonLength(upTo: .max), full, sample)
            // Past the cap it stops counting, at some length above the cap.
            let capped = value.jsonLength(upTo: 3)
            if full <= 3 { XCTAssertEqual(capped, full, sample) } else { XCTAssertGreaterThan(capped, 3, sample) }
        }
    }

    /// Splitting every range doubles them; past the emulator's bound a split is refused (400) and the ranges stay.
    func testSplitsStopAtTheRangeBound() throws {
        let cosmos = try CosmosTestHarness()
        let store = cosmos.service.store
        var count = try store.partitionKeyRanges(database: "db", container: "c").ranges.count
        while count * 2 <= CosmosStore.maxPartitionKeyRanges {
            count = try store.splitPartitionKeyRange(database: "db", container: "c", rangeID: nil).count
        }
        XCTAssertThrowsError(try store.splitPartitionKeyRange(database: "db", container: "c", rangeID: nil)) { error in
            XCTAssertTrue("\(error)".contains("partition key ranges"), "\(error)")
        }
        XCTAssertEqual(try store.partitionKeyRanges(database: "db", container: "c").ranges.count, count)
    }

    func testCrossPartitionQueriesAnswerGatewayStyle() throws {
        let cosmos = try CosmosTestHarness()
        for index in 0..<10 { _ = cosmos.create(#"{"id":"i\#(index)","pk":"t\#(index % 3)","n":\#(index)}"#, pk: #""t\#(index % 3)""#) }
        let direct = cosmos.query("SELECT * FROM c ORDER BY c.n")
        XCTAssertEqual(direct.status, 400)
        XCTAssertEqual(direct.substatus, "1004")
        var headers = [("x-ms-cosmos-is-query-plan-request", "True"), ("Content-Type", "application/json")]
        let plan = cosmos.send("POST", "/dbs/db/colls/c/docs/", body: #"{"query":"SELECT VALUE c.n FROM c WHERE c.n > @m ORDER BY c.n DESC OFFSET 1 LIMIT 2","parameters":[{"name":"@m","value":2}]}"#, headers: headers)
        XCTAssertEqual(plan.status, 200, plan.raw)
        let info = try XCTUnwrap(plan.body?["queryInfo"])
        XCTAssertEqual(info["orderBy"], .array([.string("Descending")]))
        XCTAssertEqual(info["orderByExpressions"], .array([.string("c.n")]))
        XCTAssertEqual(info["offset"], .number(1))
        XCTAssertEqual(info["limit"], .number(2))
        let rewritten = try XCTUnwrap(info["rewrittenQuery"]?.stringValue)
        XCTAssertTrue(rewritten.contains("orderByItems") && rewritten.contains("{documentdb-formattableorderbyquery-filter}") && rewritten.contains("LIMIT 3"), rewritten)
        // The rewritten query, per range, with the original parameters: sorted payloads with their order-by items.
        var merged: [(Double, Double)] = []
        for range in cosmos.rangeIDs() {
            let answer = cosmos.query(rewritten, parameters: #"[{"name":"@m","value":2}]"#, range: range)
            XCTAssertEqual(answer.status, 200, answer.raw)
            let values = answer.documents.compactMap { $0["orderByItems"]?.json }.count
            XCTAssertEqual(values, answer.documents.count)
            let payloads = answer.documents.compactMap { $0["payload"]?.numberValue }
            XCTAssertEqual(payloads, payloads.sorted(by: >), "each range sorted")
            merged += payloads.map { ($0, $0) }
        }
        XCTAssertEqual(Array(merged.map(\.0).sorted(by: >).dropFirst(1).prefix(2)), [8, 7])

        headers = [("x-ms-cosmos-is-query-plan-request", "True")]
        let average = cosmos.send("POST", "/dbs/db/colls/c/docs/", body: #"{"query":"SELECT VALUE AVG(c.n) FROM c"}"#, headers: headers)
        XCTAssertEqual(average.body?["queryInfo"]?["aggregates"], .array([.string("Average")]))
        let partial = try XCTUnwrap(average.body?["queryInfo"]?["rewrittenQuery"]?.stringValue)
        var sum = 0.0, count = 0.0
        for range in cosmos.rangeIDs() {
            let item = cosmos.query(partial, range: range).documents.first?.json ?? ""
            let parsed = try CosmosValue.parse(item)
            guard case .array(let parts) = parsed, let first = parts.first?["item"] else { return XCTFail(item) }
            sum += first["sum"]?.numberValue ?? 0
            count += first["count"]?.numberValue ?? 0
        }
        XCTAssertEqual(sum / count, 4.5)
        let single = cosmos.query("SELECT VALUE COUNT(1) FROM c", pk: #""t0""#)
        XCTAssertEqual(single.documents, [.number(4)], "a single-partition aggregate is answered in full")
        let noCross = cosmos.send("POST", "/dbs/db/colls/c/docs/", body: #"{"query":"SELECT * FROM c"}"#,
                                  headers: [("x-ms-documentdb-isquery", "true")])
        XCTAssertEqual(noCross.status, 400)
        XCTAssertTrue(noCross.raw.contains("Cross partition query is required but disabled"))
    }

    func testPagingWithMaxItemCountAndContinuations() throws {
        let cosmos = try CosmosTestHarness()
        for index in 0..<7 { _ = cosmos.create(#"{"id":"i\#(index)","pk":"same","n":\#(7 - index)}"#, pk: #""same""#) }
        var seen: [Double] = []
        var continuation: String?
        var pages = 0
        repeat {
            let answer = cosmos.query("SELECT * FROM c ORDER BY c.n", pk: #""same""#, maxItemCount: 3, continuation: continuation)
            XCTAssertEqual(answer.header("x-ms-item-count"), String(answer.documents.count))
            seen += answer.documents.compactMap { $0["n"]?.numberValue }
            continuation = answer.header("x-ms-continuation")
            pages += 1
        } while continuation != nil
        XCTAssertEqual(seen, [1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(pages, 3)
        let feed = cosmos.send("GET", "/dbs/db/colls/c/docs/", headers: [("x-ms-max-item-count", "4")])
        XCTAssertEqual(feed.documents.count, 4)
        let next = cosmos.send("GET", "/dbs/db/colls/c/docs/", headers: [("x-ms-continuation", try XCTUnwrap(feed.header("x-ms-continuation")))])
        XCTAssertEqual(next.documents.count, 3)
        XCTAssertNil(next.header("x-ms-continuation"))
        XCTAssertEqual(cosmos.query("SELECT * FROM c", pk: #""same""#, continuation: "garbage").status, 400)
        XCTAssertEqual(cosmos.query("SELECT * FROM c", pk: #""same""#, maxItemCount: nil, continuation: nil).documents.count, 7)
    }

    func testLimitsAndFaults() throws {
        let baseline = try CosmosTestHarness().service.store.state.load().storedBytes
        XCTAssertGreaterThan(baseline, 0, "databases and containers count against the store too")
        let item = { (id: String) in #"{"id":"\#(id)","pk":"a","blob":"\#(String(repeating: "x", count: 150))"}"# }
        // What one such item holds: its stored JSON (what reads answer, system properties included) and its document.
        let measure = try CosmosTestHarness()
        let stored = measure.create(item("m"), pk: #""a""#)
        XCTAssertEqual(stored.status, 201)
        let held = measure.service.store.state.load().storedBytes - baseline
        XCTAssertEqual(held, 2 * stored.raw.utf8.count, "an item counts its stored JSON and its document")
        // Room for two such items and a half.
        let cosmos = try CosmosTestHarness {
            $0.httpLimits.maxCosmosItemBytes = stored.raw.utf8.count + 100
            $0.httpLimits.maxCosmosStoreBytes = baseline + 2 * held + held / 2
        }
        let big = cosmos.create(#"{"id":"big","pk":"a","blob":"\#(String(repeating: "x", count: 260))"}"#, pk: #""a""#)
        XCTAssertEqual(big.status, 413)
        XCTAssertEqual(big.body?["code"], .string("RequestEntityTooLarge"))
        // A body far above the item limit is refused before it is parsed (parsed JSON takes ~20 times its text).
        let huge = cosmos.create(#"{"id":"huge","pk":"a","blob":[\#(Array(repeating: "[0]", count: 200_000).joined(separator: ","))]}"#,
                                 pk: #""a""#)
        XCTAssertEqual(huge.status, 413)
        XCTAssertTrue(huge.raw.contains("the body is"), huge.raw)
        XCTAssertEqual(cosmos.create(item("a1"), pk: #""a""#).status, 201)
        XCTAssertEqual(cosmos.create(item("a2"), pk: #""a""#).status, 201)
        let full = cosmos.create(item("a3"), pk: #""a""#)
        XCTAssertEqual(full.status, 403)
        XCTAssertTrue(full.raw.contains("maxCosmosStoreBytes"))
        XCTAssertEqual(cosmos.send("DELETE", "/dbs/db/colls/c/docs/a1/", headers: [("x-ms-documentdb-partitionkey", #"["a"]"#)]).status, 204)
        XCTAssertEqual(cosmos.create(item("a3"), pk: #""a""#).status, 201, "deletes free space")
        let container = cosmos.send("POST", "/dbs/db/colls/", body: #"{"id":"more","partitionKey":{"paths":["/pk"]}}"#)
        XCTAssertEqual(container.status, 403, "creating containers is bounded too")

        let request = EmulatorHTTPRequest(head: HTTPRequestHead(method: "GET", target: "/"), body: [], isSecure: false, localPort: 1, remoteAddress: nil)
        let throttled = cosmos.service.throttledResponse(to: request)
        XCTAssertEqual(throttled.head.status, 429)
        XCTAssertEqual(throttled.head.headers.first(name: "x-ms-retry-after-ms"), "100")
        XCTAssertEqual(throttled.head.headers.first(name: "x-ms-substatus"), "3200")
        XCTAssertEqual(cosmos.service.authenticationRefusedResponse(to: request).head.status, 401)
    }

    func testSignedResourceFromSegmentsIsWhatThePathGives() {
        for target in ["/", "/dbs", "/dbs/db/", "/dbs/db/colls/c", "/dbs/db/colls/c/docs/item%201/", "/dbs/db/colls/c/docs/a%2Fb",
                       "/dbs/db/colls/c/docs/x?q=1", "//dbs//db/colls/c/pkranges/", "/dbs/caf%C3%A9/colls/c/docs/%zz/"] {
            let request = EmulatorHTTPRequest(head: HTTPRequestHead(method: "GET", target: target), body: [], isSecure: false,
                                              localPort: 1, remoteAddress: nil)
            let expected = CosmosResourcePath.resource(forPath: target)
            let signed = CosmosService.signedResource(request)
            XCTAssertEqual(signed.type, expected.type, target)
            XCTAssertEqual(signed.link, expected.link, target)
        }
    }

    func testReadsAnswerTheStoredTextAfterEveryKindOfWrite() throws {
        let cosmos = try CosmosTestHarness()
        XCTAssertEqual(cosmos.create(#"{"id":"r1","pk":"a","n":1}"#, pk: #""a""#).status, 201)
        func read() -> String { cosmos.send("GET", "/dbs/db/colls/c/docs/r1/", headers: [("x-ms-documentdb-partitionkey", #"["a"]"#)]).raw }
        let created = read()
        XCTAssertTrue(created.contains(#""n":1"#) && created.contains(#""_etag":"#), created)
        XCTAssertEqual(cosmos.send("PUT", "/dbs/db/colls/c/docs/r1/", body: #"{"id":"r1","pk":"a","n":2}"#,
                                   headers: [("x-ms-documentdb-partitionkey", #"["a"]"#)]).status, 200)
        XCTAssertTrue(read().contains(#""n":2"#))
        XCTAssertEqual(cosmos.send("PATCH", "/dbs/db/colls/c/docs/r1/", body: #"{"operations":[{"op":"incr","path":"/n","value":5}]}"#,
                                   headers: [("x-ms-documentdb-partitionkey", #"["a"]"#)]).status, 200)
        let patched = read()
        XCTAssertTrue(patched.contains(#""n":7"#), patched)
        XCTAssertNotEqual(patched, created)
    }

    func testFrontDoorFaultsAndTheSplitRouteOverHTTP() throws {
        var configuration = EmulatorConfiguration()
        configuration.cosmosContainers = [CosmosContainerDefinition(database: "db", container: "c", partitionKeyPath: "/pk")]
        configuration.faults.httpThrottleRate = 1
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let client = try HTTPClient(configuration: HTTPClientConfiguration())
        defer { try? client.shutdown() }
        let base = try XCTUnwrap(emulator.plainHTTPBaseURL)
        let throttled = try client.execute(HTTPRequest(url: base + "/dbs/db/"), timeout: .seconds(10))
        XCTAssertEqual(throttled.head.status, 429)
        XCTAssertEqual(throttled.head.headers.first(name: "x-ms-retry-after-ms"), "100")
        let split = try client.execute(HTTPRequest(method: "POST", url: base + "/_emulator/cosmos/dbs/db/colls/c/split?range=1"), timeout: .seconds(10))
        XCTAssertEqual(split.head.status, 200, "emulator routes are not throttled")
        XCTAssertEqual(try emulator.cosmosPartitionKeyRangeIDs(database: "db", container: "c"), ["0", "2", "3"])
        XCTAssertEqual(try emulator.splitCosmosPartitionKeyRange(database: "db", container: "c", rangeID: "0"), ["4", "5", "2", "3"])
        XCTAssertThrowsError(try emulator.splitCosmosPartitionKeyRange(database: "db", container: "missing"))
    }

    func testConcurrentWritesQueriesAndSplitsKeepEveryItem() throws {
        let cosmos = try CosmosTestHarness()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<25 {
                let pk = #""w\#(worker)-\#(index % 5)""#
                XCTAssertEqual(cosmos.create(#"{"id":"i\#(index)","pk":\#(pk),"n":\#(index)}"#, pk: pk).status, 201)
                if worker == 0, index == 10 { _ = try? cosmos.service.store.splitPartitionKeyRange(database: "db", container: "c", rangeID: nil) }
                _ = cosmos.query("SELECT VALUE COUNT(1) FROM c", pk: pk)
            }
        }
        let total = cosmos.rangeIDs().reduce(0) { $0 + cosmos.drain("SELECT * FROM c", range: $1, maxItemCount: 50).count }
        XCTAssertEqual(total, 200)
    }
}
