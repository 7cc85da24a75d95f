import Foundation
import ToolboxCore

/// Parses JSON text into a `CosmosJSON` in one pass, in time linear in its length: what `CosmosJSON(parsing:)`
/// uses for every answer the service sends.
///
/// `JSONDecoder` through `CosmosJSON.init(from:)` must guess each value's type by trying one after another, and each
/// failed try builds an error carrying the whole coding path: a body of arrays nested 500 deep cost seconds per
/// field. This parser looks at the first byte instead. It accepts what `JSONDecoder` accepts (RFC 8259: one
/// value, whitespace around it, nesting up to 512 deep) and gives numbers the same integer-ness: a number that is
/// integral and fits in `Int64` (`7`, `1.0`, `1e2`) is `.integer`, others `.double`; one out of `Double`'s range
/// is refused.
struct CosmosJSONParser {
    /// Deeper nesting is refused, as `JSONDecoder` refuses it.
    static let maxDepth = 512

    /// Why the text is not JSON, and where.
    struct Failure: Error, CustomStringConvertible {
        var reason: String
        var offset: Int
        var description: String { "\(reason) at byte \(offset)" }
    }

    private let bytes: [UInt8]
    private var index = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    static func parse(_ bytes: [UInt8]) throws(Failure) -> CosmosJSON {
        var parser = CosmosJSONParser(bytes)
        // A UTF-8 byte-order mark before the document is skipped, as JSONDecoder skips it.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.failure("unexpected text after the JSON value") }
        return value
    }

    private func failure(_ reason: String) -> Failure { Failure(reason: reason, offset: index) }

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    private mutating func value(depth: Int) throws(Failure) -> CosmosJSON {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of the text") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw failure("unexpected character '\(Self.shown(bytes[index]))'")
        }
    }

    private static func shown(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : String(format: "\\x%02X", byte)
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count,
            word.withUTF8Buffer({ $0.elementsEqual(bytes[index..<index + count]) })
        else { throw failure("unexpected character '\(Self.shown(bytes[index]))'") }
        index += count
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(Failure) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else {
            throw failure(index < bytes.count ? "expected \(what), found '\(Self.shown(bytes[index]))'" : "expected \(what), found the end")
        }
        index += 1
    }

    private mutating func object(depth: Int) throws(Failure) -> CosmosJSON {
        guard depth <= Self.maxDepth else { throw failure("arrays and objects nested deeper than \(Self.maxDepth)") }
        index += 1  // {
        var members: [String: CosmosJSON] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw failure("expected a member name in quotes")
            }
            let key = try string()
            try expect(UInt8(ascii: ":"), "':'")
            let member = try value(depth: depth)
            // A repeated name: the first one counts, as with JSONDecoder.
            if members[key] == nil { members[key] = member }
            if try closes(UInt8(ascii: "}"), in: "an object") { return .object(members) }
        }
    }

    /// After a member or an element: consumes a ',' (false: another follows) or `close` (true: the container
    /// ends); anything else is an error naming `container`.
    private mutating func closes(_ close: UInt8, in container: String) throws(Failure) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of the text in \(container)") }
        let byte = bytes[index]
        guard byte == UInt8(ascii: ",") || byte == close else {
            throw failure("expected ',' or '\(Self.shown(close))', found '\(Self.shown(byte))'")
        }
        index += 1
        return byte == close
    }

    private mutating func array(depth: Int) throws(Failure) -> CosmosJSON {
        guard depth <= Self.maxDepth else { throw failure("arrays and objects nested deeper than \(Self.maxDepth)") }
        index += 1  // [
        var elements: [CosmosJSON] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            elements.append(try value(depth: depth))
            if try closes(UInt8(ascii: "]"), in: "an array") { return .array(elements) }
        }
    }

    /// A string at `index` (its opening quote); escapes decoded, UTF-8 checked.
    private mutating func string() throws(Failure) -> String {
        let start = index
        index += 1  // "
        var utf8: [UInt8] = []
        while true {
            // Unescaped runs are copied whole.
            let run = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\"), bytes[index] >= 0x20 {
                index += 1
            }
            utf8.append(contentsOf: bytes[run..<index])
            guard index < bytes.count else {
                index = start
                throw failure("a string that never ends")
            }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                // Not `String(bytes:encoding:)`: it drops a leading U+FEFF as a byte-order mark, which changed ids
                // ("\ufeffabc" read back as "abc") and merged member names.
                guard let text = String(validating: utf8, as: UTF8.self) else {
                    index = start
                    throw failure("a string that is not UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw failure("a string that never ends") }
                let escape = bytes[index]
                index += 1
                if let byte = JSONEscape.simple(escape) {
                    utf8.append(byte)
                    continue
                }
                switch escape {
                case UInt8(ascii: "u"): utf8.append(contentsOf: try unicodeEscape())
                default:
                    index -= 2
                    throw failure("an invalid escape '\\\(Self.shown(escape))'")
                }
            default:
                throw failure("a control character in a string")
            }
        }
    }

    /// The scalar of `\uXXXX` (after the `u`), a surrogate pair taking the `\uXXXX` after it; as UTF-8.
    private mutating func unicodeEscape() throws(Failure) -> [UInt8] {
        let high = try hex4()
        var scalar: Unicode.Scalar?
        if (0xD800..<0xDC00).contains(high) {
            guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw failure("a lone UTF-16 surrogate in a \\u escape")
            }
            index += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw failure("a lone UTF-16 surrogate in a \\u escape") }
            scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        } else {
            scalar = Unicode.Scalar(high)
        }
        guard let scalar else { throw failure("a lone UTF-16 surrogate in a \\u escape") }
        return Array(String(Character(scalar)).utf8)
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard bytes.count - index >= 4 else { throw failure("a \\u escape without four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("a \\u escape without four hex digits")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// RFC 8259's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func number() throws(Failure) -> CosmosJSON {
        let start = index
        func digits(_ parser: inout CosmosJSONParser) -> Int {
            let from = parser.index
            while parser.index < parser.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(parser.bytes[parser.index]) {
                parser.index += 1
            }
            return parser.index - from
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits(&self)
        guard integerDigits > 0 else { throw failure("a number without digits") }
        guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else {
            index = integerStart
            throw failure("a number with a leading zero")
        }
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            isInteger = false
            guard digits(&self) > 0 else { throw failure("a number without digits after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            isInteger = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw failure("a number without digits in its exponent") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .integer(integer) }
        guard let double = Double(text), double.isFinite else {
            index = start
            throw failure("a number out of range")
        }
        // An integer written out that does not fit Int64 is a double: rounded to one, -9223372036854775809 would
        // come back as the different integer Int64.min.
        if isInteger { return .double(double) }
        guard double.isFinite else {
            index = start
            throw failure("a number out of range")
        }
        // As JSONDecoder decodes Int64: an integral value that fits (1.0, 1e2, -0.0) is an integer.
        if double.rounded(.towardZero) == double, let integer = Int64(exactly: double) { return .integer(integer) }
        return .double(double)
    }
}
