extension ToolboxError {
    /// The error with every occurrence of `secrets` in text a peer supplied — the message, the service's code,
    /// message, request id and activity id — replaced by `[REDACTED]`. A service (or something posing as one)
    /// may echo the key, SAS token or client secret it was sent into its error body or headers, and that text
    /// reaches logs and stderr. Values shorter than 8 characters are not looked for: they would blank ordinary
    /// words and no credential is that short.
    package func redacting(_ secrets: [String]) -> ToolboxError {
        let needles = Redaction.needles(secrets)
        guard !needles.isEmpty else { return self }
        func scrub(_ text: String?) -> String? {
            guard var text else { return nil }
            for needle in needles where text.contains(needle) {
                text = text.replacingOccurrences(of: needle, with: "[REDACTED]")
            }
            return text
        }
        var copy = self
        copy.message = scrub(message) ?? message
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

extension String {
    /// `replacingOccurrences(of:with:)` without Foundation: literal, left to right, non-overlapping.
    fileprivate func replacingOccurrences(of needle: String, with replacement: String) -> String {
        guard !needle.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.range(of: needle) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }

    fileprivate func contains(_ needle: String) -> Bool { range(of: needle) != nil }

    /// The first range of `needle`, compared byte for byte (UTF-8), as a secret is.
    fileprivate func range(of needle: String) -> Range<String.Index>? {
        self[...].range(of: needle)
    }
}

extension Substring {
    fileprivate func range(of needle: String) -> Range<String.Index>? {
        let haystack = Array(utf8)
        let pattern = Array(needle.utf8)
        guard !pattern.isEmpty, pattern.count <= haystack.count else { return nil }
        var start = 0
        while start + pattern.count <= haystack.count {
            if haystack[start] == pattern[0], Array(haystack[start..<start + pattern.count]) == pattern {
                let lower = utf8.index(utf8.startIndex, offsetBy: start)
                let upper = utf8.index(lower, offsetBy: pattern.count)
                return lower..<upper
            }
            start += 1
        }
        return nil
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
