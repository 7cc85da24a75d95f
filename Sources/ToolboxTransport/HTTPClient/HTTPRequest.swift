import ToolboxCore

/// An HTTP request for `HTTPClient`: method, absolute URL, headers and body.
///
/// ```swift
/// var request = try HTTPRequest(method: "PUT", url: "https://acct.blob.core.windows.net/c/b")
/// request.headers.add(name: "x-ms-blob-type", value: "BlockBlob")
/// request.body = .bytes(data)
/// ```
public struct HTTPRequest: Sendable {
    public var method: String
    public var endpoint: HTTPEndpoint
    /// Path and query as sent ("/c/b?comp=list").
    public var target: String
    public var headers: HTTPHeaders
    public var body: HTTPRequestBody

    /// - throws: `.invalidRequest` when `url` is not an absolute http or https URL.
    public init(method: String = "GET", url: String, headers: HTTPHeaders = [:], body: HTTPRequestBody = .empty) throws {
        let (endpoint, target) = try HTTPEndpoint.parse(url)
        self.init(method: method, endpoint: endpoint, target: target, headers: headers, body: body)
    }

    public init(method: String, endpoint: HTTPEndpoint, target: String, headers: HTTPHeaders = [:],
                body: HTTPRequestBody = .empty) {
        self.method = method
        self.endpoint = endpoint
        self.target = target.isEmpty ? "/" : target
        self.headers = headers
        self.body = body
    }

    /// Whether repeating the request is harmless (RFC 9110 §9.2.2), which allows one retry on a stale connection.
    public var isIdempotent: Bool {
        ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"].contains(method.uppercased())
    }
}

/// The body of an `HTTPRequest`.
public enum HTTPRequestBody: Sendable {
    case empty
    /// Sent with `Content-Length`.
    case bytes([UInt8])
    /// A block's content, sent with `Content-Length` without copying it; the request holds the block until it is
    /// over, and its owner must not `fill` it again before then (`isKnownUniquelyReferenced` tells).
    case block(ByteBlock)
    /// Pulled piece by piece while sending; `next` delivers the next piece, or nil at the end.
    ///
    /// With a `contentLength` the body goes out with that `Content-Length` (and must match it); without one it
    /// is sent chunked. Streamed bodies cannot be replayed, so such requests are never retried.
    ///
    /// `next` is called on the connection's queue — for the first piece possibly on the caller's thread inside
    /// that queue's `sync`, or on an event loop's poller thread. It must return without waiting: hand the piece
    /// over at once, or start the work elsewhere with `async` and call back from there; it must never `sync` onto
    /// other work (another connection, a queue that may be waiting for this request), which could deadlock.
    case stream(contentLength: Int?, next: @Sendable (@escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) -> Void)

    var isReplayable: Bool {
        if case .stream = self { return false }
        return true
    }

    /// The content of a body held in memory (`.bytes`, `.block`); nil for `.empty` and a stream.
    var inMemory: OutgoingBytes? {
        switch self {
        case .bytes(let bytes): .bytes(bytes)
        case .block(let block): .block(block)
        case .empty, .stream: nil
        }
    }
}

/// A complete response with its body collected in memory.
public struct HTTPResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: [UInt8]

    public var status: Int { head.status }
    public var headers: HTTPHeaders { head.headers }

    public init(head: HTTPResponseHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }

    /// The response with `secrets` blanked out of its body, reason and header values: what an error is built
    /// from, so that no part of an echoed key or token reaches a message however it is cut.
    package func redacting(_ secrets: [String]) -> HTTPResponse {
        guard !secrets.isEmpty else { return self }
        var head = self.head
        head.reason = Redaction.redact(head.reason, secrets)
        head.headers = HTTPHeaders(head.headers.map { ($0.name, Redaction.redact($0.value, secrets)) })
        return HTTPResponse(head: head, body: Redaction.redact(body, secrets))
    }
}

/// Where requests go: scheme, host and port. Each endpoint gets its own pool of connections.
public struct HTTPEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var isTLS: Bool
    public var host: String
    public var port: UInt16

    public init(isTLS: Bool, host: String, port: UInt16? = nil) {
        self.isTLS = isTLS
        self.host = host
        self.port = port ?? (isTLS ? 443 : 80)
    }

    /// The `Host` header value: the port is left out when it is the scheme's default.
    var hostHeader: String {
        let name = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host  // IPv6: bracketed
        return port == (isTLS ? 443 : 80) ? name : "\(name):\(port)"
    }

    public var description: String { "\(isTLS ? "https" : "http")://\(hostHeader)" }

    /// The URL as it may appear in an error: no query (SAS signatures live there), at most 80 characters.
    static func redacted(_ url: String) -> String {
        let hasQuery = url.contains("?")
        var base = url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        // user:password@ in the authority is a credential too.
        if let at = base.firstIndex(of: "@"), let scheme = base.firstRange(of: "://"), scheme.upperBound <= at {
            base.replaceSubrange(scheme.upperBound...at, with: "<userinfo redacted>@")
        }
        let short = base.count > 80 ? String(base.prefix(80)) + "…" : base
        return hasQuery ? short + "?<query redacted>" : short
    }

    /// Splits "https://host:port/path?query" into the endpoint and the request target.
    static func parse(_ url: String) throws -> (HTTPEndpoint, String) {
        let isTLS: Bool
        var rest: Substring
        if url.lowercased().hasPrefix("https://") {
            isTLS = true
            rest = url.dropFirst(8)
        } else if url.lowercased().hasPrefix("http://") {
            isTLS = false
            rest = url.dropFirst(7)
        } else {
            throw TransportError(.invalidRequest, "'\(HTTPEndpoint.redacted(url))' is not an absolute http:// or https:// URL")
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[rest.startIndex..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if let fragment = target.firstIndex(of: "#") { target = String(target[..<fragment]) }
        if target.hasPrefix("?") { target = "/" + target }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host = authority
        var port: UInt16?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw TransportError(.invalidRequest, "unterminated IPv6 address in URL")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = UInt16(after.dropFirst()) }
            if after.hasPrefix(":"), port == nil { throw TransportError(.invalidRequest, "invalid port in URL") }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let value = UInt16(authority[authority.index(after: colon)...]) else {
                throw TransportError(.invalidRequest, "invalid port in URL '\(HTTPEndpoint.redacted(url))'")
            }
            port = value
        }
        guard !host.isEmpty else { throw TransportError(.invalidRequest, "URL '\(HTTPEndpoint.redacted(url))' has no host") }
        return (HTTPEndpoint(isTLS: isTLS, host: String(host), port: port), target.isEmpty ? "/" : target)
    }
}
