extension ToolboxError {
    /// The error with every occurrence of `secrets` in text a peer supplied — the message, the service's code,
    /// message, request id and activity id — replaced by `[REDACTED]`. A service (or something posing as one)
    /// may echo the key, SAS token or client secret it was sent into its error body or headers, and that text
    /// reaches logs and stderr. Values shorter than 8 characters are not looked for: they would blank ordinary
    /// words and no credential is that short.
    package func redacting(_ secrets: [String]) -> ToolboxError {
        guard !Redaction.needles(secrets).isEmpty else { return self }
        func scrub(_ text: String?) -> String? { text.map { Redaction.redact($0, secrets) } }
        var copy = self
        copy.message = Redaction.redact(message, secrets)
        if var condition = serviceCondition {
            condition.errorCode = scrub(condition.errorCode)
            condition.serviceMessage = scrub(condition.serviceMessage)
            condition.requestID = scrub(condition.requestID)
            condition.activityID = scrub(condition.activityID)
            copy.serviceCondition = condition
        }
        return copy
    }
}

/// Blanking secrets out of what a peer sent, before any of it is parsed, cut short or shown: a secret straddling
/// the point where a message is cut (300 characters) would otherwise survive in part.
package enum Redaction {
    package static let replacement = "[REDACTED]"

    /// The secrets worth looking for: distinct, 8 bytes or longer, each also as a JSON string would carry it
    /// (`\"` and `\\` escaped, and `/` as `\/`, as JSONSerialization writes it) — an echo inside a JSON body.
    static func needles(_ secrets: [String]) -> [String] {
        var seen = Set<String>()
        var needles: [String] = []
        for secret in secrets where secret.utf8.count >= 8 {
            let quoted = secret.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
            for form in [secret, quoted, quoted.replacing("/", with: "\\/")] where seen.insert(form).inserted {
                needles.append(form)
            }
        }
        return needles
    }

    /// `bytes` with every occurrence of each secret (as UTF-8) replaced by `[REDACTED]`.
    package static func redact(_ bytes: [UInt8], _ secrets: [String]) -> [UInt8] {
        var result = bytes
        for needle in needles(secrets) {
            let pattern = Array(needle.utf8)
            guard result.count >= pattern.count else { continue }
            var out: [UInt8] = []
            var start = 0
            var index = 0
            var changed = false
            while index + pattern.count <= result.count {
                if result[index] == pattern[0], result[index..<index + pattern.count].elementsEqual(pattern) {
                    out.append(contentsOf: result[start..<index])
                    out.append(contentsOf: replacement.utf8)
                    index += pattern.count
                    start = index
                    changed = true
                } else {
                    index += 1
                }
            }
            if changed {
                out.append(contentsOf: result[start...])
                result = out
            }
        }
        return result
    }

    /// `text` with every occurrence of each secret replaced by `[REDACTED]`.
    package static func redact(_ text: String, _ secrets: [String]) -> String {
        let bytes = Array(text.utf8)
        let redacted = redact(bytes, secrets)
        return redacted == bytes ? text : String(decoding: redacted, as: UTF8.self)
    }
}

