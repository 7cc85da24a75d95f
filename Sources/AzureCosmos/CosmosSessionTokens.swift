import AzureAuth
import ToolboxCore

/// Session tokens per container and partition key range, as the service hands them out in
/// `x-ms-session-token` (`0:-1#6`, or `0:-1#6,1:-1#9`), so reads see the client's own writes.
final class CosmosSessionTokens: Sendable {
    private let tokens = LockedValue<[String: [String: String]]>([:])

    /// Keeps the newest token of each range named in `header`.
    func record(container: String, header: String) {
        let entries = header.split(separator: ",").compactMap { entry -> (String, String)? in
            guard let colon = entry.firstIndex(of: ":") else { return nil }
            let range = String(entry[..<colon]).trimmingWhitespace()
            let token = String(entry[colon...].dropFirst()).trimmingWhitespace()
            return range.isEmpty || token.isEmpty ? nil : (range, token)
        }
        guard !entries.isEmpty else { return }
        tokens.withLockedValue { tokens in
            var ranges = tokens[container] ?? [:]
            for (range, token) in entries {
                if let existing = ranges[range], Self.lsn(existing) >= Self.lsn(token) { continue }
                ranges[range] = token
            }
            tokens[container] = ranges
        }
    }

    /// The token to send: the range's own when the request targets one range, else every known range's.
    func token(container: String, rangeID: String?) -> String? {
        let ranges = tokens.load()[container] ?? [:]
        if let rangeID {
            return ranges[rangeID].map { "\(rangeID):\($0)" }
        }
        if ranges.isEmpty { return nil }
        return ranges.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
    }

    /// The global LSN of a token (`-1#6` → 6, `1#6#3=5` → 6); unparsable tokens count as 0.
    static func lsn(_ token: String) -> Int64 {
        let parts = token.split(separator: "#")
        guard parts.count >= 2, let value = Int64(parts[1]) else { return 0 }
        return value
    }
}
