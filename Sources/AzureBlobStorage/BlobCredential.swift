import AzureAuth
import ToolboxCore
import ToolboxTransport

/// How a blob client proves who it is.
///
/// ```swift
/// .sharedKey(accountName: "devstoreaccount1", accountKey: Secret(key))
/// .sas(Secret("sv=2026-10-06&sr=c&sp=rl&se=…&sig=…"))
/// .token(try DefaultAzureCredential(transport: transport))
/// ```
public enum BlobCredential: Sendable, CustomStringConvertible {
    /// Storage Shared Key: every request signed with the account key; can also sign service SAS tokens.
    case sharedKey(accountName: String, accountKey: Secret<String>)
    /// A SAS token (account, container or blob SAS) appended to every request's query.
    case sas(Secret<String>)
    /// Entra ID bearer tokens for `https://storage.azure.com/.default` (HTTPS only); signs user-delegation SAS.
    case token(any TokenCredential)
    /// No credential (public containers, or a SAS already in the URL).
    case anonymous

    public var description: String {
        switch self {
        case .sharedKey(let account, _): return "sharedKey(\(account), <redacted>)"
        case .sas: return "sas(<redacted>)"
        case .token(let credential): return "token(\(credential.credentialName))"
        case .anonymous: return "anonymous"
        }
    }
}

/// The account's Blob endpoint split the way requests need it.
struct BlobServiceURL: Sendable {
    let endpoint: HTTPEndpoint
    /// Encoded path before the container, without a trailing `/`: `""` (host-style) or `/devstoreaccount1`.
    let basePath: String
    /// The account name: the first host label (`acct.blob.core.windows.net`), or the first path segment for an
    /// IP or `localhost` host (path-style, as Azurite and the emulator serve it).
    let accountName: String?
    /// A SAS found in the URL's query, without `?`.
    let sasInURL: Secret<String>?

    /// Parses an account URL (`https://acct.blob.core.windows.net`, `http://127.0.0.1:10000/devstoreaccount1`),
    /// optionally with a SAS query.
    init(accountURL: String) throws(ToolboxError) {
        let parsed: HTTPRequest
        do {
            parsed = try HTTPRequest(url: accountURL)
        } catch {
            throw ToolboxError(.invalidArgument, "the Blob account URL is not an absolute http(s) URL: \(error)",
                               underlying: error)
        }
        endpoint = parsed.endpoint
        var path = parsed.target
        var query: String?
        if let mark = path.firstIndex(of: "?") {
            query = String(path[path.index(after: mark)...])
            path = String(path[..<mark])
        }
        while path.hasSuffix("/") { path.removeLast() }
        basePath = path
        sasInURL = query.flatMap { $0.isEmpty ? nil : Secret($0) }
        let host = endpoint.host
        if Self.isPathStyle(host: host) {
            accountName = path.split(separator: "/").first.map { PercentEncoding.unquote(String($0)) }
        } else {
            accountName = host.split(separator: ".").first.map(String.init)
        }
    }

    /// IP literals and `localhost` put the account in the path (Azurite's and the emulator's URLs).
    static func isPathStyle(host: String) -> Bool {
        if host == "localhost" || host.contains(":") { return true }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count == 4 && labels.allSatisfy { label in UInt8(label) != nil }
    }

    /// `scheme://host[:port]` plus the base path.
    var accountURL: String { endpoint.description + basePath }

    /// The encoded request path of the container, or of a blob in it.
    func path(container: String, blob: String?) -> String {
        var path = basePath + "/" + PercentEncoding.quote(container, safe: "")
        if let blob { path += "/" + PercentEncoding.quote(blob, safe: "/~") }
        return path
    }
}