extension Redaction {
    /// Peer-supplied text as an error may show it: credentials recognisable by their shape blanked out — the
    /// value of every `sig=` (a SAS token's signature) and every JWT (`eyJ…` header.payload.signature) — and cut
    /// to `limit` bytes. For text whose secrets the caller cannot name: an AMQP peer echoing the put-token it
    /// was sent, a 10 MB `status-description`.
    package static func peerText(_ text: String, limit: Int = 1_024) -> String {
        var bytes = Array(text.utf8)
        bytes = blankSignatures(bytes)
        bytes = blankJWTs(bytes)
        // Cut on bytes, not characters: one character may carry megabytes of combining marks. A scalar split by
        // the cut decodes as U+FFFD.
        guard bytes.count > limit else { return bytes == Array(text.utf8) ? text : String(decoding: bytes, as: UTF8.self) }
        return String(decoding: bytes.prefix(limit), as: UTF8.self) + "… (\(bytes.count) bytes)"
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "%"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    /// `sig=VALUE` → `sig=[REDACTED]` (any case of `sig`), VALUE running to the next byte a token does not hold.
    /// The percent-encoded form a SAS URL takes inside another URL (`%26sig%3DVALUE`, `%3Fsig%3D`) and the
    /// JSON-escaped one (`sig=ab\/cd`, a `/` escaped as `\/`) are blanked too.
    private static func blankSignatures(_ bytes: [UInt8]) -> [UInt8] {
        let percent = UInt8(ascii: "%")
        /// `%XY` at `index` (either case of the hex letters).
        func isEscape(_ index: Int, _ high: UInt8, _ low: UInt8) -> Bool {
            index >= 0 && index + 3 <= bytes.count && bytes[index] == percent && bytes[index + 1] == high
                && bytes[index + 2] | 0x20 == low | 0x20
        }
        func isSeparator(at index: Int) -> Bool {  // `&` or its escape `%26`: where a token ends
            bytes[index] == UInt8(ascii: "&") || isEscape(index, UInt8(ascii: "2"), UInt8(ascii: "6"))
        }
        /// `\u0026` (an `&` as System.Text.Json and Go's encoder write it) just before `index`.
        func followsEscapedAmpersand(_ index: Int) -> Bool {
            guard index >= 6 else { return false }
            return bytes[index - 6] == UInt8(ascii: "\\") && bytes[index - 5] | 0x20 == UInt8(ascii: "u")
                && bytes[index - 4] == UInt8(ascii: "0") && bytes[index - 3] == UInt8(ascii: "0")
                && bytes[index - 2] == UInt8(ascii: "2") && bytes[index - 1] == UInt8(ascii: "6")
        }
        func startsName(_ index: Int) -> Bool {  // nothing of a token just before `sig`
            index == 0 || !isTokenByte(bytes[index - 1]) || bytes[index - 1] == UInt8(ascii: "&")
                || isEscape(index - 3, UInt8(ascii: "2"), UInt8(ascii: "6")) || isEscape(index - 3, UInt8(ascii: "3"), UInt8(ascii: "F"))
                || followsEscapedAmpersand(index)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if index + 4 <= bytes.count, bytes[index] | 0x20 == UInt8(ascii: "s"), bytes[index + 1] | 0x20 == UInt8(ascii: "i"),
               bytes[index + 2] | 0x20 == UInt8(ascii: "g"), startsName(index)
            {
                let equals = bytes[index + 3] == UInt8(ascii: "=") ? 1
                    : isEscape(index + 3, UInt8(ascii: "3"), UInt8(ascii: "D")) ? 3 : 0
                if equals > 0 {
                    let valueStart = index + 3 + equals
                    out.append(contentsOf: bytes[index..<valueStart])
                    var end = valueStart
                    while end < bytes.count, !isSeparator(at: end) {
                        if isTokenByte(bytes[end]) {
                            end += 1
                        } else if bytes[end] == UInt8(ascii: "\\"), end + 1 < bytes.count, bytes[end + 1] == UInt8(ascii: "/") {
                            end += 2
                        } else {
                            break
                        }
                    }
                    if end > valueStart { out.append(contentsOf: replacement.utf8) }
                    index = end
                    continue
                }
            }
            out.append(bytes[index])
            index += 1
        }
        return out
    }

    /// `eyJ…` followed by two dots within one run of base64url bytes (a JWT) → `[REDACTED]`.
    private static func blankJWTs(_ bytes: [UInt8]) -> [UInt8] {
        func isBase64URL(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                return true
            default:
                return false
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if index + 3 <= bytes.count, bytes[index] == UInt8(ascii: "e"), bytes[index + 1] == UInt8(ascii: "y"),
               bytes[index + 2] == UInt8(ascii: "J"), index == 0 || !isBase64URL(bytes[index - 1])
            {
                var end = index
                var dots = 0
                while end < bytes.count, isBase64URL(bytes[end]) || (bytes[end] == UInt8(ascii: ".") && dots < 2) {
                    if bytes[end] == UInt8(ascii: ".") { dots += 1 }
                    end += 1
                }
                if dots == 2 {
                    out.append(contentsOf: replacement.utf8)
                    index = end
                    continue
                }
            }
            out.append(bytes[index])
            index += 1
        }
        return out
    }
}
