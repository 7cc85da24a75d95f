#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An incremental HTTP/1.1 parser for requests (server side) or responses (client side).
///
/// ```swift
/// var parser = HTTPParser(parsing: .responses)
/// for event in try parser.feed(bytes) {
///     switch event {
///     case .responseHead(let head): ...
///     case .body(let bytes): ...
///     case .end: ...
///     case .requestHead: break
///     }
/// }
/// ```
///
/// Feed bytes as they arrive, in pieces of any size; call `finish()` when the peer closes. Bodies are framed by
/// `Transfer-Encoding: chunked`, `Content-Length`, or (responses only) the end of the connection. Anything
/// malformed or over `limits` throws a `TransportError` with an `http…` code, after which the parser stays failed.
public struct HTTPParser: Sendable {
    public enum Kind: Sendable {
        case requests
        case responses
    }

    enum State: Sendable {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case failed(TransportError)
    }

    public let kind: Kind
    public let limits: HTTPParserLimits
    /// Set before the response to a HEAD request is parsed: such responses never have a body.
    public var nextResponseIsToHEAD = false

    private var state: State = .head
    private var buffer: [UInt8] = []
    private var position = 0
    /// The lines of the head being parsed, as ranges of `buffer` (kept there, not copied, until the head ends).
    private var headLines: [Range<Int>] = []
    private var headBytes = 0
    private var trailerBytes = 0
    private var bodyBytes = 0
    /// Bytes after `position` already searched for a line feed.
    private var scanned = 0

    public init(parsing kind: Kind, limits: HTTPParserLimits = HTTPParserLimits()) {
        self.kind = kind
        self.limits = limits
    }

    /// Whether the parser is between messages (nothing partial buffered).
    public var isIdle: Bool {
        if case .head = state { return headLines.isEmpty && position == buffer.count }
        return false
    }

