/// Tokens of the Cosmos SQL subset the emulator serves.
enum CosmosSQLToken: Equatable {
    case identifier(String)
    case keyword(String)       // upper-cased
    case number(Double)
    case string(String)
    case parameter(String)     // with the leading @
    case symbol(String)
    case end
}

/// Splits query text into tokens; positions are kept for error messages.
struct CosmosSQLLexer {
    static let keywords: Set<String> = [
        "SELECT", "VALUE", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "BETWEEN", "ORDER", "BY", "ASC", "DESC", "TOP",
        "OFFSET", "LIMIT", "AS", "TRUE", "FALSE", "NULL", "UNDEFINED", "DISTINCT", "JOIN", "GROUP", "HAVING", "EXISTS",
        "LIKE", "ESCAPE", "ARRAY", "UDF", "ROOT",
    ]

    /// A query longer than this is refused (the service's `maxSqlQueryInputLength`).
    static let maxQueryLength = 262_144

    /// The value of four hex digits at `index` (no sign, no fewer digits), or nil.
    static func hex4(_ scalars: [Unicode.Scalar], at index: Int) -> UInt32? {
        guard index >= 0, index + 4 <= scalars.count else { return nil }
        var code: UInt32 = 0
        for scalar in scalars[index..<index + 4] {
            guard scalar.isASCII, let digit = Character(scalar).hexDigitValue else { return nil }
            code = code << 4 | UInt32(digit)
        }
        return code
    }

    static func tokenize(_ text: String) throws(CosmosFailure) -> [(token: CosmosSQLToken, offset: Int, text: String)] {
        guard text.utf8.count <= maxQueryLength else {
            throw CosmosSQL.error("The query text is longer than \(maxQueryLength) bytes.", code: "SC1001", at: 0)
        }
        let scalars = Array(text.unicodeScalars)
        var tokens: [(CosmosSQLToken, Int, String)] = []
        var index = 0
        func isIdentifierStart(_ s: Unicode.Scalar) -> Bool { s == "_" || s.properties.isAlphabetic }
        func isIdentifierPart(_ s: Unicode.Scalar) -> Bool { isIdentifierStart(s) || ("0"..."9").contains(s) }
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar.properties.isWhitespace { index += 1; continue }
            if scalar == "-", index + 1 < scalars.count, scalars[index + 1] == "-" {
                while index < scalars.count, scalars[index] != "\n" { index += 1 }
                continue
            }
            let start = index
            if isIdentifierStart(scalar) {
                while index < scalars.count, isIdentifierPart(scalars[index]) { index += 1 }
                let word = String(String.UnicodeScalarView(scalars[start..<index]))
                let upper = word.uppercased()
                tokens.append((keywords.contains(upper) ? .keyword(upper) : .identifier(word), start, word))
                continue
            }
            if scalar == "@" {
                index += 1
                while index < scalars.count, isIdentifierPart(scalars[index]) { index += 1 }
                guard index > start + 1 else { throw CosmosSQL.error("Syntax error, '@' must start a parameter name.", code: "SC1001", at: start) }
                tokens.append((.parameter(String(String.UnicodeScalarView(scalars[start..<index]))), start, ""))
                continue
            }
            if ("0"..."9").contains(scalar) || (scalar == "." && index + 1 < scalars.count && ("0"..."9").contains(scalars[index + 1])) {
                while index < scalars.count, ("0"..."9").contains(scalars[index]) || scalars[index] == "." { index += 1 }
                if index < scalars.count, scalars[index] == "e" || scalars[index] == "E" {
                    index += 1
                    if index < scalars.count, scalars[index] == "+" || scalars[index] == "-" { index += 1 }
                    while index < scalars.count, ("0"..."9").contains(scalars[index]) { index += 1 }
                }
                let text = String(String.UnicodeScalarView(scalars[start..<index]))
                guard let value = Double(text), value.isFinite else {
                    throw CosmosSQL.error("Syntax error, invalid number '\(text)'.", code: "SC1001", at: start)
                }
                tokens.append((.number(value), start, text))
                continue
            }
            if scalar == "'" || scalar == "\"" {
                let quote = scalar
                index += 1
                var value = String.UnicodeScalarView()
                var closed = false
                while index < scalars.count {
                    let current = scalars[index]
                    if current == quote { index += 1; closed = true; break }
                    if current == "\\", index + 1 < scalars.count {
                        let escaped = scalars[index + 1]
                        index += 2
                        switch escaped {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        case "r": value.append("\r")
                        case "b": value.append("\u{08}")
                        case "f": value.append("\u{0C}")
                        case "u":
                            // Four hex digits; a character past U+FFFF is a surrogate pair of them ("\\ud83d\\ude00"),
                            // as in JSON. A lone surrogate is no character.
                            let invalid = CosmosSQL.error("Syntax error, invalid \\u escape.", code: "SC1001", at: index)
                            guard let code = Self.hex4(scalars, at: index) else { throw invalid }
                            index += 4
                            var scalar = Unicode.Scalar(code)
                            if (0xD800..<0xDC00).contains(code), index + 6 <= scalars.count, scalars[index] == "\\",
                               scalars[index + 1] == "u", let low = Self.hex4(scalars, at: index + 2), (0xDC00..<0xE000).contains(low)
                            {
                                scalar = Unicode.Scalar(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
                                index += 6
                            }
                            guard let scalar else { throw invalid }
                            value.append(scalar)
                        default: value.append(escaped)
                        }
                        continue
                    }
                    value.append(current)
                    index += 1
                }
                guard closed else { throw CosmosSQL.error("Syntax error, unterminated string literal.", code: "SC1001", at: start) }
                tokens.append((.string(String(value)), start, ""))
                continue
            }
            let two = index + 1 < scalars.count ? String(String.UnicodeScalarView(scalars[index...index + 1])) : ""
            if ["!=", "<>", "<=", ">=", "||", "??", "<<", ">>"].contains(two) {
                tokens.append((.symbol(two == "<>" ? "!=" : two), start, two))
                index += 2
                continue
            }
            let one = String(scalar)
            if "*,.()[]{}:=<>+-/%?&|^~".contains(one) {
                tokens.append((.symbol(one), start, one))
                index += 1
                continue
            }
            throw CosmosSQL.error("Syntax error, unexpected character '\(one)'.", code: "SC1001", at: start)
        }
        tokens.append((.end, scalars.count, ""))
        return tokens
    }
}
