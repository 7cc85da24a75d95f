import ToolboxCore

/// Storage Shared Key request signing (Blob service), as azure-storage's `SharedKeyCredentialPolicy` does it.
///
/// ```swift
/// let signer = try StorageSharedKeySigner(accountName: "devstoreaccount1", accountKey: Secret(key))
/// let auth = signer.authorization(method: "PUT", url: url, headers: headers)
/// // "SharedKey devstoreaccount1:Prj9b544..."
/// ```
///
/// String to sign: the verb, eleven standard headers (`Content-Length` empty when `0`), the `x-ms-*` headers
/// lower-cased and sorted as `name:value`, then `/<account><encoded path>` and each query parameter
/// lower-cased, sorted, URL-decoded as `\nname:value`. Headers must already include `x-ms-date` and `x-ms-version`.
public struct StorageSharedKeySigner: Sendable, CustomStringConvertible {
    /// The storage account name.
    public let accountName: String
    private let key: Secret<[UInt8]>

    private static let standardHeaders = [
        "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
        "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
    ]

    /// - throws: `AuthError.Code.invalidKey` when the key is not base64.
    public init(accountName: String, accountKey: Secret<String>) throws(AuthError) {
        guard let bytes = AuthCrypto.base64Decode(accountKey.exposedValue) else {
            throw AuthError(.invalidKey, "the Storage account key for '\(accountName)' is not valid base64; copy "
                + "the key again from the portal ('Access keys')")
        }
        self.accountName = accountName
        self.key = Secret(bytes)
    }

    /// The string the signature covers, for `method` on `url` (absolute, as sent) with `headers`.
    public func stringToSign(method: String, url: String, headers: [(String, String)]) -> String {
        var lowered: [String: String] = [:]
        for (name, value) in headers where !value.isEmpty { lowered[name.lowercased()] = value }
        if lowered["content-length"] == "0" { lowered["content-length"] = nil }
        var text = method.uppercased() + "\n"
        text += Self.standardHeaders.map { lowered[$0] ?? "" }.joined(separator: "\n") + "\n"
        let msHeaders = headers
            .map { ($0.0.lowercased(), $0.1) }
            .filter { $0.0.hasPrefix("x-ms-") }
            .sorted { $0.0 < $1.0 }
        for (name, value) in msHeaders { text += "\(name):\(value.trimmingWhitespace())\n" }
        let (path, query) = Self.splitURL(url)
        text += "/\(accountName)\(path)"
        var parameters: [String: String] = [:]
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            parameters[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        for name in parameters.keys.sorted() {
            text += "\n\(name.lowercased()):\(PercentEncoding.unquote(parameters[name] ?? ""))"
        }
        return text
    }

    /// The base64 signature of `stringToSign(method:url:headers:)`.
    public func signature(method: String, url: String, headers: [(String, String)]) -> String {
        let text = stringToSign(method: method, url: url, headers: headers)
        return AuthCrypto.base64(AuthCrypto.hmacSHA256(key: key.exposedValue, message: text))
    }

    /// The `Authorization` header value: `SharedKey <account>:<signature>`.
    public func authorization(method: String, url: String, headers: [(String, String)]) -> Secret<String> {
        Secret("SharedKey \(accountName):\(signature(method: method, url: url, headers: headers))")
    }

    /// Signs with the raw key bytes: the SAS builders use the same key.
    func sign(_ text: String) -> String {
        AuthCrypto.base64(AuthCrypto.hmacSHA256(key: key.exposedValue, message: text))
    }

    public var description: String { "StorageSharedKeySigner(accountName: \(accountName), key: <redacted>)" }

    /// The encoded path (at least `/`) and the raw query of an absolute or origin-form URL.
    static func splitURL(_ url: String) -> (path: String, query: String) {
        var rest = Substring(url)
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        if let schemeEnd = rest.range(of: "://") {
            rest = rest[schemeEnd.upperBound...]
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                rest = rest[slash...]
            } else {
                rest = ""
            }
        }
        var path = rest
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            path = rest[..<mark]
            query = rest[rest.index(after: mark)...]
        }
        return (path.isEmpty ? "/" : String(path), String(query))
    }
}
