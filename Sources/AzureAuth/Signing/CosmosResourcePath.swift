import ToolboxCore

/// How Cosmos DB derives the signed `resourceType` and `resourceLink` from a request path, and the AAD form of
/// the `authorization` header.
///
/// ```swift
/// let (type, link) = CosmosResourcePath.resource(forPath: "/dbs/testdb/colls/testcoll/docs/item%201/")
/// // ("docs", "dbs/testdb/colls/testcoll/docs/item 1")
/// ```
public enum CosmosResourcePath {
    /// The resource type and link for `path` (percent-encoded, as on the wire; query ignored): segments are
    /// decoded; an odd count is a feed (type = last segment, link = the rest), an even count an item (type =
    /// second to last, link = all). Leading and trailing `/` do not matter.
    public static func resource(forPath path: String) -> (type: String, link: String) {
        let withoutQuery = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let segments = withoutQuery.split(separator: "/").map { PercentEncoding.unquote(String($0)) }
        if segments.isEmpty { return ("", "") }
        if segments.count % 2 == 1 {
            return (segments[segments.count - 1], segments.dropLast().joined(separator: "/"))
        }
        return (segments[segments.count - 2], segments.joined(separator: "/"))
    }

    /// `type=aad&ver=1.0&sig=<token>`, sent as is (not URL-encoded) for Entra ID tokens.
    public static func aadAuthorizationHeader(token: Secret<String>) -> Secret<String> {
        Secret("type=aad&ver=1.0&sig=\(token.exposedValue)")
    }
}

extension CosmosMasterKeySigner {
    /// The URL-encoded master-key `authorization` header for `verb` on `path` (as on the wire).
    public func authorizationHeader(verb: String, path: String, date: String) -> Secret<String> {
        let (type, link) = CosmosResourcePath.resource(forPath: path)
        return authorizationHeader(verb: verb, resourceType: type, resourceLink: link, date: date)
    }
}
