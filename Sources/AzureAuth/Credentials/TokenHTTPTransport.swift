import ToolboxCore

/// One HTTP request to a token endpoint.
///
/// `description` shows the method, the URL without its query and the header names only: bodies carry client
/// secrets and assertions, and headers such as `X-IDENTITY-HEADER` are secrets too.
public struct TokenHTTPRequest: Sendable, CustomStringConvertible {
    public var method: String
    /// Absolute URL, `https://host[:port]/path?query`.
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The value of the first header called `name` (any case).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var description: String {
        let path = url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
        return "\(method) \(path) headers: \(headers.map(\.name)) body: \(body.count) bytes"
    }
}

/// The response from a token endpoint.
public struct TokenHTTPResponse: Sendable, CustomStringConvertible {
    public var status: Int
    public var headers: [(name: String, value: String)]
    /// The body; it may hold a token, so `description` never shows it.
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The response with `secrets` blanked out of its body and header values, before any of it is parsed.
    func redacting(_ secrets: [String]) -> TokenHTTPResponse {
        guard !secrets.isEmpty else { return self }
        return TokenHTTPResponse(status: status, headers: headers.map { ($0.name, Redaction.redact($0.value, secrets)) },
                                 body: Redaction.redact(body, secrets))
    }

    public var description: String { "HTTP \(status), body: \(body.count) bytes" }
}

/// The HTTP client credentials send token requests with.
///
/// Implement it over any HTTP/1.1 client; tests use an in-memory fake. `send` calls `completion` exactly once, on
/// any queue, with the response (any status) or the transport error; it gives up at `deadline`.
public protocol TokenHTTPTransport: Sendable {
    func send(
        _ request: TokenHTTPRequest, deadline: Deadline,
        completion: @escaping @Sendable (Result<TokenHTTPResponse, any Error>) -> Void)
}

/// A transport that fails every request: the default until an HTTP client is configured.
public struct UnconfiguredTokenTransport: TokenHTTPTransport {
    public init() {}

    public func send(
        _ request: TokenHTTPRequest, deadline: Deadline,
        completion: @escaping @Sendable (Result<TokenHTTPResponse, any Error>) -> Void
    ) {
        completion(.failure(AuthError(.transportFailed, "no HTTP transport is configured for token requests; "
            + "pass a TokenHTTPTransport (for example over ToolboxTransport's HTTPClient) to the credential")))
    }
}
