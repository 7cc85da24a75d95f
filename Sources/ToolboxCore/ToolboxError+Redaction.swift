extension ToolboxError {
    /// The error with every occurrence of `secrets` in text a peer supplied — the message, the service's code,
    /// message, request id and activity id — replaced by `[REDACTED]`. A service (or something posing as one)
    /// may echo the key, SAS token or client secret it was sent into its error body or headers, and that text
    /// reaches logs and stderr. Values shorter than 8 characters are not looked for: they would blank ordinary
    /// words and no credential is that short.
    package func redacting(_ secrets: [String]) -> ToolboxError {
        let needles = secrets.filter { $0.utf8.count >= 8 }
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
