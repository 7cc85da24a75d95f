import XCTest

@testable import AzureEmulator

/// The Cosmos SQL subset: parsing, Cosmos semantics (undefined vs null, three-valued logic, type ordering),
/// aggregates, errors that name the unsupported construct; plus the JSON model and effective partition keys.
final class CosmosSQLTests: XCTestCase {
    private let documents: [CosmosValue] = [
        #"{"id":"a","n":3,"s":"pear","tags":["x","y"],"nested":{"k":1},"flag":true}"#,
        #"{"id":"b","n":1,"s":"Apple","tags":[],"nothing":null}"#,
        #"{"id":"c","n":2.5,"s":"apple","tags":[{"k":1,"v":2}]}"#,
        #"{"id":"d","s":5,"nothing":null}"#,
    ].map { try! CosmosValue.parse($0) }

    private func run(_ text: String, _ parameters: [String: CosmosValue] = [:]) throws -> [CosmosValue] {
        let query = try CosmosSQL.parse(text)
        let runner = CosmosQueryRunner(query: query, parameters: parameters)
        return try runner.rows(documents.enumerated().map { ($0.element, UInt64($0.offset + 1)) }).compactMap(\.value)
    }

    private func ids(_ text: String, _ parameters: [String: CosmosValue] = [:]) throws -> [String] {
        try run(text, parameters).compactMap { $0["id"]?.stringValue ?? $0.stringValue }
    }

