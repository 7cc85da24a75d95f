/// The `key=value;key=value` fields of a connection string, looked up case-insensitively.
///
/// Values may contain `=` (base64 keys do); only the first `=` of a segment separates key from value. Empty
/// segments (a trailing `;`) are allowed. Errors name keys and segment positions, never values.
package struct ConnectionStringFields: Sendable {
    private var values: [String: String] = [:]

    /// `shape` shows what the service's connection strings look like, for the error about an empty one.
    package init(parsing text: String, kind: String, shape: String) throws(AuthError) {
        let trimmed = text.trimmingWhitespace()
        if trimmed.isEmpty {
            throw AuthError(.malformedConnectionString, "the \(kind) connection string is empty; pass the string "
                + "copied from the Azure portal ('\(shape)')")
        }
        for (index, rawSegment) in trimmed.split(separator: ";", omittingEmptySubsequences: false).enumerated() {
            let segment = String(rawSegment).trimmingWhitespace()
            if segment.isEmpty { continue }
            guard let equals = segment.firstIndex(of: "=") else {
                throw AuthError(.malformedConnectionString, "segment \(index + 1) of the \(kind) connection string "
                    + "has no '='; every segment must be 'Key=Value' and segments are separated by ';'")
            }
            let key = String(segment[..<equals]).trimmingWhitespace()
            let value = String(segment[segment.index(after: equals)...]).trimmingWhitespace()
            if key.isEmpty {
                throw AuthError(.malformedConnectionString, "segment \(index + 1) of the \(kind) connection string "
                    + "has an empty key before '='")
            }
            let folded = key.lowercased()
            if values[folded] != nil {
                throw AuthError(.malformedConnectionString, "the \(kind) connection string sets '\(key)' more than "
                    + "once; keep a single '\(key)=' segment")
            }
            values[folded] = value
        }
    }

    /// The value of `key` (any case), or nil when absent. An empty value counts as absent.
    package subscript(key: String) -> String? {
        guard let value = values[key.lowercased()], !value.isEmpty else { return nil }
        return value
    }

    /// Whether `key` is present at all, even with an empty value.
    package func contains(_ key: String) -> Bool { values[key.lowercased()] != nil }

    /// The boolean value of `key`: nil when absent, `true`/`false` in any case, an error for anything else.
    package func bool(_ key: String, kind: String) throws(AuthError) -> Bool? {
        guard let value = self[key] else { return nil }
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default:
            throw AuthError(.invalidConnectionStringValue, "'\(key)' in the \(kind) connection string must be "
                + "'true' or 'false'")
        }
    }
}

extension String {
    package func trimmingWhitespace() -> String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}
