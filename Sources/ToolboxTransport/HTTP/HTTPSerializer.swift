/// Writes HTTP/1.1 messages as bytes: heads, and bodies in chunked framing.
public enum HTTPSerializer {
    /// Appends the request line and headers (ending with the empty line) to `buffer`.
    ///
    /// - throws: `.invalidRequest` when the method, target or a header would break the message framing.
    public static func write(_ head: HTTPRequestHead, into buffer: inout [UInt8]) throws {
        guard !head.method.isEmpty, HTTPSyntax.allBytes(of: head.method, are: .token) else {
            throw TransportError(.invalidRequest, "'\(head.method)' is not a valid HTTP method")
        }
        guard !head.target.isEmpty, HTTPSyntax.allBytes(of: head.target, are: .requestTarget) else {
            throw TransportError(.invalidRequest, "the request target contains spaces or control characters")
        }
        try head.headers.validate()
        buffer.reserveCapacity(buffer.count + head.method.utf8.count + head.target.utf8.count + 12
            + fieldBytes(head.headers))
        buffer.append(contentsOf: head.method.utf8)
        buffer.append(32)
        buffer.append(contentsOf: head.target.utf8)
        buffer.append(32)
        appendVersion(head.version, into: &buffer)
        appendFields(head.headers, into: &buffer)
    }

    /// Appends the status line and headers (ending with the empty line) to `buffer`.
    public static func write(_ head: HTTPResponseHead, into buffer: inout [UInt8]) throws {
        guard head.status >= 100, head.status <= 999 else {
            throw TransportError(.invalidRequest, "\(head.status) is not a valid HTTP status")
        }
        try head.headers.validate()
        buffer.reserveCapacity(buffer.count + head.reason.utf8.count + 15 + fieldBytes(head.headers))
        appendVersion(head.version, into: &buffer)
        buffer.append(32)
        let status = head.status  // three digits, checked above
        buffer.append(UInt8(truncatingIfNeeded: 48 + status / 100))
        buffer.append(UInt8(truncatingIfNeeded: 48 + status / 10 % 10))
        buffer.append(UInt8(truncatingIfNeeded: 48 + status % 10))
        buffer.append(32)
        if head.reason.utf8.contains(where: { $0 == 13 || $0 == 10 }) {
            buffer.append(contentsOf: head.reason.utf8.filter { $0 != 13 && $0 != 10 })
        } else {
            buffer.append(contentsOf: head.reason.utf8)
        }
        appendFields(head.headers, into: &buffer)
    }

    private static let http1_1 = Array("HTTP/1.1".utf8)
    private static let http1_0 = Array("HTTP/1.0".utf8)

    /// The version, without building its text for the two versions spoken on the wire.
    private static func appendVersion(_ version: HTTPVersion, into buffer: inout [UInt8]) {
        switch version {
        case .http1_1: buffer.append(contentsOf: http1_1)
        case .http1_0: buffer.append(contentsOf: http1_0)
        default: buffer.append(contentsOf: version.description.utf8)
        }
    }

    /// The bytes `appendFields` writes.
    private static func fieldBytes(_ headers: HTTPHeaders) -> Int {
        headers.reduce(4) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }

    private static func appendFields(_ headers: HTTPHeaders, into buffer: inout [UInt8]) {
        buffer.append(13)
        buffer.append(10)
        for field in headers {
            buffer.append(contentsOf: field.name.utf8)
            buffer.append(58)
            buffer.append(32)
            buffer.append(contentsOf: field.value.utf8)
            buffer.append(13)
            buffer.append(10)
        }
        buffer.append(13)
        buffer.append(10)
    }

    /// Appends one chunk in chunked transfer coding; an empty `bytes` appends nothing (it would end the body).
    public static func writeChunk(_ bytes: some Collection<UInt8>, into buffer: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        buffer.append(contentsOf: String(bytes.count, radix: 16).utf8)
        buffer.append(13)
        buffer.append(10)
        buffer.append(contentsOf: bytes)
        buffer.append(13)
        buffer.append(10)
    }

    /// Appends the last-chunk and the empty trailer section.
    public static func writeLastChunk(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: [48, 13, 10, 13, 10])
    }
}