    /// Parses what `bytes` completes and returns the events, in order.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws -> [HTTPParserEvent] {
        if case .failed(let error) = state { throw error }
        buffer.append(contentsOf: bytes)
        return try parseBuffered()
    }

    /// Parses what `bytes` completes and returns the events, in order. Bytes that lie wholly inside a body
    /// (nothing else buffered) are handed on as they are, without being copied through the parser's buffer.
    public mutating func feed(_ bytes: [UInt8]) throws -> [HTTPParserEvent] {
        if case .failed(let error) = state { throw error }
        if buffer.isEmpty, !bytes.isEmpty {
            switch state {
            case .fixedBody(let remaining) where bytes.count < remaining:
                state = .fixedBody(remaining: remaining - bytes.count)
                return [.body(bytes)]
            case .chunkData(let remaining) where bytes.count < remaining:
                state = .chunkData(remaining: remaining - bytes.count)
                return [.body(bytes)]
            default:
                break
            }
        }
        buffer.append(contentsOf: bytes)
        return try parseBuffered()
    }

    private mutating func parseBuffered() throws -> [HTTPParserEvent] {
        var events: [HTTPParserEvent] = []
        events.reserveCapacity(4)  // a head, a body, an end: one allocation, not three as the array grows
        do {
            while try step(&events) {}
        } catch let error as TransportError {
            state = .failed(error)
            buffer = []
            headLines = []
            position = 0
            scanned = 0
            throw error
        }
        // Keep only the unparsed tail, and the lines of a head still in progress (bounded by maxHeaderBytes).
        let keep = headLines.first?.lowerBound ?? position
        if keep > 0 {
            buffer.removeFirst(keep)
            position -= keep
            if !headLines.isEmpty { headLines = headLines.map { ($0.lowerBound - keep)..<($0.upperBound - keep) } }
        }
        return events
    }

    /// Tells the parser the peer closed; returns the final `.end` of a read-until-close body.
    ///
    /// - throws: `.httpTruncated` when the connection closed in the middle of a message.
    public mutating func finish() throws -> [HTTPParserEvent] {
        switch state {
        case .failed(let error):
            throw error
        case .untilClose:
            state = .head
            return [.end]
        case .head where headLines.isEmpty && position == buffer.count:
            return []
        default:
            let error = TransportError(.httpTruncated, "the peer closed the connection in the middle of a message")
            state = .failed(error)
            throw error
        }
    }

    // MARK: Steps

    /// Emits up to `remaining` buffered body bytes (of a fixed-length body or a chunk) and returns how many;
    /// nil when no byte is buffered.
    private mutating func takeBody(upTo remaining: Int, _ events: inout [HTTPParserEvent]) -> Int? {
        let available = buffer.count - position
        if available == 0 { return nil }
        let n = min(available, remaining)
        events.append(.body(Array(buffer[position..<(position + n)])))
        position += n
        return n
    }

    /// Makes progress on the buffered bytes; returns false when it needs more input.
    private mutating func step(_ events: inout [HTTPParserEvent]) throws -> Bool {
        switch state {
        case .failed(let error):
            throw error
        case .head:
            guard let line = try nextLine(limit: limits.maxLineLength, what: "header line") else { return false }
            return try headLine(line, &events)
        case .fixedBody(let remaining):
            guard let n = takeBody(upTo: remaining, &events) else { return false }
            if n == remaining {
                endMessage(&events)
            } else {
                state = .fixedBody(remaining: remaining - n)
            }
            return true
        case .chunkSize:
            guard let line = try nextLine(limit: 1024, what: "chunk-size line") else { return false }
            let size = try parseChunkSize(line)
            if size == 0 {
                state = .trailers
                trailerBytes = 0
            } else {
                try countBody(size)
                state = .chunkData(remaining: size)
            }
            return true
        case .chunkData(let remaining):
            guard let n = takeBody(upTo: remaining, &events) else { return false }
            state = n == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - n)
            return true
        case .chunkDataEnd:
            guard let line = try nextLine(limit: 2, what: "chunk terminator") else { return false }
            if !line.isEmpty { throw malformed("chunk data is longer than its declared size") }
            state = .chunkSize
            return true
        case .trailers:
            guard let line = try nextLine(limit: limits.maxLineLength, what: "trailer line") else { return false }
            if line.isEmpty {
                endMessage(&events)
                return true
            }
            trailerBytes += line.count
            if trailerBytes > limits.maxHeaderBytes {
                throw TransportError(.httpHeadersTooLarge, "the chunked trailer section exceeds \(limits.maxHeaderBytes) bytes")
            }
            return true
        case .untilClose:
            let available = buffer.count - position
            if available == 0 { return false }
            try countBody(available)
            events.append(.body(Array(buffer[position...])))
            position = buffer.count
            return true
        }
    }

    /// The next line without its CRLF (or bare LF), or nil when no full line is buffered yet.
    private mutating func nextLine(limit: Int, what: String) throws -> ArraySlice<UInt8>? {
        let searchEnd = min(buffer.count, position + limit + 2)
        // Resume where the last search stopped: a line trickling in byte by byte must not be rescanned from
        // its start every time (quadratic work for a slow peer).
        let from = position + scanned
        let index = from < searchEnd ? HTTPParser.index(of: 10, in: buffer, from: from, to: searchEnd) : searchEnd
        if index >= searchEnd {
            scanned = index - position
            if buffer.count - position > limit + 1 {
                throw TransportError(
                    .httpLineTooLong, "a \(what) is longer than \(limit) bytes; raise HTTPParserLimits.maxLineLength "
                        + "if the peer is legitimate")
            }
            return nil
        }
        scanned = 0
        var end = index
        if end > position, buffer[end - 1] == 13 { end -= 1 }
        let start = position
        position = index + 1
        if HTTPParser.index(of: 13, in: buffer, from: start, to: end) < end {
            throw malformed("a bare CR inside a line")
        }
        return buffer[start..<end]
    }

    /// Where `byte` first is in `bytes[from..<to]` (`to` when absent), found by `memchr` many bytes at a time.
    private static func index(of byte: UInt8, in bytes: [UInt8], from: Int, to: Int) -> Int {
        bytes.withUnsafeBufferPointer { buffer -> Int in
            guard let base = buffer.baseAddress, from < to else { return to }
            guard let found = memchr(base + from, Int32(byte), to - from) else { return to }
            return UnsafeRawPointer(found) - UnsafeRawPointer(base)
        }
    }

    private mutating func headLine(_ line: ArraySlice<UInt8>, _ events: inout [HTTPParserEvent]) throws -> Bool {
        if line.isEmpty {
            // RFC 9112 §2.2: ignore empty lines before a request line.
            if headLines.isEmpty { return true }
            try completeHead(&events)
            return true
        }
        headBytes += line.count + 2
        if headBytes > limits.maxHeaderBytes {
            throw TransportError(
                .httpHeadersTooLarge, "the header section exceeds \(limits.maxHeaderBytes) bytes; raise "
                    + "HTTPParserLimits.maxHeaderBytes if the peer is legitimate")
        }
        if headLines.count > limits.maxHeaderCount {
            throw TransportError(.httpHeadersTooLarge, "more than \(limits.maxHeaderCount) header fields")
        }
        headLines.append(line.startIndex..<line.endIndex)
        return true
    }

    private mutating func completeHead(_ events: inout [HTTPParserEvent]) throws {
        // The lines are read in place and the array keeps its room for the next head (rebuilding it cost five
        // allocations per response as it grew).
        defer { headLines.removeAll(keepingCapacity: true) }
        headBytes = 0
        bodyBytes = 0
        var headers = HTTPHeaders(capacity: headLines.count - 1)
        var framing = HeadFraming()
        try buffer.withUnsafeBufferPointer { bytes in
            for line in headLines.dropFirst() {
                try HTTPParser.parseField(UnsafeBufferPointer(rebasing: bytes[line]), into: &headers, framing: &framing)
            }
        }
        switch kind {
        case .requests:
            let head = try HTTPParser.parseRequestLine(buffer[headLines[0]], headers: headers)
            events.append(.requestHead(head))
            try frameRequestBody(framing, &events)
        case .responses:
            let head = try HTTPParser.parseStatusLine(buffer[headLines[0]], headers: headers)
            events.append(.responseHead(head))
            if head.isInformational {
                if head.status == 101 { throw malformed("protocol upgrades (101) are not supported") }
                return  // the final response follows
            }
            let toHEAD = nextResponseIsToHEAD
            nextResponseIsToHEAD = false
            if toHEAD || head.status == 204 || head.status == 304 {
                endMessage(&events)
            } else {
                try frameResponseBody(head, framing, &events)
            }
        }
    }

    private mutating func frameRequestBody(_ framing: HeadFraming, _ events: inout [HTTPParserEvent]) throws {
        if let transferEncoding = framing.transferEncoding {
            // Both framings at once is the classic request-smuggling vector (RFC 9112 §6.3): refuse it.
            if framing.contentLength != nil {
                throw malformed("a request with both Transfer-Encoding and Content-Length")
            }
            guard transferEncoding.last == "chunked" else {
                throw malformed("a request Transfer-Encoding that does not end in chunked")
            }
            state = .chunkSize
            return
        }
        if let length = try framing.contentLength?.get(), length > 0 {
            try countBody(length)
            state = .fixedBody(remaining: length)
            return
        }
        endMessage(&events)
    }

    private mutating func frameResponseBody(
        _ head: HTTPResponseHead, _ framing: HeadFraming, _ events: inout [HTTPParserEvent]
    ) throws {
        if let transferEncoding = framing.transferEncoding {
            state = transferEncoding.last == "chunked" ? .chunkSize : .untilClose
            return
        }
        if let length = try framing.contentLength?.get() {
            if length == 0 {
                endMessage(&events)
            } else {
                try countBody(length)
                state = .fixedBody(remaining: length)
            }
            return
        }
        state = .untilClose
    }

    private mutating func endMessage(_ events: inout [HTTPParserEvent]) {
        events.append(.end)
        state = .head
    }

    private mutating func countBody(_ count: Int) throws {
        let (total, overflow) = bodyBytes.addingReportingOverflow(count)
        if overflow || total > limits.maxBodyBytes {
            throw TransportError(
                .httpBodyTooLarge, "the body exceeds \(limits.maxBodyBytes) bytes; raise "
                    + "HTTPParserLimits.maxBodyBytes or stream the body")
        }
        bodyBytes = total
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>) throws -> Int {
        var size = 0
        var digits = 0
        for byte in line {
            let value: Int
            switch byte {
            case 48...57: value = Int(byte - 48)
            case 65...70: value = Int(byte - 55)
            case 97...102: value = Int(byte - 87)
            case 59, 32, 9:  // ';' starts extensions, which we ignore; whitespace may precede it
                if digits == 0 { throw malformed("a chunk-size line without a size") }
                return size
            default:
                throw malformed("an invalid chunk-size line")
            }
            digits += 1
            if digits > 15 { throw malformed("a chunk size with more than 15 hex digits") }
            size = size * 16 + value
        }
        if digits == 0 { throw malformed("an empty chunk-size line") }
        return size
    }

    private func malformed(_ what: String) -> TransportError {
        TransportError(.httpMalformed, "the peer sent malformed HTTP: \(what)")
    }
}
