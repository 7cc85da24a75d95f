/// Start lines and header fields.
extension HTTPParser {
    /// Parses one header line (without its CRLF), read in place: per byte this is the client's hottest loop.
    static func parseField(
        _ line: UnsafeBufferPointer<UInt8>, into headers: inout HTTPHeaders, framing: inout HeadFraming
    ) throws {
        guard let first = line.first else { return }
        if first == 32 || first == 9 {
            throw TransportError(.httpMalformed, "the peer sent malformed HTTP: obsolete header line folding")
        }
        guard let colon = line.firstIndex(of: 58) else {
            throw TransportError(.httpMalformed, "the peer sent malformed HTTP: a header line without ':'")
        }
        let name = UnsafeBufferPointer(rebasing: line[0..<colon])
        guard !name.isEmpty, name.allSatisfy(HTTPSyntax.isTokenByte) else {
            throw TransportError(.httpMalformed, "the peer sent malformed HTTP: an invalid header name")
        }
        var start = colon + 1
        var end = line.count
        while start < end, line[start] == 32 || line[start] == 9 { start += 1 }
        while end > start, line[end - 1] == 32 || line[end - 1] == 9 { end -= 1 }
        let value = UnsafeBufferPointer(rebasing: line[start..<end])
        guard value.allSatisfy(HTTPSyntax.isFieldValueByte) else {
            throw TransportError(.httpMalformed, "the peer sent malformed HTTP: a control character in a header value")
        }
        framing.note(name: name, value: value)
        headers.add(name: HTTPKnownStrings.name(name) ?? String(decoding: name, as: UTF8.self),
                    value: HTTPKnownStrings.value(value) ?? String(decoding: value, as: UTF8.self))
    }

    static func parseVersion(_ bytes: ArraySlice<UInt8>) throws -> HTTPVersion {
        // "HTTP/1." and one digit, compared in place.
        if bytes.count == 8, bytes.starts(with: [72, 84, 84, 80, 47, 49, 46] as [UInt8]) {
            switch bytes[bytes.startIndex + 7] {
            case 49: return .http1_1
            case 48: return .http1_0
            default: break
            }
        }
        throw TransportError(
            .httpMalformed, "the peer sent malformed HTTP: unsupported version '\(String(decoding: bytes.prefix(16), as: UTF8.self))'")
    }

    static func parseRequestLine(_ line: ArraySlice<UInt8>, headers: HTTPHeaders) throws -> HTTPRequestHead {
        // method SP request-target SP HTTP-version, split in place.
        let firstSpace = line.firstIndex(of: 32) ?? line.endIndex
        let targetStart = Swift.min(firstSpace + 1, line.endIndex)
        let secondSpace = line[targetStart...].firstIndex(of: 32) ?? line.endIndex
        let method = line[line.startIndex..<firstSpace]
        let target = line[targetStart..<secondSpace]
        guard secondSpace < line.endIndex, !method.isEmpty, !target.isEmpty,
            method.allSatisfy(HTTPSyntax.isTokenByte), target.allSatisfy({ $0 > 32 && $0 != 127 })
        else {
            throw TransportError(.httpMalformed, "the peer sent malformed HTTP: an invalid request line")
        }
        let version = try parseVersion(line[(secondSpace + 1)...])
        return HTTPRequestHead(
            method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self),
            version: version, headers: headers)
    }

    static func parseStatusLine(_ line: ArraySlice<UInt8>, headers: HTTPHeaders) throws -> HTTPResponseHead {
        // HTTP-version SP 3DIGIT [SP reason-phrase], split in place.
        let firstSpace = line.firstIndex(of: 32) ?? line.endIndex
        let codeStart = min(firstSpace + 1, line.endIndex)
        let codeEnd = line[codeStart...].firstIndex(of: 32) ?? line.endIndex
        let code = line[codeStart..<codeEnd]
        guard firstSpace < line.endIndex, code.count == 3, code.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw TransportError(.httpMalformed, "the peer sent malformed HTTP: an invalid status line")
        }
        let version = try parseVersion(line[line.startIndex..<firstSpace])
        let status = code.reduce(0) { $0 * 10 + Int($1 - 48) }
        guard status >= 100 else {
            throw TransportError(.httpMalformed, "the peer sent malformed HTTP: status \(status)")
        }
        let reason = codeEnd < line.endIndex ? String(decoding: line[(codeEnd + 1)...], as: UTF8.self) : ""
        return HTTPResponseHead(status: status, reason: reason, version: version, headers: headers)
    }
}

/// What a head's fields say about the framing of its body, gathered while the fields are parsed, so that framing
/// the body takes no second pass over the headers (which cost more than parsing the fields themselves).
struct HeadFraming {
    /// The `Transfer-Encoding` codings, lowercased, in order (nil: no such field).
    var transferEncoding: [String]?
    /// The `Content-Length`, or the error its values make; nil when there is no such field. An error is thrown
    /// only if the body's framing depends on it (a 204 or a response to HEAD never asks).
    var contentLength: Result<Int, TransportError>?

    mutating func note(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        if HTTPSyntax.bytes(name, equalIgnoringCase: "content-length") {
            noteContentLength(value)
        } else if HTTPSyntax.bytes(name, equalIgnoringCase: "transfer-encoding") {
            var codings = transferEncoding ?? []
            HTTPSyntax.forEachListElement(value) { element in
                if !element.isEmpty { codings.append(String(decoding: element, as: UTF8.self).lowercased()) }
                return true
            }
            transferEncoding = codings
        }
    }

    private mutating func noteContentLength(_ value: UnsafeBufferPointer<UInt8>) {
        if case .failure = contentLength { return }  // the first error stands
        HTTPSyntax.forEachListElement(value) { digits in
            guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                contentLength = .failure(TransportError(.httpMalformed, "the peer sent malformed HTTP: an invalid "
                    + "Content-Length '\(String(decoding: digits.prefix(32), as: UTF8.self))'"))
                return false
            }
            // One value is the rule; a list of equal values (a proxy's merge) is allowed, different ones are not.
            let length = digits.reduce(0) { $0 * 10 + Int($1 - 48) }  // at most 18 digits: no overflow
            if case .success(let earlier) = contentLength, earlier != length {
                contentLength = .failure(TransportError(
                    .httpMalformed, "the peer sent malformed HTTP: conflicting Content-Length values"))
                return false
            }
            contentLength = .success(length)
            return true
        }
    }
}
