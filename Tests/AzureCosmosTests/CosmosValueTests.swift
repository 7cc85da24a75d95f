import AzureAuth
@testable import AzureCosmos
import Foundation
import ToolboxCore
import XCTest

/// Partition keys, patch operations, JSON ordering, session tokens and request paths: the pieces that need no
/// server.
final class CosmosValueTests: XCTestCase {
    func testPartitionKeyHeaders() throws {
        XCTAssertEqual(CosmosPartitionKey("tenant-a").headerValue, #"["tenant-a"]"#)
        XCTAssertEqual(CosmosPartitionKey(7).headerValue, "[7]")
        XCTAssertEqual(CosmosPartitionKey(2.5).headerValue, "[2.5]")
        XCTAssertEqual(CosmosPartitionKey(true).headerValue, "[true]")
        XCTAssertEqual(CosmosPartitionKey.null.headerValue, "[null]")
        XCTAssertEqual(CosmosPartitionKey.none.headerValue, "[{}]")
        XCTAssertEqual(CosmosPartitionKey.hierarchical(["a", 1]).headerValue, #"["a",1]"#)
    }

    func testPartitionKeyFromCommandLine() throws {
        XCTAssertEqual(try CosmosPartitionKey(commandLine: #""a""#), .string("a"))
        XCTAssertEqual(try CosmosPartitionKey(commandLine: "7"), .number(7))
        XCTAssertEqual(try CosmosPartitionKey(commandLine: "true"), .bool(true))
        XCTAssertEqual(try CosmosPartitionKey(commandLine: "null"), .null)
        XCTAssertEqual(try CosmosPartitionKey(commandLine: "tenant-a"), .string("tenant-a"))
        XCTAssertThrowsError(try CosmosPartitionKey(commandLine: #"{"a": 1}"#)) {
            XCTAssertEqual(($0 as? ToolboxError)?.code, .invalidArgument)
        }
    }

    func testPartitionKeyExtraction() throws {
        let document = try CosmosJSON(parsing: #"{"id": "1", "pk": "a", "address": {"city": "Oslo"}, "n": 3}"#)
        XCTAssertEqual(try CosmosPartitionKey.extract(from: document, paths: ["/pk"]), .string("a"))
        XCTAssertEqual(try CosmosPartitionKey.extract(from: document, paths: ["/address/city"]), .string("Oslo"))
        XCTAssertEqual(try CosmosPartitionKey.extract(from: document, paths: ["/missing"]), CosmosPartitionKey.none)
        XCTAssertEqual(try CosmosPartitionKey.extract(from: document, paths: ["/pk", "/n"]), .hierarchical(["a", 3]))
        XCTAssertThrowsError(try CosmosPartitionKey.extract(from: document, paths: ["/address"]))
    }

    func testPatchOperationsRoundTrip() throws {
        let text = #"""
            [{"op": "add", "path": "/favorite_color", "value": "red"}, {"op": "remove", "path": "/ttl"},
             {"op": "replace", "path": "/tax_amount", "value": 14}, {"op": "set", "path": "/items/0/discount", "value": 20.0512},
             {"op": "incr", "path": "/total_due", "value": 5}, {"op": "move", "from": "/freight", "path": "/service_addition"}]
            """#
        let json = try CosmosJSON(parsing: text)
        let operations = try json.arrayValue!.map { value throws(ToolboxError) in try CosmosPatchOperation(json: value) }
        XCTAssertEqual(operations, [
            .add("/favorite_color", "red"), .remove("/ttl"), .replace("/tax_amount", 14),
            .set("/items/0/discount", 20.0512), .increment("/total_due", by: 5),
            .move(from: "/freight", to: "/service_addition"),
        ])
        XCTAssertEqual(CosmosJSON.array(operations.map(\.json)), json)
        XCTAssertThrowsError(try CosmosPatchOperation(json: ["op": "incr", "path": "/a", "value": "x"]))
        XCTAssertThrowsError(try CosmosPatchOperation(json: ["op": "explode", "path": "/a"]))
        XCTAssertThrowsError(try CosmosPatchOperation(json: ["op": "set", "path": "a", "value": 1]))
    }

    func testCosmosOrdering() {
        let ordered: [CosmosJSON?] = [nil, .null, .bool(false), .bool(true), .integer(-1), .double(0.5), .integer(2),
                                      .string("A"), .string("a"), .string("b"), .array([]), .object([:])]
        for (i, lhs) in ordered.enumerated() {
            for (j, rhs) in ordered.enumerated() {
                XCTAssertEqual(CosmosJSON.cosmosCompare(lhs, rhs), i < j ? -1 : (i == j ? 0 : 1), "\(i) vs \(j)")
            }
        }
    }

    func testSessionTokensKeepTheNewestPerRange() {
        let tokens = CosmosSessionTokens()
        tokens.record(container: "dbs/d/colls/c", header: "0:-1#6")
        tokens.record(container: "dbs/d/colls/c", header: "0:-1#4,1:-1#9")
        XCTAssertEqual(tokens.token(container: "dbs/d/colls/c", rangeID: "0"), "0:-1#6")
        XCTAssertEqual(tokens.token(container: "dbs/d/colls/c", rangeID: nil), "0:-1#6,1:-1#9")
        XCTAssertNil(tokens.token(container: "dbs/d/colls/x", rangeID: nil))
        tokens.record(container: "dbs/d/colls/c", header: "garbage")
        XCTAssertEqual(tokens.token(container: "dbs/d/colls/c", rangeID: "1"), "1:-1#9")
    }

    func testPartitionKeyHeaderShortcutsWriteWhatTheEncoderWrites() {
        let keys: [CosmosPartitionKey] = [
            "tenant-a", "", "a/b c", "quote\"d", "back\\slash", "tab\t", "caf\u{e9}", "\u{1F600}", 0, -0.0, 7, -42, 2.5,
            1e15, 1e16, -1e300, .bool(true), .bool(false), .null, .none, .hierarchical(["a", 3, .none]),
        ]
        for key in keys {
            // The encoder's text: a hierarchical key's JSON is the array already.
            var encoded = CosmosJSON.array([key.json]).jsonString
            if case .hierarchical = key { encoded = key.json.jsonString }
            XCTAssertEqual(key.headerValue, encoded, "\(key.json)")
        }
    }

    func testSessionTokensRepeatedAndOlderHeadersChangeNothing() {
        let tokens = CosmosSessionTokens()
        let link = "dbs/d/colls/c"
        tokens.record(container: link, header: "0:-1#6,1:-1#9")
        XCTAssertEqual(tokens.token(container: link, rangeID: nil), "0:-1#6,1:-1#9")
        tokens.record(container: link, header: "0:-1#6,1:-1#9")  // the same header again (the common case)
        tokens.record(container: link, header: "1:-1#3")  // older: ignored
        XCTAssertEqual(tokens.token(container: link, rangeID: nil), "0:-1#6,1:-1#9")
        tokens.record(container: link, header: "0:-1#7")  // newer for one range: the joined token follows
        XCTAssertEqual(tokens.token(container: link, rangeID: nil), "0:-1#7,1:-1#9")
        tokens.record(container: link, header: "0:-1#6,1:-1#9")  // a stale repeat of an earlier header
        XCTAssertEqual(tokens.token(container: link, rangeID: nil), "0:-1#7,1:-1#9")
        XCTAssertEqual(tokens.token(container: link, rangeID: "0"), "0:-1#7")
    }

    /// A feed read while splits finish can list a range and its own children (naming it as a parent) in one
    /// answer: the parent is dropped, and the map routes.
    func testRoutingMapDropsAParentListedWithItsChildren() {
        var map = CosmosRoutingMap(ranges: [CosmosPartitionKeyRange(id: "0", minInclusive: "", maxExclusive: "FF", parents: [])],
                                   etag: nil)
        map.apply([
            CosmosPartitionKeyRange(id: "4", minInclusive: "", maxExclusive: "80", parents: ["0"]),
            CosmosPartitionKeyRange(id: "5", minInclusive: "80", maxExclusive: "FF", parents: ["0"]),
            CosmosPartitionKeyRange(id: "6", minInclusive: "", maxExclusive: "40", parents: ["0", "4"]),
            CosmosPartitionKeyRange(id: "7", minInclusive: "40", maxExclusive: "80", parents: ["0", "4"]),
        ])
        XCTAssertEqual(map.ranges.map(\.id), ["6", "7", "5"])
        XCTAssertNil(map.problem(container: "c"))
        // Two ranges over one span, neither naming the other: refused.
        map.apply([CosmosPartitionKeyRange(id: "9", minInclusive: "", maxExclusive: "FF", parents: [])])
        XCTAssertNotNil(map.problem(container: "c"))
    }

    /// A service naming ever new ranges cannot grow the token sent with every request without end; the ranges
    /// already kept still take newer tokens.
    func testSessionTokensKeepABoundedNumberOfRanges() {
        let tokens = CosmosSessionTokens()
        let link = "dbs/d/colls/c"
        for batch in 0..<10 {
            let header = (0..<1_000).map { "r\(batch * 1_000 + $0):-1#5" }.joined(separator: ",")
            tokens.record(container: link, header: header)
        }
        let joined = tokens.token(container: link, rangeID: nil) ?? ""
        XCTAssertEqual(joined.split(separator: ",").count, CosmosSessionTokens.maxRanges)
        XCTAssertNil(tokens.token(container: link, rangeID: "r9999"), "a range past the bound is not kept")
        tokens.record(container: link, header: "r0:-1#8")
        XCTAssertEqual(tokens.token(container: link, rangeID: "r0"), "r0:-1#8")
    }

    func testSignatureCacheSignsOncePerResourceAndSecond() throws {
        let signer = try CosmosMasterKeySigner(key: Secret(FakeCosmosGateway.key))
        let cache = CosmosSignatureCache(capacity: 3)
        let signs = LockedValue(0)
        func header(_ verb: String, _ link: String, _ date: String) -> String {
            cache.value(verb: verb, resourceType: "docs", resourceLink: link, date: date) {
                signs.withLockedValue { $0 += 1 }
                return signer.authorizationHeader(verb: verb, resourceType: "docs", resourceLink: link,
                                                  date: date).exposedValue
            }
        }
        let second1 = "Thu, 03 Dec 2026 19:00:00 GMT", second2 = "Thu, 03 Dec 2026 19:00:01 GMT"
        let first = header("GET", "dbs/d/colls/c/docs/a", second1)
        XCTAssertEqual(header("GET", "dbs/d/colls/c/docs/a", second1), first)
        XCTAssertEqual(signs.load(), 1)
        // Each input of the string to sign is part of the key.
        for (verb, link, date) in [("DELETE", "dbs/d/colls/c/docs/a", second1), ("GET", "dbs/d/colls/c/docs/b", second1),
                                   ("GET", "dbs/d/colls/c/docs/a", second2)] {
            XCTAssertEqual(header(verb, link, date), signer.authorizationHeader(
                verb: verb, resourceType: "docs", resourceLink: link, date: date).exposedValue)
        }
        XCTAssertEqual(signs.load(), 4)
        XCTAssertEqual(cache.count, 1, "a newer second drops the older one's entries")
        for id in ["p", "q", "r", "s"] { _ = header("GET", "dbs/d/colls/c/docs/\(id)", second2) }
        XCTAssertLessThanOrEqual(cache.count, 3, "bounded by its capacity")
    }

    /// A type or link may contain a newline (a gateway percent-decodes `%0A` from the path); the cache key must
    /// still tell the inputs apart, as the string to sign does (it lowercases the type, not the link).
    func testSignatureCacheKeepsInputsContainingNewlinesApart() throws {
        let signer = try CosmosMasterKeySigner(key: Secret(FakeCosmosGateway.key))
        let cache = CosmosSignatureCache()
        let date = "Thu, 03 Dec 2026 19:00:00 GMT"
        let requests = [("docs\nAB", "c"), ("docs", "AB\nc")]
        var headers: [String] = []
        for (type, link) in requests {
            let expected = signer.authorizationHeader(verb: "GET", resourceType: type, resourceLink: link,
                                                      date: date).exposedValue
            let cached = cache.value(verb: "GET", resourceType: type, resourceLink: link, date: date) {
                signer.authorizationHeader(verb: "GET", resourceType: type, resourceLink: link, date: date).exposedValue
            }
            XCTAssertEqual(cached, expected, "type \(type.debugDescription), link \(link.debugDescription)")
            headers.append(cached)
        }
        XCTAssertNotEqual(headers[0], headers[1], "the two requests sign different strings")
        XCTAssertEqual(cache.count, 2)
    }

    /// Waiters of a fetch go on from a work queue, not from the queue the fetch finished on (a connection's); a
    /// cached value is handed over on the caller's thread.
    func testSingleFlightWaitersLeaveTheFetchersQueue() {
        let flight = SingleFlight<String, Int>()
        let loop = LibraryQueues.makeQueue(label: "test.connection")
        let finishFetch = LockedValue<(@Sendable (Result<Int, ToolboxError>) -> Void)?>(nil)
        let labels = LockedValue<[String?]>([])
        let group = DispatchGroup()
        for _ in 0..<3 {
            group.enter()
            flight.get("k", completion: { result in
                XCTAssertEqual(try? result.get(), 7)
                labels.withLockedValue { $0.append(LibraryQueues.currentLibraryQueueLabel) }
                group.leave()
            }, fetch: { done in finishFetch.withLockedValue { $0 = done } })
        }
        let done = finishFetch.load()
        XCTAssertNotNil(done, "the first caller starts the fetch")
        loop.sync { done?(.success(7)) }
        group.wait()
        XCTAssertEqual(labels.load(), Array(repeating: "AzureCosmos.metadata", count: 3))
        let cached = LockedValue<String??>(nil)
        flight.get("k", completion: { _ in cached.withLockedValue { $0 = .some(LibraryQueues.currentLibraryQueueLabel) } },
                   fetch: { _ in XCTFail("cached: no second fetch") })
        XCTAssertEqual(cached.load(), .some(nil), "a cached value is delivered inline")
    }

    func testWirePathsAndSignedResources() {
        let item = CosmosRequest(method: "GET", segments: ["dbs", "db", "colls", "c", "docs", "item 1"], isFeed: false,
                                 idempotent: true, operation: "t")
        XCTAssertEqual(item.wirePath, "/dbs/db/colls/c/docs/item%201/")
        XCTAssertEqual(item.signedResource.type, "docs")
        XCTAssertEqual(item.signedResource.link, "dbs/db/colls/c/docs/item 1")
        let feed = CosmosRequest(method: "POST", segments: ["dbs", "db", "colls", "c", "docs"], isFeed: true,
                                 idempotent: false, operation: "t")
        XCTAssertEqual(feed.wirePath, "/dbs/db/colls/c/docs")
        XCTAssertEqual(feed.signedResource.type, "docs")
        XCTAssertEqual(feed.signedResource.link, "dbs/db/colls/c")
        let root = CosmosRequest(method: "GET", segments: [], isFeed: false, idempotent: true, operation: "t")
        XCTAssertEqual(root.wirePath, "/")
        XCTAssertEqual(root.signedResource.type, "")
    }

    func testConnectionStringNeverShowsTheKey() throws {
        let parsed = try CosmosConnectionString(parsing: "AccountEndpoint=https://a.documents.azure.com:443/;AccountKey=c2VjcmV0;")
        XCTAssertEqual(parsed.accountEndpoint, "https://a.documents.azure.com:443/")
        XCTAssertFalse("\(parsed)".contains("c2VjcmV0"))
        XCTAssertThrowsError(try CosmosConnectionString(parsing: "AccountEndpoint=https://a/;")) {
            XCTAssertEqual(($0 as? ToolboxError)?.code, .missingConnectionStringKey)
        }
        // An empty one shows what a Cosmos DB connection string looks like (it showed Event Hubs' shape).
        XCTAssertThrowsError(try CosmosConnectionString(parsing: "")) {
            XCTAssertEqual(($0 as? ToolboxError)?.code, .malformedConnectionString)
            XCTAssertTrue("\($0)".contains("'AccountEndpoint=https://...;AccountKey=...;'"), "\($0)")
        }
    }
}

/// Raw bytes handed to a Codable form stay the document they are (`[UInt8]` and `Data` are Codable too).
final class CosmosCodingTests: XCTestCase {
    func testBytesAreNotReencoded() throws {
        let bytes = Array(#"{"id": "1"}"#.utf8)
        XCTAssertEqual(try CosmosCoding.encode(bytes, JSONEncoder()), bytes)
        XCTAssertEqual(try CosmosCoding.encode(Data(bytes), JSONEncoder()), bytes)
        XCTAssertEqual(try CosmosCoding.decode([UInt8].self, bytes, JSONDecoder()), bytes)
        XCTAssertEqual(try CosmosCoding.decode(Data.self, bytes, JSONDecoder()), Data(bytes))
    }
}
