import ToolboxCore

/// Master-key signatures of one `x-ms-date` second, keyed by verb, resource type and resource link — the only
/// other inputs of the string to sign — so a client issuing many requests for the same resources within a
/// second (or a gateway verifying them) computes each HMAC once. Entries of an older date are dropped as soon
/// as a newer date is seen; at most `capacity` entries are kept.
///
/// ```swift
/// let header = cache.value(verb: "GET", resourceType: "docs", resourceLink: link, date: date) {
///     signer.authorizationHeader(verb: "GET", resourceType: "docs", resourceLink: link, date: date).exposedValue
/// }
/// ```
///
/// The values are signatures: the cache has no description and never logs them.
package final class CosmosSignatureCache: Sendable {
    /// The three inputs as separate fields: joining them with a separator would let a type or link that contains
    /// the separator (a percent-decoded `%0A` in a gateway's path) collide with another request's key.
    private struct Key: Hashable {
        var verb: String
        var resourceType: String
        var resourceLink: String
    }

    private struct State {
        var date = ""
        var values: [Key: String] = [:]
    }

    /// Enough for the links one client (or one emulator) touches in a second in practice; past it the cache
    /// starts over rather than grow.
    package let capacity: Int
    private let state = LockedValue(State())

    package init(capacity: Int = 512) {
        self.capacity = max(1, capacity)
    }

    /// The cached value for the request, or `compute()`'s (then cached).
    package func value(verb: String, resourceType: String, resourceLink: String, date: String,
                       compute: () -> String) -> String {
        let key = Key(verb: verb, resourceType: resourceType, resourceLink: resourceLink)
        if let hit = state.withLockedValue({ $0.date == date ? $0.values[key] : nil }) { return hit }
        let value = compute()
        state.withLockedValue { state in
            if state.date != date {
                state.date = date
                state.values.removeAll(keepingCapacity: true)
            } else if state.values.count >= capacity {
                state.values.removeAll(keepingCapacity: true)
            }
            state.values[key] = value
        }
        return value
    }

    /// How many signatures are cached (for tests).
    package var count: Int { state.withLockedValue { $0.values.count } }
}
