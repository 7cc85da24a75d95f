import AzureAuth
import ToolboxCore

/// Session tokens per container and partition key range, as the service hands them out in
/// `x-ms-session-token` (`0:-1#6`, or `0:-1#6,1:-1#9`), so reads see the client's own writes.
///
/// Every response carries a token and every read sends one, so both are cheap when nothing changed: a header
/// equal to the container's last one is not parsed again, and the token sent for the whole container is
/// joined once per change, not once per request.
final class CosmosSessionTokens: Sendable {
    private struct Container {
        /// Newest token per range id.
        var ranges: [String: String] = [:]
        /// The last header recorded as it came (skips parsing repeats).
        var lastHeader: String?
        /// Every range's token joined (`0:-1#6,1:-1#9`), sorted by range id; nil until asked for after a change.
        var joined: String?
    }

    private let containers = LockedValue<[String: Container]>([:])
    /// The most ranges whose tokens are kept per container.
    static let maxRanges = 4_096

    /// Keeps the newest token of each range named in `header`.
    func record(container: String, header: String) {
        if containers.withLockedValue({ $0[container]?.lastHeader == header }) { return }
        let entries = header.split(separator: ",").compactMap { entry -> (String, String)? in
            guard let colon = entry.firstIndex(of: ":") else { return nil }
            let range = String(entry[..<colon]).trimmingWhitespace()
            let token = String(entry[colon...].dropFirst()).trimmingWhitespace()
            return range.isEmpty || token.isEmpty ? nil : (range, token)
        }
        guard !entries.isEmpty else { return }
        containers.withLockedValue { containers in
            // Mutated in place: no copy of the ranges per response.
            var changed = false
            for (range, token) in entries {
                let existing = containers[container, default: Container()].ranges[range]
                if let existing, Self.lsn(existing) >= Self.lsn(token) { continue }
                // The joined token goes out with every cross-range request: a service naming ever new ranges
                // must not grow it without end (a real container has far fewer physical partitions).
                if existing == nil, containers[container, default: Container()].ranges.count >= Self.maxRanges { continue }
                containers[container, default: Container()].ranges[range] = token
                changed = true
            }
            containers[container, default: Container()].lastHeader = header
            if changed { containers[container]?.joined = nil }
        }
    }

    /// The token to send: the range's own when the request targets one range, else every known range's.
    func token(container: String, rangeID: String?) -> String? {
        containers.withLockedValue { containers -> String? in
            guard let entry = containers[container] else { return nil }
            if let rangeID {
                return entry.ranges[rangeID].map { "\(rangeID):\($0)" }
            }
            if entry.ranges.isEmpty { return nil }
            if let joined = entry.joined { return joined }
            let joined = entry.ranges.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
            containers[container]?.joined = joined
            return joined
        }
    }

    /// The global LSN of a token (`-1#6` → 6, `1#6#3=5` → 6); unparsable tokens count as 0.
    static func lsn(_ token: String) -> Int64 {
        let parts = token.split(separator: "#")
        guard parts.count >= 2, let value = Int64(parts[1]) else { return 0 }
        return value
    }
}
