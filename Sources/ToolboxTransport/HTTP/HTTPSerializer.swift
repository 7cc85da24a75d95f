/// Writes HTTP/1.1 messages as bytes: heads, and bodies in chunked framing.
public enum HTTPSerializer {
    /// Appends the request line and headers (ending with the empty line) to `buffer`.
    ///
    /// - throws: `.invalidRequest` when the method, target or a header would break the message framing; `buffer`
    ///   is then as it was.
    public static func write(_ head: HTTPRequestHead, into buffer: inout [UInt8]) throws {
        try writeOpen(head, into: &buffer)
        endHead(into: &buffer)
    }

    /// Appends the status line and headers (ending with the empty line) to `buffer`.
    ///
    /// - throws: `.invalidRequest` when the status is not three digits or a header would break the message
    ///   framing; `buffer` is then as it was.
    public static func write(_ head: HTTPResponseHead, into buffer: inout [UInt8]) throws {
        try writeOpen(head, into: &buffer)
        endHead(into: &buffer)
    }

    /// The request line and the head's fields, without the empty line that ends the head: the client appends
    /// its own fields (`Host`, framing) with `appendField` and then `endHead`, instead of copying the caller's
    /// headers to add them. `reserving` more bytes are reserved for what follows (those fields, a small body).
    ///
    /// - throws: as `write(_:into:)`; `buffer` is then as it was.
    package static func writeOpen(_ head: HTTPRequestHead, reserving extra: Int = 0,
                                  into buffer: inout [UInt8]) throws {
        guard !head.method.isEmpty, HTTPSyntax.allBytes(of: head.method, are: .token) else {
            throw TransportError(.invalidRequest, "'\(head.method)' is not a valid HTTP method")
        }
        guard !head.target.isEmpty, HTTPSyntax.allBytes(of: head.target, are: .requestTarget) else {
            throw TransportError(.invalidRequest, "the request target contains spaces or control characters")
        }
        let start = buffer.count
        buffer.reserveCapacity(start + head.method.utf8.count + head.target.utf8.count + 12
            + fieldBytes(head.headers) + max(extra, 0))
        buffer.append(contentsOf: head.method.utf8)
        buffer.append(32)
        buffer.append(contentsOf: head.target.utf8)
        buffer.append(32)
        appendVersion(head.version, into: &buffer)
        try appendFields(head.headers, into: &buffer, undoingTo: start)
    }

    /// The status line and the head's fields, without the empty line (see the request form).
    package static func writeOpen(_ head: HTTPResponseHead, reserving extra: Int = 0,
                                  into buffer: inout [UInt8]) throws {
        guard head.status >= 100, head.status <= 999 else {
            throw TransportError(.invalidRequest, "\(head.status) is not a valid HTTP status")
        }
        let start = buffer.count
        buffer.reserveCapacity(start + head.reason.utf8.count + 15 + fieldBytes(head.headers) + max(extra, 0))
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
        try appendFields(head.headers, into: &buffer, undoingTo: start)
    }

    /// Appends one more field to a head opened by `writeOpen`, checked as the head's own fields are.
    ///
    /// - throws: `.invalidRequest` naming the field; `buffer` is then as it was.
    package static func appendField(name: String, value: String, into buffer: inout [UInt8]) throws {
        try appendField(name, value, into: &buffer, undoingTo: buffer.count)
    }

    /// Ends a head opened by `writeOpen` (the empty line).
    package static func endHead(into buffer: inout [UInt8]) {
        buffer.append(13)
        buffer.append(10)
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

    /// The bytes `appendFields` and `endHead` write.
    private static func fieldBytes(_ headers: HTTPHeaders) -> Int {
        headers.reduce(4) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }

    /// Ends the start line and appends the fields, each name and value checked as it is copied (a name must be a
    /// token; a value must not hold CR, LF or NUL: header injection). On a bad field `buffer` is cut back to
    /// `start` and the error names the field.
    ///
    /// One pass over each string's bytes in place, rather than `HTTPHeaders.validate()` and then a copy
    /// (performance-history.md, "2026-12-06").
    private static func appendFields(_ headers: HTTPHeaders, into buffer: inout [UInt8], undoingTo start: Int) throws {
        buffer.append(13)
        buffer.append(10)
        for field in headers { try appendField(field.name, field.value, into: &buffer, undoingTo: start) }
    }

    private static func appendField(_ name: String, _ value: String, into buffer: inout [UInt8],
                                    undoingTo start: Int) throws {
        guard !name.isEmpty, append(name, checking: .token, to: &buffer) else {
            buffer.removeSubrange(start...)
            throw HTTPHeaders.invalidName(name)
        }
        buffer.append(58)
        buffer.append(32)
        guard append(value, checking: .notLineBreakOrNUL, to: &buffer) else {
            buffer.removeSubrange(start...)
            throw HTTPHeaders.invalidValue(name)
        }
        buffer.append(13)
        buffer.append(10)
    }

    /// Appends `text`'s UTF-8 when every byte is in `byteClass`; returns false (having appended nothing) if not.
    @inline(__always)
    private static func append(_ text: String, checking byteClass: HTTPSyntax.ByteClass,
                               to buffer: inout [UInt8]) -> Bool {
        let inPlace = text.utf8.withContiguousStorageIfAvailable { bytes in
            guard HTTPSyntax.allBytes(of: bytes, are: byteClass) else { return false }
            buffer.append(contentsOf: bytes)
            return true
        }
        if let inPlace { return inPlace }
        let bytes = Array(text.utf8)  // a bridged string: copied once
        guard HTTPSyntax.allBytes(of: bytes, are: byteClass) else { return false }
        buffer.append(contentsOf: bytes)
        return true
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
