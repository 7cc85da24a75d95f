/// An HTTP version; only 1.0 and 1.1 are spoken on the wire here.
public struct HTTPVersion: Sendable, Equatable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)

    public var description: String { "HTTP/\(major).\(minor)" }
}

/// The start line and headers of a request.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: String
    /// The request target as sent: origin form ("/path?query") normally.
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders

    public init(method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:]) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// Whether the connection may carry another request after this one (RFC 9112 §9.3).
    public var keepAlive: Bool { HTTPKeepAlive.allowed(version: version, headers: headers) }

    /// Whether the client waits for `100 Continue` before sending the body.
    public var expectsContinue: Bool { headers.containsToken("100-continue", inField: "Expect") }
}

/// The status line and headers of a response.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    public var reason: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders

    public init(status: Int, reason: String? = nil, version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:]) {
        self.status = status
        self.reason = reason ?? HTTPResponseHead.standardReason(for: status)
        self.version = version
        self.headers = headers
    }

    /// Whether the connection may carry another request after this response.
    public var keepAlive: Bool { HTTPKeepAlive.allowed(version: version, headers: headers) }

    /// An interim (1xx) response, followed by the real one on the same connection.
    public var isInformational: Bool { status >= 100 && status < 200 }

    static func standardReason(for status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 409: return "Conflict"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 417: return "Expectation Failed"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status \(status)"
        }
    }
}

enum HTTPKeepAlive {
    static func allowed(version: HTTPVersion, headers: HTTPHeaders) -> Bool {
        if headers.containsToken("close", inField: "Connection") { return false }
        if version == .http1_0 { return headers.containsToken("keep-alive", inField: "Connection") }
        return version.major == 1 && version.minor >= 1
    }
}
