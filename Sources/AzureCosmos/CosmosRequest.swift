import AzureAuth
import Foundation
import ToolboxCore

/// One request to the Cosmos DB gateway, before signing: what the pipeline needs to send, sign and retry it.
struct CosmosRequest: Sendable {
    var method: String
    /// Decoded path segments: `["dbs", "db", "colls", "c", "docs", "item 1"]`.
    var segments: [String]
    /// Whether the path names a feed (`/dbs/db/colls/c/docs`) rather than a resource.
    var isFeed: Bool
    var headers: [(String, String)] = []
    var body: [UInt8]? = nil
    /// Safe to send twice (reads, queries): retried after connection failures and 503.
    var idempotent: Bool
    /// For messages: "reading item 'x'".
    var operation: String
    /// `dbs/db/colls/c` when the request concerns a container's items (session tokens, cache refresh).
    var containerLink: String? = nil
    /// The partition key range the request targets, for the session token to send.
    var rangeID: String? = nil
    /// Session token the caller passed explicitly.
    var sessionToken: String? = nil
    /// Hand 410 (gone/split) to the caller instead of retrying (range-targeted query pages re-plan themselves).
    var surfaceGone = false
    /// Statuses that count as success besides 2xx.
    var acceptedStatuses: Set<Int> = []

    /// The path as sent: each segment percent-encoded, resources with a trailing slash (as the SDKs send).
    var wirePath: String {
        if segments.isEmpty { return "/" }
        // Built once per try as one byte buffer (joining quoted Strings cost ~10k instructions per point read).
        var path: [UInt8] = []
        path.reserveCapacity(segments.reduce(2) { $0 + $1.utf8.count + 1 })
        for segment in segments {
            path.append(UInt8(ascii: "/"))
            PercentEncoding.appendQuoted(segment, safe: "-_.!~*'()", to: &path)
        }
        if !isFeed { path.append(UInt8(ascii: "/")) }
        return String(decoding: path, as: UTF8.self)
    }

    /// What is signed: the resource type and the (decoded) resource link.
    var signedResource: (type: String, link: String) {
        if segments.isEmpty { return ("", "") }
        if segments.count % 2 == 1 {
            return (segments[segments.count - 1], segments.dropLast().joined(separator: "/"))
        }
        return (segments[segments.count - 2], segments.joined(separator: "/"))
    }
}

/// Builds the paths of the resources the client touches.
enum CosmosPaths {
    static func database(_ database: String) -> [String] { ["dbs", database] }
    static func container(_ database: String, _ container: String) -> [String] {
        ["dbs", database, "colls", container]
    }
    static func item(_ database: String, _ container: String, _ id: String) -> [String] {
        ["dbs", database, "colls", container, "docs", id]
    }
    static func containerLink(_ database: String, _ container: String) -> String { "dbs/\(database)/colls/\(container)" }
}

/// The `x-ms-date` of a request sent now: formatted once per second, not once per request.
enum CosmosRequestDate {
    private static let last = LockedValue<(seconds: Int, text: String)>((-1, ""))

    static func now() -> String {
        let seconds = UTCDate.nowUnixSeconds()
        if let text = last.withLockedValue({ $0.seconds == seconds ? $0.text : nil }) { return text }
        let text = UTCDate.rfc1123(seconds)
        last.withLockedValue { $0 = (seconds, text) }
        return text
    }
}

enum CosmosActivityID {
    /// From OpenSSL: Foundation's `UUID()` opens `/dev/urandom` on every call on Linux.
    static func make() -> String { RandomUUID.string() }
}
