@testable import AzureCosmos
import Foundation
import ToolboxCore
import XCTest

/// `CosmosJSON(parsing:)`: one pass over the bytes, whatever their shape, accepting what `JSONDecoder` accepts.
final class CosmosJSONParserTests: XCTestCase {
    static func depth(_ value: CosmosJSON) -> Int {
        var depth = 0
        var current = value
        while case .array(let elements) = current {
            depth += 1
            guard let first = elements.first else { break }
            current = first
        }
        return depth
    }

    /// 64 fields, each an array nested 500 deep (64 KB): `JSONDecoder` through `init(from:)` tried five types per
    /// level, each failed try building an error with the whole coding path — 47 s for this body, ignoring every
    /// time-out. Both paths now read it in one pass (milliseconds; not asserted, measured in the commit).
    func testFieldsOfDeeplyNestedArraysDecodeInOnePass() throws {
        let field = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        let body = "{" + (0..<64).map { "\"f\($0)\": \(field)" }.joined(separator: ", ") + "}"
        let started = Date()
        let parsed = try CosmosJSON(parsing: Array(body.utf8))
        let parsing = Date().timeIntervalSince(started)
        guard case .object(let members) = parsed else { return XCTFail("not an object: \(parsed)") }
        XCTAssertEqual(members.count, 64)
        XCTAssertEqual(members.values.map(Self.depth), Array(repeating: 500, count: 64))

        let decodeStarted = Date()
        let decoded = try JSONDecoder().decode(CosmosJSON.self, from: Data(body.utf8))
        let decoding = Date().timeIntervalSince(decodeStarted)
        XCTAssertEqual(decoded, parsed)
        print("64 fields x 500-deep arrays: parsed in \(parsing) s, JSONDecoder + init(from:) in \(decoding) s")
    }

    func testParsesWhatJSONDecoderParsesToTheSameValues() throws {
        let documents = [
            #"{"id": "1", "n": 7, "x": 2.5, "big": 9223372036854775807, "bigger": 9223372036854775808}"#,
            #"[1.0, 1e2, -0, -0.0, 1e-400, 1.5e3, 0.1, -12, true, false, null, "", {}, []]"#,
            #"  "a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00é"  "#,
            #"{"nested": {"a": [1, {"b": [null, "c"]}]}, "dup": 1, "dup": 2}"#,
            "\"\\u0000\"", "-1", "0", "  7\n",
        ]
        for text in documents {
            let expected = try JSONDecoder().decode(CosmosJSON.self, from: Data(text.utf8))
            XCTAssertEqual(try CosmosJSON(parsing: Array(text.utf8)), expected, text)
        }
        XCTAssertEqual(try CosmosJSON(parsing: "1.0"), .integer(1))
        XCTAssertEqual(try CosmosJSON(parsing: "1e2"), .integer(100))
        XCTAssertEqual(try CosmosJSON(parsing: "1.5"), .double(1.5))
        XCTAssertEqual(try CosmosJSON(parsing: "9223372036854775808"), .double(9223372036854775808))
        XCTAssertEqual(try CosmosJSON(parsing: #""\ud83d\ude00""#), .string("😀"))
        // A U+FEFF opening a string is data, not a byte-order mark (String(bytes:encoding:) dropped it); a BOM
        // before the document is skipped, as JSONDecoder skips it.
        for text in [#"{"id": "\ufeffabc", "\ufeffk": 1, "k": 2}"#, "{\"id\": \"\u{FEFF}abc\"}", "\u{FEFF}[1]"] {
            let expected = try JSONDecoder().decode(CosmosJSON.self, from: Data(text.utf8))
            XCTAssertEqual(try CosmosJSON(parsing: Array(text.utf8)), expected, text)
        }
        XCTAssertEqual(try CosmosJSON(parsing: #""\ufeffabc""#), .string("\u{FEFF}abc"))
        // An integer that does not fit Int64 is a double, never a different integer.
        XCTAssertEqual(try CosmosJSON(parsing: "-9223372036854775809"), .double(-0x1p63))
        XCTAssertEqual(try CosmosJSON(parsing: "-9223372036854775808"), .integer(.min))
    }

    func testRefusesWhatIsNotOneJSONValue() {
        let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        let refused: [(text: [UInt8], reason: String)] = [
            (Array(deep.utf8), "nested deeper than 512"),
            (Array(#"{"id":"1"} trailing"#.utf8), "unexpected text after the JSON value at byte 11"),
            (Array("[1] [2]".utf8), "unexpected text after"),
            (Array("".utf8), "unexpected end"),
            (Array("   ".utf8), "unexpected end"),
            (Array("1E400".utf8), "out of range"),
            (Array("01".utf8), "leading zero"),
            (Array("1.".utf8), "after '.'"),
            (Array("-".utf8), "without digits"),
            (Array(#""\ud800""#.utf8), "surrogate"),
            (Array(#""\udc00x""#.utf8), "surrogate"),
            (Array(#""a"#.utf8), "never ends"),
            (Array("\"a\u{1}\"".utf8), "control character"),
            ([0x22, 0xFF, 0x22], "not UTF-8"),
            (Array(#"{"a" 1}"#.utf8), "expected ':'"),
            (Array(#"{"a": 1,}"#.utf8), "member name"),
            (Array("[1,]".utf8), "unexpected character ']'"),
            (Array("[1 2]".utf8), "expected ',' or ']'"),
            (Array("tru".utf8), "unexpected character 't'"),
            (Array("NaN".utf8), "unexpected character 'N'"),
            (Array(#""\x""#.utf8), "invalid escape"),
        ]
        for (text, reason) in refused {
            XCTAssertThrowsError(try CosmosJSON(parsing: text, what: "the answer")) { error in
                let error = error as? ToolboxError
                XCTAssertEqual(error?.code, .invalidJSON)
                XCTAssertTrue(error?.message.hasPrefix("the answer is not valid JSON: ") == true, "\(String(describing: error))")
                XCTAssertTrue(error?.message.contains(reason) == true, "\(String(decoding: text, as: UTF8.self)): \(String(describing: error))")
            }
        }
    }
}
