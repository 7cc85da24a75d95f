/// The percent-encodings Azure's SDKs use, reproduced byte for byte because signatures cover them.
package enum PercentEncoding {
    /// 256 flags: whether a byte is unreserved (kept as it is by every quote). A table, not a `Set`: quote runs
    /// several times per signed request.
    private static let unreserved: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8 { table[Int(byte)] = true }
        return table
    }()
    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// Python's `urllib.parse.quote(value, safe=safe)`: unreserved characters and `safe` stay, the rest is `%XX`.
    package static func quote(_ value: String, safe: String = "/") -> String {
        // Most values (ids, names, tokens) need no escape: hand them back without building a copy.
        if value.utf8.allSatisfy({ unreserved[Int($0)] || safe.utf8.contains($0) }) { return value }
        var out = [UInt8]()
        out.reserveCapacity(value.utf8.count + 16)
        appendQuoted(value, safe: safe, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `quote(value, safe: safe)` as UTF-8 to `out` (for callers building a longer text, such as a path).
    package static func appendQuoted(_ value: String, safe: String, to out: inout [UInt8]) {
        for byte in value.utf8 {
            if unreserved[Int(byte)] || safe.utf8.contains(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0f)])
            }
        }
    }

    /// Python's `urllib.parse.quote_plus(value)`: like `quote(value, safe: "")` but a space becomes `+`.
    static func quotePlus(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: false)
            .map { quote(String($0), safe: "") }
            .joined(separator: "+")
    }

    /// `application/x-www-form-urlencoded` body from ordered pairs, as Python's `urlencode` writes it.
    static func formEncode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(quotePlus($0.0))=\(quotePlus($0.1))" }.joined(separator: "&")
    }

    /// Python's `urllib.parse.unquote`: `%XX` decoded, invalid escapes left as they are; `+` stays `+`.
    package static func unquote(_ value: String, plusAsSpace: Bool = false) -> String {
        if !value.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusAsSpace && $0 == UInt8(ascii: "+")) }) {
            return value
        }
        let bytes = Array(value.utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)  // never longer than the input
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(plusAsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
