import Foundation
import ToolboxCore

/// A JSON value as Cosmos DB stores it: numbers are IEEE doubles, objects keep their member order (documents come
/// back as they were written), and the parser is bounded (depth, size) because every byte comes from a socket.
enum CosmosValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([CosmosValue])
    case object([(String, CosmosValue)])

    static func == (lhs: CosmosValue, rhs: CosmosValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a.isOrdinallyEqual(to: b)
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            // Cosmos compares objects by members, not by member order.
            guard a.count == b.count else { return false }
            // Indexed past a few members: a scan per member is quadratic, and both objects may come from a request
            // (a million members each: ~10¹¹ comparisons). Either way the first of a repeated name counts.
            let index = a.count > 16 ? Dictionary(b.map { (Array($0.0.utf8), $0.1) }, uniquingKeysWith: { first, _ in first }) : nil
            for (key, value) in a {
                let other = index != nil ? index?[Array(key.utf8)] : b.first { $0.0.isOrdinallyEqual(to: key) }?.1
                guard other == value else { return false }
            }
            return true
        default: return false
        }
    }

    /// The member `key` of an object; nil (undefined) for anything else or a missing member.
    subscript(key: String) -> CosmosValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0.isOrdinallyEqual(to: key) }?.1
    }

    var objectMembers: [(String, CosmosValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var numberValue: Double? {
        if case .number(let number) = self { return number }
        return nil
    }

    /// How deeply arrays and objects nest (a scalar is 0); stops counting past `limit`.
    func nestingDepth(limit: Int = 256) -> Int {
        guard limit > 0 else { return 1 }
        switch self {
        case .array(let items): return 1 + (items.map { $0.nestingDepth(limit: limit - 1) }.max() ?? 0)
        case .object(let members): return 1 + (members.map { $0.1.nestingDepth(limit: limit - 1) }.max() ?? 0)
        default: return 0
        }
    }

    /// Sets (adds or replaces, keeping the position of an existing member) `key` of an object.
    mutating func setMember(_ key: String, _ value: CosmosValue) {
        guard case .object(var members) = self else { return }
        if let index = members.firstIndex(where: { $0.0.isOrdinallyEqual(to: key) }) {
            members[index].1 = value
        } else {
            members.append((key, value))
        }
        self = .object(members)
    }

    /// Removes `key` from an object; returns whether it was there.
    @discardableResult
    mutating func removeMember(_ key: String) -> Bool {
        guard case .object(var members) = self, let index = members.firstIndex(where: { $0.0.isOrdinallyEqual(to: key) })
        else { return false }
        members.remove(at: index)
        self = .object(members)
        return true
    }

    // MARK: Writing

    /// Compact JSON text.
    var json: String {
        var out = ""
        write(to: &out)
        return out
    }

    var jsonBytes: [UInt8] { Array(json.utf8) }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let value): out += Self.format(value)
        case .string(let text): Self.writeString(text, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    /// Integral values print without a fraction (`14`, not `14.0`), as the service does; non-finite values
    /// cannot come from parsed input and are written as `null` rather than as invalid JSON.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15, let integer = Int64(exactly: value) {
            return String(integer)
        }
        return "\(value)"
    }

    /// The UTF-8 length of `json`, counted without writing it and given up past `cap` (the result is then some
    /// value above `cap`): a projection can repeat one large document many times over (`SELECT VALUE [c, c, …]`),
    /// and its text must be measured before anything that size is built.
    func jsonLength(upTo cap: Int) -> Int {
        var total = 0
        addJSONLength(to: &total, cap: cap)
        return total
    }

    private func addJSONLength(to total: inout Int, cap: Int) {
        guard total <= cap else { return }
        switch self {
        case .null: total += 4
        case .bool(let value): total += value ? 4 : 5
        case .number(let value): total += Self.format(value).utf8.count
        case .string(let text): total += Self.jsonStringLength(text)
        case .array(let items):
            total += 1 + max(0, items.count - 1) + 1
            for item in items where total <= cap { item.addJSONLength(to: &total, cap: cap) }
        case .object(let members):
            total += 1 + max(0, members.count - 1) + 1
            for (key, value) in members where total <= cap {
                total += Self.jsonStringLength(key) + 1
                value.addJSONLength(to: &total, cap: cap)
            }
        }
    }

    /// What `writeString` writes for `text`, in UTF-8 bytes.
    static func jsonStringLength(_ text: String) -> Int {
        var length = 2
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\", "\n", "\r", "\t": length += 2
            case let control where control.value < 0x20: length += 6
            default: length += UTF8.width(scalar)
            }
        }
        return length
    }

    static func writeString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    // MARK: Reading

    struct ParseError: Error, Sendable, Equatable {
        let message: String
    }

    /// Parses one JSON value (surrounding whitespace allowed); nesting deeper than `maxDepth` is refused.
    static func parse(_ bytes: [UInt8], maxDepth: Int = 128) throws(ParseError) -> CosmosValue {
        var parser = Parser(bytes: bytes, maxDepth: maxDepth)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected content after the JSON value") }
        return value
    }

    static func parse(_ text: String) throws(ParseError) -> CosmosValue { try parse(Array(text.utf8)) }

    /// The recursive-descent reader behind `parse`, also used on its own to check JSON without building values
    /// (`skipValue`) and to read single strings (Event Grid's publish validation).
    struct Parser {
        let bytes: [UInt8]
        let maxDepth: Int
        var index = 0

        /// Objects up to this many members find a repeated name by scanning; larger ones keep an index.
        static let scannedMembers = 16

        init(bytes: [UInt8], maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        func error(_ message: String) -> ParseError { ParseError(message: "\(message) at offset \(index)") }

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func value(depth: Int) throws(ParseError) -> CosmosValue {
            guard depth < maxDepth else { throw error("JSON nested deeper than \(maxDepth) levels") }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of JSON") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return .number(try number())
            }
        }

        /// After an element of an object or array: true at `,` (another element follows), false at `closer` (the
        /// container ends); either is consumed.
        mutating func moreElements(closer: UInt8) throws(ParseError) -> Bool {
            let what = closer == UInt8(ascii: "}") ? "object" : "array"
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of JSON \(what)") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; return true }
            if bytes[index] == closer { index += 1; return false }
            throw error("expected ',' or '\(Character(Unicode.Scalar(closer)))'")
        }

        /// Checks one JSON value and moves past it without building it: the same grammar and limits as `value`,
        /// except that numbers are only checked for their syntax (not for fitting a Double).
        mutating func skipValue(depth: Int) throws(ParseError) {
            guard depth < maxDepth else { throw error("JSON nested deeper than \(maxDepth) levels") }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of JSON") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return }
                while true {
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                    try skipString()
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    index += 1
                    try skipValue(depth: depth + 1)
                    if try !moreElements(closer: UInt8(ascii: "}")) { return }
                }
            case UInt8(ascii: "["):
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return }
                while true {
                    try skipValue(depth: depth + 1)
                    if try !moreElements(closer: UInt8(ascii: "]")) { return }
                }
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: try numberSyntax()
            }
        }

        /// Moves past one string, checking its escapes and that it has no raw control characters.
        mutating func skipString() throws(ParseError) {
            index += 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { index += 1; return }
                if byte < 0x20 { throw error("control character in a JSON string") }
                if byte == UInt8(ascii: "\\") {
                    index += 1
                    guard index < bytes.count else { break }
                    switch bytes[index] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 1
                    case UInt8(ascii: "u"):
                        index += 1
                        _ = try hex4()
                    default: throw error("invalid escape in a JSON string")
                    }
                    continue
                }
                index += 1
            }
            throw error("unterminated JSON string")
        }

        mutating func literal(_ word: String) throws(ParseError) {
            let expected = Array(word.utf8)
            guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else {
                throw error("invalid JSON literal")
            }
            index += expected.count
        }

        mutating func object(depth: Int) throws(ParseError) -> CosmosValue {
            index += 1
            var members: [(String, CosmosValue)] = []
            // Where each name is, once an object is large: finding a repeated name by scanning the members would
            // make a body of many distinct names quadratic (a hostile 2 MB document of 100,000 names: ~5 × 10⁹ comparisons).
            var positions: [[UInt8]: Int] = [:]  // by bytes: names compare ordinally
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try string()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                let member = try value(depth: depth + 1)
                let existing: Int?
                if members.count < Self.scannedMembers {
                    existing = members.firstIndex { $0.0.isOrdinallyEqual(to: key) }
                } else {
                    if positions.isEmpty {
                        for (position, (name, _)) in members.enumerated() { positions[Array(name.utf8)] = position }
                    }
                    existing = positions[Array(key.utf8)]
                    if existing == nil { positions[Array(key.utf8)] = members.count }
                }
                if let existing {
                    members[existing].1 = member  // The last of repeated names wins, as in JavaScript.
                } else {
                    members.append((key, member))
                }
                if try !moreElements(closer: UInt8(ascii: "}")) { return .object(members) }
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> CosmosValue {
            index += 1
            var items: [CosmosValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                if try !moreElements(closer: UInt8(ascii: "]")) { return .array(items) }
            }
        }

        mutating func number() throws(ParseError) -> Double {
            let start = index
            try numberSyntax()
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard let value = Double(text), value.isFinite else { throw error("JSON number out of range") }
            return value
        }

        /// Moves past one number written as JSON's grammar allows (`-`, digits, fraction, exponent).
        mutating func numberSyntax() throws(ParseError) {
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            let first = index
            var digits = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1; digits += 1 }
            guard digits > 0 else { throw error("invalid JSON value") }
            guard digits == 1 || bytes[first] != UInt8(ascii: "0") else { throw error("a JSON number has a leading zero") }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                var fraction = 0
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1; fraction += 1 }
                guard fraction > 0 else { throw error("invalid JSON number") }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                var exponent = 0
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1; exponent += 1 }
                guard exponent > 0 else { throw error("invalid JSON number") }
            }
        }

        mutating func string() throws(ParseError) -> String {
            index += 1
            let start = index
            // Most strings have no escapes: decoded straight from the body's bytes.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = String(decoding: bytes[start..<index], as: UTF8.self)
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("control character in a JSON string") }
                index += 1
            }
            var utf8 = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return String(decoding: utf8, as: UTF8.self)
                }
                if byte < 0x20 { throw error("control character in a JSON string") }
                guard byte == UInt8(ascii: "\\") else {
                    utf8.append(byte)
                    index += 1
                    continue
                }
                index += 1
                guard index < bytes.count else { break }
                let escaped = bytes[index]
                index += 1
                if let byte = JSONEscape.simple(escaped) {
                    utf8.append(byte)
                    continue
                }
                switch escaped {
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), index + 1 < bytes.count,
                       bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    UTF8.encode(Unicode.Scalar(code) ?? "\u{FFFD}") { utf8.append($0) }
                default: throw error("invalid escape in a JSON string")
                }
            }
            throw error("unterminated JSON string")
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var code: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("invalid \\u escape")
                }
                code = code * 16 + digit
                index += 1
            }
            return code
        }
    }
}

extension String {
    /// Byte-for-byte equality of the UTF-8 forms. Cosmos DB compares strings (ids, member names, values)
    /// ordinally, where Swift's `==` and hashing treat canonically equivalent ones ("é" and "e\u{301}") as one.
    func isOrdinallyEqual(to other: String) -> Bool {
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8)
    }
}
