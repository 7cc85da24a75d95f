#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Header names (and a few values) that Azure's services send on every response, handed out as the `String`s of
/// their literals instead of new ones.
///
/// Why: a `String` of more than 15 UTF-8 bytes is a heap allocation (shorter ones are stored inline), and a Cosmos
/// response names `x-ms-request-charge`, `x-ms-activity-id`, `x-ms-session-token` and half a dozen more like them
/// every time. A literal's string is immortal: no allocation, no reference counting, no free. The bytes must match
/// exactly (a name keeps the spelling the peer sent); anything else is decoded as before.
enum HTTPKnownStrings {
    /// Names of more than 15 bytes, as Azure Storage, Cosmos DB, Event Grid, Entra ID and common front ends
    /// spell them (shorter ones in the list are skipped: they are stored inline anyway).
    private static let names = table([
        "Transfer-Encoding", "transfer-encoding", "Content-Encoding", "Content-Language", "Content-Disposition",
        "Strict-Transport-Security", "X-Content-Type-Options", "Access-Control-Allow-Origin",
        "Access-Control-Expose-Headers", "x-ms-client-request-id", "x-ms-activity-id", "x-ms-request-charge",
        "x-ms-session-token", "x-ms-schemaversion", "x-ms-serviceversion", "x-ms-gatewayversion",
        "x-ms-alt-content-path", "x-ms-content-path", "x-ms-continuation", "x-ms-resource-quota",
        "x-ms-resource-usage", "x-ms-last-state-change-utc", "x-ms-global-Committed-lsn",
        "x-ms-number-of-read-regions", "x-ms-transport-request-id", "x-ms-cosmos-llsn",
        "x-ms-cosmos-quorum-acked-llsn", "x-ms-quorum-acked-lsn", "x-ms-current-write-quorum",
        "x-ms-current-replica-set-size", "x-ms-retry-after-ms", "x-ms-documentdb-partitionkeyrangeid",
        "x-ms-cosmos-physical-partition-id", "x-ms-cosmos-item-llsn", "x-ms-server-encrypted",
        "x-ms-request-server-encrypted", "x-ms-creation-time", "x-ms-lease-status", "x-ms-lease-state",
        "x-ms-content-crc64", "x-ms-blob-content-md5", "x-ms-access-tier", "x-ms-access-tier-inferred",
        "x-ms-blob-committed-block-count", "x-ms-encryption-key-sha256", "x-ms-blob-sequence-number",
        "x-ms-copy-status", "x-ms-last-access-time", "x-ms-is-current-version", "x-ms-ests-server",
        "x-ms-blob-content-type",
        // Request names, for the servers built on this parser (the emulator): what Azure's SDKs and ours send.
        "x-ms-consistency-level", "x-ms-documentdb-partitionkey", "x-ms-documentdb-isquery",
        "x-ms-documentdb-is-upsert", "x-ms-documentdb-query-enablecrosspartition",
        "x-ms-documentdb-query-iscontinuationexpected", "x-ms-cosmos-is-query-plan-request",
        "x-ms-cosmos-query-version", "x-ms-cosmos-supported-query-features", "x-ms-cosmos-sdk-supportedcapabilities",
        "x-ms-cosmos-intended-collection-rid", "x-ms-cosmos-correlated-activityid", "x-ms-max-item-count",
        "x-ms-copy-source", "x-ms-blob-content-length", "x-ms-range-get-content-md5", "If-Unmodified-Since",
        "If-Modified-Since", "aeg-sas-key", "aeg-sas-token", "Accept-Encoding",
    ])

    /// Values of more than 15 bytes that whole classes of responses share.
    private static let values = table([
        "application/json", "application/json; charset=utf-8", "application/json;charset=utf-8",
        "application/octet-stream", "application/xml", "application/xml; charset=utf-8",
        "max-age=31536000; includeSubDomains", "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
    ])

    /// The literal spelled exactly as `bytes`, if it is a known name.
    /// Inline strings (15 bytes or fewer) cost nothing to build: the tables are not even touched for them.
    @inline(__always)
    static func name(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        bytes.count > 15 ? lookUp(bytes, in: names) : nil
    }

    /// The literal spelled exactly as `bytes`, if it is a known value.
    @inline(__always)
    static func value(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        bytes.count > 15 ? lookUp(bytes, in: values) : nil
    }

    /// Candidates by length: index n holds the strings of n UTF-8 bytes.
    private static func table(_ strings: [String]) -> [[String]] {
        let longest = strings.map(\.utf8.count).max() ?? 0
        var table = [[String]](repeating: [], count: longest + 1)
        for string in strings where string.utf8.count > 15 { table[string.utf8.count].append(string) }
        return table
    }

    private static func lookUp(_ bytes: UnsafeBufferPointer<UInt8>, in table: [[String]]) -> String? {
        guard bytes.count < table.count, let base = bytes.baseAddress else { return nil }
        for candidate in table[bytes.count] {
            let equal = candidate.utf8.withContiguousStorageIfAvailable { known in
                known.baseAddress.map { memcmp($0, base, bytes.count) == 0 } ?? false
            }
            if equal == true { return candidate }
        }
        return nil
    }
}