    private func assertRefused(_ text: String, naming construct: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try run(text), file: file, line: line) { error in
            guard let failure = error as? CosmosFailure else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(failure.status, 400, file: file, line: line)
            XCTAssertTrue(failure.message.contains(construct), "\(failure.message) should name \(construct)", file: file, line: line)
        }
    }

    func testSelectFormsProjectionsAndAliases() throws {
        XCTAssertEqual(try ids("SELECT * FROM c"), ["a", "b", "c", "d"])
        XCTAssertEqual(try run("SELECT VALUE c.n FROM c"), [.number(3), .number(1), .number(2.5)], "undefined values are dropped")
        XCTAssertEqual(try run("SELECT c.id, c.n AS num, c.nested.k FROM c WHERE c.id = 'a'"),
                       [.object([("id", .string("a")), ("num", .number(3)), ("k", .number(1))])])
        XCTAssertEqual(try run("SELECT c.missing FROM c WHERE c.id = 'b'"), [.object([])], "a projection always gives an object")
        XCTAssertEqual(try run("SELECT c.n * 2, c.s || '!' AS bang FROM root c WHERE c.id = 'a'"),
                       [.object([("$1", .number(6)), ("bang", .string("pear!"))])])
        XCTAssertEqual(try run(#"SELECT VALUE {"i": c.id, "t": c.tags[0], "u": c.nope} FROM c WHERE c.id = "a""#),
                       [.object([("i", .string("a")), ("t", .string("x"))])])
        XCTAssertEqual(try run("SELECT TOP 2 VALUE c.id FROM c"), [.string("a"), .string("b")])
        XCTAssertEqual(try run("SELECT VALUE c.id FROM c ORDER BY c.id OFFSET 1 LIMIT 2"), [.string("b"), .string("c")])
        XCTAssertEqual(try run("SELECT TOP @t VALUE c.id FROM c", ["@t": .number(1)]), [.string("a")])
        XCTAssertEqual(try run("SELECT VALUE c['s'] FROM c WHERE c.id = 'b'"), [.string("Apple")])
    }

    /// CONTAINS finds a substring in linear time: it agrees with the naive definition on every short case, and
    /// answers a long near-match (a naive scan takes ~5·10⁹ steps there) at once.
    func testContainsAgreesWithTheDefinitionAndStaysLinear() {
        let alphabet: [Unicode.Scalar] = ["a", "b", "é"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let text = (0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            let needle = (0..<Int.random(in: 0...5, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            let naive = needle.isEmpty || (text.count >= needle.count
                && (0...(text.count - needle.count)).contains { Array(text[$0..<$0 + needle.count]) == needle })
            XCTAssertEqual(CosmosSQLEvaluator.occurs(needle, in: text), naive, "\(needle) in \(text)")
        }
        let long = [Unicode.Scalar](repeating: "a", count: 100_000)
        XCTAssertFalse(CosmosSQLEvaluator.occurs(long.prefix(50_000) + ["b"], in: long))
        XCTAssertTrue(CosmosSQLEvaluator.occurs(long.prefix(50_000) + ["b"], in: long + ["b"]))
    }

    /// Objects compare by members whatever their order, small or large (large ones through an index: a member scan
    /// per member is quadratic).
    func testObjectEqualityIgnoresMemberOrderAtAnySize() {
        for size in [3, 17, 50_000] {
            let members = (0..<size).map { ("k\($0)", CosmosValue.number(Double($0))) }
            let object = CosmosValue.object(members)
            XCTAssertEqual(object, .object(members.reversed()), "size \(size)")
            var changed = members
            changed[size / 2].1 = .string("other")
            XCTAssertNotEqual(object, .object(changed.reversed()), "size \(size)")
            var renamed = members
            renamed[size - 1].0 = "elsewhere"
            XCTAssertNotEqual(object, .object(renamed), "size \(size)")
        }
    }

    func testUndefinedIsNotNull() throws {
        XCTAssertEqual(try ids("SELECT * FROM c WHERE IS_NULL(c.nothing)"), ["b", "d"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE IS_DEFINED(c.nothing)"), ["b", "d"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE NOT IS_DEFINED(c.flag)"), ["b", "c", "d"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.nothing = null"), ["b", "d"])
        // A comparison with undefined is undefined, so neither it nor its negation keeps the document.
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.flag = true"), ["a"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE NOT (c.flag = true)"), [])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.flag != true"), [])
        // Comparisons across types are undefined too: "5" is not 5.
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.s = 5"), ["d"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.s > 1"), ["d"])
        // Three-valued logic: undefined OR true is true; undefined AND false is false.
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.flag OR c.n = 1"), ["a", "b"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE NOT (c.flag AND false)"), ["a", "b", "c", "d"])
        XCTAssertEqual(try run("SELECT VALUE c.nope ?? 'fallback' FROM c WHERE c.id = 'a'"), [.string("fallback")])
        XCTAssertEqual(try run("SELECT VALUE c.n / 0 FROM c"), [], "division by zero is undefined")
    }

    func testOperatorsAndFunctions() throws {
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.n BETWEEN 1 AND 2.5"), ["b", "c"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.n NOT BETWEEN 1 AND 2.5"), ["a"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.id IN ('a', 'd', 'z')"), ["a", "d"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.id NOT IN ('a', 'd')"), ["b", "c"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.n >= @min AND c.n < @max", ["@min": .number(1), "@max": .number(3)]), ["b", "c"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, 'y')"), ["a"])
        XCTAssertEqual(try ids(#"SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, {"k": 1}, true)"#), ["c"])
        XCTAssertEqual(try ids(#"SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, {"k": 1})"#), [])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE STARTSWITH(c.s, 'app')"), ["c"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE STARTSWITH(c.s, 'app', true)"), ["b", "c"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE ENDSWITH(c.s, 'ar')"), ["a"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE CONTAINS(c.s, 'PL', true)"), ["b", "c"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE STARTSWITH(c.s, 5)"), [], "wrong types give undefined")
        XCTAssertEqual(try ids("SELECT * FROM c WHERE ARRAY_LENGTH(c.tags) = 0 OR LOWER(c.s) = 'pear'"), ["a", "b"])
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.tags = ['x', 'y']"), ["a"], "deep equality")
        XCTAssertEqual(try ids("SELECT * FROM c WHERE c.n > 1 ? true : false"), ["a", "c"])
    }

    /// `\\uXXXX` in a string literal: four hex digits, and a surrogate pair for a character past U+FFFF (it was
    /// refused); a lone surrogate, a sign or too few digits is a syntax error.
    func testUnicodeEscapesInStringLiterals() throws {
        XCTAssertEqual(try run(#"SELECT VALUE "\ud83d\ude00\u00e9" FROM c"#).first, .string("\u{1F600}\u{E9}"))
        for bad in [#""\ud800""#, #""\ud800\u0041""#, #""\udc00""#, #""\u+041""#, #""\u00""#] {
            XCTAssertThrowsError(try run("SELECT VALUE \(bad) FROM c"), bad) { error in
                XCTAssertEqual((error as? CosmosFailure)?.status, 400, bad)
            }
        }
    }

    func testOrderByFollowsCosmosTypeOrdering() throws {
        let mixed = [#"{"id":"str","v":"a"}"#, #"{"id":"num","v":2}"#, #"{"id":"undef"}"#, #"{"id":"null","v":null}"#,
                     #"{"id":"false","v":false}"#, #"{"id":"true","v":true}"#, #"{"id":"neg","v":-1}"#, #"{"id":"arr","v":[1]}"#,
                     #"{"id":"obj","v":{}}"#].map { try! CosmosValue.parse($0) }
        let runner = CosmosQueryRunner(query: try CosmosSQL.parse("SELECT VALUE c.id FROM c ORDER BY c.v"), parameters: [:])
        let ascending = try runner.rows(mixed.enumerated().map { ($0.element, UInt64($0.offset)) }).compactMap { $0.value?.stringValue }
        XCTAssertEqual(ascending, ["undef", "null", "false", "true", "neg", "num", "str", "arr", "obj"])
        let descending = CosmosQueryRunner(query: try CosmosSQL.parse("SELECT VALUE c.id FROM c ORDER BY c.v DESC"), parameters: [:])
        XCTAssertEqual(try descending.rows(mixed.enumerated().map { ($0.element, UInt64($0.offset)) }).compactMap { $0.value?.stringValue },
                       ["obj", "arr", "str", "num", "neg", "true", "false", "null", "undef"])
        XCTAssertEqual(try ids("SELECT * FROM c ORDER BY c.s"), ["d", "b", "c", "a"], "numbers before strings; ordinal string order")
    }

    func testAggregates() throws {
        XCTAssertEqual(try run("SELECT VALUE COUNT(1) FROM c"), [.number(4)])
        XCTAssertEqual(try run("SELECT VALUE COUNT(c.n) FROM c"), [.number(3)], "COUNT skips undefined")
        XCTAssertEqual(try run("SELECT VALUE SUM(c.n) FROM c"), [.number(6.5)])
        XCTAssertEqual(try run("SELECT VALUE AVG(c.n) FROM c WHERE c.n > 1"), [.number(2.75)])
        XCTAssertEqual(try run("SELECT VALUE MIN(c.n) FROM c"), [.number(1)])
        XCTAssertEqual(try run("SELECT VALUE MAX(c.s) FROM c"), [.string("pear")], "strings order after numbers")
        XCTAssertEqual(try run("SELECT VALUE SUM(c.s) FROM c"), [], "SUM over a non-number is undefined")
        XCTAssertEqual(try run("SELECT VALUE AVG(c.n) FROM c WHERE c.n > 100"), [], "AVG of nothing is undefined")
        XCTAssertEqual(try run("SELECT COUNT(1) AS total, MAX(c.n) AS top FROM c"),
                       [.object([("total", .number(4)), ("top", .number(3))])])
        XCTAssertEqual(try run(#"SELECT VALUE [{"item": {"sum": SUM(c.n), "count": COUNT(c.n)}}] FROM c"#),
                       [.array([.object([("item", .object([("sum", .number(6.5)), ("count", .number(3))]))])])], "the plan's partial AVG")
        XCTAssertEqual(try run(#"SELECT VALUE [{"item": MIN(c.n)}] FROM c WHERE false"#), [.array([.object([])])], "undefined partial")
    }

    func testUnsupportedConstructsAreNamed() {
        assertRefused("SELECT * FROM c JOIN t IN c.tags", naming: "JOIN")
        assertRefused("SELECT DISTINCT c.s FROM c", naming: "DISTINCT")
        assertRefused("SELECT c.s, COUNT(1) FROM c GROUP BY c.s", naming: "GROUP BY")
        assertRefused("SELECT * FROM c ORDER BY c.s, c.n", naming: "more than one field")
        assertRefused("SELECT * FROM c WHERE EXISTS(SELECT VALUE t FROM t IN c.tags)", naming: "EXISTS")
        assertRefused("SELECT * FROM c WHERE c.s LIKE 'a%'", naming: "LIKE")
        assertRefused("SELECT * FROM c WHERE REGEXMATCH(c.s, 'a')", naming: "REGEXMATCH")
        assertRefused("SELECT * FROM c WHERE udf.f(c.s)", naming: "user-defined functions")
        assertRefused("SELECT * FROM c WHERE c.id IN (SELECT VALUE 1)", naming: "subqueries")
        assertRefused("SELECT c.id, COUNT(1) FROM c", naming: "mixing aggregates")
        assertRefused("SELECT * FROM t IN c.tags", naming: "IN")
        assertRefused("SELECT * FROM c WHERE c.n & 1 = 1", naming: "bitwise")
        assertRefused("SELECT * FROM c WHERE c.n = @missing", naming: "@missing")
        assertRefused("SELECT * FROM c WHERE", naming: "Syntax error")
        assertRefused("SELECT * FROM c WHERE c.s = 'open", naming: "unterminated")
        assertRefused("SELECT TOP -1 * FROM c", naming: "number or parameter")
        assertRefused("SELECT VALUE " + String(repeating: "(", count: 500) + "1", naming: "nested")
        assertRefused("SELECT VALUE c" + String(repeating: ".a", count: 2_000) + " FROM c", naming: "operators")
        assertRefused("SELECT VALUE 1" + String(repeating: " + 1", count: 2_000) + " FROM c", naming: "operators")
        assertRefused("SELECT * FROM c WHERE " + Array(repeating: "c.n = 1", count: 600).joined(separator: " AND "), naming: "operators")
    }

    func testQueryPlanRewritesOrderByAndAggregates() throws {
        let plan = try CosmosQueryPlan.plan(for: try CosmosSQL.parse("SELECT c.id, c.n FROM c WHERE c.n > 1 ORDER BY c.n DESC"), parameters: [:])
        let rewritten = try XCTUnwrap(plan["queryInfo"]?["rewrittenQuery"]?.stringValue)
        // What the per-range query returns: the merge key and the payload the SDK hands the caller.
        let runner = CosmosQueryRunner(query: try CosmosSQL.parse(rewritten), parameters: [:])
        let rows = try runner.rows(documents.enumerated().map { ($0.element, UInt64($0.offset + 1)) }).compactMap(\.value)
        XCTAssertEqual(rows.first?["orderByItems"], .array([.object([("item", .number(3))])]))
        XCTAssertEqual(rows.first?["payload"], .object([("id", .string("a")), ("n", .number(3))]))
        XCTAssertEqual(rows.map { $0["_rid"] == nil }, [true, true], "documents here have no _rid; stored ones do")
        let count = try CosmosQueryPlan.plan(for: try CosmosSQL.parse("SELECT VALUE COUNT(1) FROM c"), parameters: [:])
        XCTAssertEqual(count["queryInfo"]?["aggregates"], .array([.string("Count")]))
        XCTAssertEqual(count["queryInfo"]?["hasSelectValue"], .bool(true))
        let simple = try CosmosQueryPlan.plan(for: try CosmosSQL.parse("SELECT * FROM c WHERE c.n = 1"), parameters: [:])
        XCTAssertEqual(simple["queryInfo"]?["rewrittenQuery"], .string(""))
        XCTAssertEqual(simple["queryRanges"], .array([.object([("min", .string("")), ("max", .string("FF")),
                                                              ("isMinInclusive", .bool(true)), ("isMaxInclusive", .bool(false))])]))
    }

    func testJSONModelKeepsOrderAndRefusesHostileInput() throws {
        let text = #"{"z":1,"a":[true,false,null,"\u00e9\n",-0.5,1e3],"m":{}}"#
        let value = try CosmosValue.parse(text)
        XCTAssertEqual(value.json, #"{"z":1,"a":[true,false,null,"é\n",-0.5,1000],"m":{}}"#)
        XCTAssertEqual(try CosmosValue.parse(value.json), value)
        for bad in ["", "{", "[1,]", "01x", "01", "[-012]", "\"\\q\"", "{\"a\" 1}", "nul", "1e999", String(repeating: "[", count: 200)] {
            XCTAssertThrowsError(try CosmosValue.parse(bad), bad)
        }
        XCTAssertEqual(try CosmosValue.parse("[0, -0, 0.5, 10]"), .array([.number(0), .number(0), .number(0.5), .number(10)]))
        // Strings without escapes are decoded in place; with them, escapes and raw UTF-8 mix in any order.
        XCTAssertEqual(try CosmosValue.parse(#""plain é""#), .string("plain é"))
        XCTAssertEqual(try CosmosValue.parse(#""a\"b\\c\/é\ud83d\ude00\t\u0041ü\b\f\r""#), .string("a\"b\\c/é😀\tAü\u{08}\u{0C}\r"))
        XCTAssertEqual(try CosmosValue.parse(#""\ud800x""#), .string("\u{FFFD}x"), "a lone surrogate")
        for bad in [#""a\"#, "\"a\\\"", #""\ud800\u0041""#, "\"a\u{01}\"", "\"\\n\u{01}\""] {
            XCTAssertThrowsError(try CosmosValue.parse(bad), bad)
        }
    }

    func testRepeatedNamesInLargeObjectsKeepTheirFirstPlaceAndTheLastValue() throws {
        // Past `scannedMembers` names are found through an index: the same answers as the scan, in linear time
        // (20,000 names scanned one by one would be 200 million comparisons).
        let count = 20_000
        var text = "{"
        for index in 0..<count { text += "\"k\(index)\":\(index)," }
        text += #""k3":"three","k19999":"last","k20":"twenty"}"#
        guard case .object(let members) = try CosmosValue.parse(text) else { return XCTFail("not an object") }
        XCTAssertEqual(members.count, count)
        XCTAssertEqual(members.map(\.0), (0..<count).map { "k\($0)" }, "order of first appearance")
        XCTAssertEqual(members[3].1, .string("three"))
        XCTAssertEqual(members[20].1, .string("twenty"))
        XCTAssertEqual(members[count - 1].1, .string("last"))
        XCTAssertEqual(members[4].1, .number(4))
        let small = try CosmosValue.parse(#"{"a":1,"b":2,"a":3}"#)
        XCTAssertEqual(small.objectMembers?.map(\.0), ["a", "b"])
        XCTAssertEqual(small["a"], .number(3))
    }

    func testEffectivePartitionKeysMatchTheSDK() {
        // Computed with azure-cosmos 4.17.1's PartitionKey._get_effective_partition_key_for_hash_partitioning_v2.
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(.string("tenant-a")), "2C0608C4407F111A0142A25D80013D66")
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(.string("tenant-b")), "1C84DE8EAFFBACCC13CDBAD2F8D704DC")
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(.string("")), "32E9366E637A71B4E710384B2F4970A0")
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(.string(String(repeating: "a", count: 40))), "3949E8F6CC53A2167265BDCE39F2CA09")
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(.number(5)), "19C08621B135968252FB34B4CF66F811")
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(.number(1.5)), "35C5DDEB6C795D16A9963C73C54E97BC")
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(.bool(true)), "0E711127C5B5A8E4726AC6DD306A3E59")
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(.bool(false)), "2FE1BE91E90A3439635E0E9E37361EF2")
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(.null), "378867E4430E67857ACE5C908374FE16")
        XCTAssertEqual(CosmosEffectivePartitionKey.hash(nil), "11622DAA78F835834610ABE56EFF5CB5")
        XCTAssertEqual(CosmosEffectivePartitionKey.midpoint(min: "", max: "FF"), "20000000000000000000000000000000")
        XCTAssertEqual(CosmosEffectivePartitionKey.midpoint(min: "", max: "20000000000000000000000000000000"),
                       "10000000000000000000000000000000")
    }
}
