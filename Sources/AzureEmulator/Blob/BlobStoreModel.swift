import Foundation

/// The values Blob Storage keeps per container and blob, and the error every operation answers with.

/// A Blob Storage error as the service reports it: HTTP status, the `x-ms-error-code` (`BlobNotFound`,
/// `ConditionNotMet`, `AuthenticationFailed` …) and a message safe to show (it never contains a key or token).
struct BlobError: Error, Sendable, Equatable {
    var status: Int
    var code: String
    var message: String
    /// Extra headers the error carries (e.g. `WWW-Authenticate`).
    var headers: [String: String] = [:]

    init(_ status: Int, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func containerNotFound() -> BlobError { BlobError(404, "ContainerNotFound", "The specified container does not exist.") }
    static func blobNotFound() -> BlobError { BlobError(404, "BlobNotFound", "The specified blob does not exist.") }
    static func conditionNotMet() -> BlobError {
        BlobError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
    }
    static func invalidHeader(_ name: String, _ why: String) -> BlobError {
        BlobError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format: \(name): \(why)")
    }
    static func invalidQuery(_ name: String, _ why: String) -> BlobError {
        BlobError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid: \(name): \(why)")
    }
}

/// A blob's content headers (`x-ms-blob-content-*` on writes, the standard headers on reads).
struct BlobContentSettings: Sendable, Equatable {
    var contentType = "application/octet-stream"
    var contentEncoding: String?
    var contentLanguage: String?
    var contentDisposition: String?
    var cacheControl: String?
    /// The MD5 the blob was stored with: computed for Put Blob, given (`x-ms-blob-content-md5`) for Put Block List.
    var contentMD5: [UInt8]?
}

/// One block of a block blob. Its bytes are shared (copy-on-write) between the uncommitted list, the committed
/// list and any reader streaming it, never copied whole.
struct BlobBlock: Sendable {
    let id: String
    let bytes: [UInt8]
}

/// A committed block blob.
struct StoredBlob: Sendable {
    var blocks: [BlobBlock]
    var size: Int
    var content: BlobContentSettings
    /// `x-ms-meta-*` pairs, names as the client spelled them, in the order given.
    var metadata: [(name: String, value: String)]
    var etag: String
    var created: Int
    var lastModified: Int
}

/// Blocks put for a blob but not yet committed by Put Block List.
struct UncommittedBlocks: Sendable {
    /// Block ids in the order they were first put (Get Block List answers in this order).
    var order: [String] = []
    var blocks: [String: [UInt8]] = [:]
    var bytes = 0

    /// Keeps `bytes` as block `id`, replacing one of `replaced` bytes with that id (it keeps its place in `order`).
    mutating func put(_ id: String, _ bytes: [UInt8], replacing replaced: Int) {
        if blocks.updateValue(bytes, forKey: id) == nil { order.append(id) }
        self.bytes += bytes.count - replaced
    }
}

struct StoredContainer: Sendable {
    var etag: String
    var created: Int
    var lastModified: Int
    var metadata: [(name: String, value: String)]
    var blobs: [String: StoredBlob] = [:]
    var uncommitted: [String: UncommittedBlocks] = [:]
}

/// `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` of one request.
struct BlobConditions: Sendable, Equatable {
    var ifMatch: String?
    var ifNoneMatch: String?
    var ifModifiedSince: Int?
    var ifUnmodifiedSince: Int?

    enum Kind {
        /// GET/HEAD: a failed `If-None-Match`/`If-Modified-Since` gives 304.
        case read
        /// Writes and deletes: every failed condition gives 412, except `If-None-Match: *` on an existing
        /// blob, which Azure answers with 409 `BlobAlreadyExists`.
        case write
    }

    var isEmpty: Bool { self == BlobConditions() }

    /// Why the request may not proceed on a resource with `etag` and `lastModified` (nil etag: it does not exist).
    func failure(etag: String?, lastModified: Int?, kind: Kind, existsCode: String = "BlobAlreadyExists") -> BlobError? {
        guard let etag, let lastModified else {
            return ifMatch != nil && kind == .write ? .conditionNotMet() : nil
        }
        if let ifMatch, !Self.matches(ifMatch, etag: etag) { return .conditionNotMet() }
        if let ifUnmodifiedSince, lastModified > ifUnmodifiedSince { return .conditionNotMet() }
        if let ifNoneMatch, Self.matches(ifNoneMatch, etag: etag) {
            switch kind {
            case .read: return BlobError(304, "ConditionNotMet", "Not modified.")
            case .write:
                if ifNoneMatch.trimmingCharacters(in: .whitespaces) == "*" {
                    return BlobError(409, existsCode, existsCode == "BlobAlreadyExists"
                        ? "The specified blob already exists." : "The specified resource already exists.")
                }
                return .conditionNotMet()
            }
        }
        if let ifModifiedSince, lastModified <= ifModifiedSince {
            return kind == .read ? BlobError(304, "ConditionNotMet", "Not modified.") : .conditionNotMet()
        }
        return nil
    }

    /// Whether an `If-Match`/`If-None-Match` list (`*`, or comma-separated ETags, weak or strong) names `etag`.
    static func matches(_ list: String, etag: String) -> Bool {
        let wanted = strip(etag)
        for item in list.split(separator: ",") {
            let candidate = item.trimmingCharacters(in: .whitespaces)
            if candidate == "*" || strip(candidate) == wanted { return true }
        }
        return false
    }

    private static func strip(_ tag: String) -> String {
        var tag = Substring(tag)
        if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
        if tag.hasPrefix("\""), tag.hasSuffix("\""), tag.count >= 2 { tag = tag.dropFirst().dropLast() }
        return String(tag)
    }
}
