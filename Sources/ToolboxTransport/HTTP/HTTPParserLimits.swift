/// Bounds on what an `HTTPParser` accepts, so a hostile or broken peer cannot make it buffer without limit.
///
/// The defaults suit Azure's REST APIs (long SAS query strings, dozens of `x-ms-*` headers) with room to spare.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Longest start line or header line, in bytes.
    public var maxLineLength = 16 * 1024
    /// Largest header section (all lines together), in bytes.
    public var maxHeaderBytes = 64 * 1024
    /// Most header fields in one message.
    public var maxHeaderCount = 256
    /// Largest body of one message; `Int.max` for no limit (streaming consumers bound their own memory).
    public var maxBodyBytes = Int.max

    public init() {}

    public init(maxLineLength: Int, maxHeaderBytes: Int, maxHeaderCount: Int, maxBodyBytes: Int = Int.max) {
        self.maxLineLength = maxLineLength
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// What an `HTTPParser` found in the bytes it was fed.
public enum HTTPParserEvent: Sendable, Equatable {
    case requestHead(HTTPRequestHead)
    /// A response head; informational (1xx) heads are followed by another head for the same request.
    case responseHead(HTTPResponseHead)
    /// A piece of the body (already de-chunked).
    case body([UInt8])
    /// The message is complete; the parser is ready for the next one.
    case end
}
