import AzureAuth
import ToolboxCore

/// What the service says about a blob: size, ETag, dates, content settings and metadata.
public struct BlobProperties: Sendable, Equatable {
    /// The blob's name in its container.
    public var name: String
    /// Bytes in the whole blob (`Content-Length` of a HEAD, the total of a ranged GET's `Content-Range`).
    public var size: Int64
    /// The entity tag, quotes included as the service sends it (`"0x8D…"`): pass it back in `ifMatch`.
    public var etag: String
    /// `Last-Modified`, RFC 1123 as sent (`Wed, 25 Nov 2026 20:16:35 GMT`).
    public var lastModified: String?
    /// `x-ms-creation-time`, RFC 1123 as sent.
    public var creationTime: String?
    public var contentType: String?
    /// The whole blob's MD5 (`Content-MD5` or `x-ms-blob-content-md5`), base64, when the service has one.
    public var contentMD5: String?
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var cacheControl: String?
    public var contentDisposition: String?
    /// `BlockBlob`, `AppendBlob` or `PageBlob`.
    public var blobType: String?
    public var accessTier: String?
    /// User metadata (`x-ms-meta-<name>` headers), names as the service returned them.
    public var metadata: [String: String]

    public init(name: String, size: Int64, etag: String, lastModified: String? = nil, creationTime: String? = nil,
                contentType: String? = nil, contentMD5: String? = nil, contentEncoding: String? = nil,
                contentLanguage: String? = nil, cacheControl: String? = nil, contentDisposition: String? = nil,
                blobType: String? = nil, accessTier: String? = nil, metadata: [String: String] = [:]) {
        self.name = name
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.creationTime = creationTime
        self.contentType = contentType
        self.contentMD5 = contentMD5
        self.contentEncoding = contentEncoding
        self.contentLanguage = contentLanguage
        self.cacheControl = cacheControl
        self.contentDisposition = contentDisposition
        self.blobType = blobType
        self.accessTier = accessTier
        self.metadata = metadata
    }

    /// `lastModified` as UNIX seconds, when it parses.
    public var lastModifiedUnixSeconds: Int? { lastModified.flatMap(HTTPDate.parseRFC1123) }
}

/// One page of a listing: the blobs and the marker of the next page (nil on the last page).
public struct BlobListPage: Sendable, Equatable {
    public var blobs: [BlobProperties]
    /// Opaque; pass it as `marker` to get the next page.
    public var nextMarker: String?

    public init(blobs: [BlobProperties], nextMarker: String?) {
        self.blobs = blobs
        self.nextMarker = nextMarker
    }
}

/// The markers one listing has asked with, so that a page naming one of them again is caught: a server answering
/// markers in a cycle (A → B → A …) would make a listing that follows them ask forever.
///
/// ```swift
/// var markers = BlobListingMarkers(start: nil)
/// repeat {
///     let page = try blobs.listBlobs(marker: markers.current)
///     let next = try markers.advance(past: page)   // before using page.blobs: a loop's page was listed already
///     use(page.blobs)
/// } while markers.current != nil
/// ```
package struct BlobListingMarkers: Sendable {
    /// SHA-256 of every marker asked with (a marker is opaque and may be long; 32 bytes each are kept).
    private var seen: Set<[UInt8]> = []
    /// The marker to ask with next: nil for the first page, and after the last.
    package private(set) var current: String?
    /// Pages advanced past.
    package private(set) var pages = 0

    /// `start`: the marker the listing starts from (nil: the first page).
    package init(start: String?) {
        current = start
        if let start, !start.isEmpty { seen.insert(AuthCrypto.sha256(Array(start.utf8))) }
    }

    /// Takes `page`, the answer to `current`: returns its next marker (nil at the end), which becomes `current`.
    /// A next marker this listing has asked with already is `.invalidResponse`: following it would repeat pages
    /// forever, so call this before using the page's blobs.
    package mutating func advance(past page: BlobListPage) throws(ToolboxError) -> String? {
        pages += 1
        guard let next = page.nextMarker, !next.isEmpty else {
            current = nil
            return nil
        }
        let digest = AuthCrypto.sha256(Array(next.utf8))
        guard seen.insert(digest).inserted else {
            throw ToolboxError(.invalidResponse, "the blob listing's page \(pages) named marker '\(next.prefix(80))', "
                + "which this listing had already followed; following it again would repeat pages forever")
        }
        current = next
        return next
    }
}

/// What an upload (single put, block list commit, put from URL, metadata change) returned.
public struct BlobUploadResult: Sendable, Equatable {
    public var name: String
    /// The new ETag.
    public var etag: String
    public var lastModified: String?
    /// `Content-MD5` the service computed or stored, base64.
    public var contentMD5: String?
    /// Bytes uploaded (0 for a put from URL, whose size the service does not return).
    public var size: Int64
    /// How many blocks were staged (0 for a single put).
    public var blockCount: Int
    public var requestID: String?
    public var versionID: String?
    /// `x-ms-request-server-encrypted`.
    public var serverEncrypted: Bool?

    public init(name: String, etag: String, lastModified: String? = nil, contentMD5: String? = nil, size: Int64 = 0,
                blockCount: Int = 0, requestID: String? = nil, versionID: String? = nil,
                serverEncrypted: Bool? = nil) {
        self.name = name
        self.etag = etag
        self.lastModified = lastModified
        self.contentMD5 = contentMD5
        self.size = size
        self.blockCount = blockCount
        self.requestID = requestID
        self.versionID = versionID
        self.serverEncrypted = serverEncrypted
    }
}

/// A blob downloaded into memory.
public struct BlobDownloadResult: Sendable, Equatable {
    /// Properties of the blob (the size is the whole blob's, even for a ranged download).
    public var properties: BlobProperties
    /// The bytes asked for: the whole blob, or the range.
    public var content: [UInt8]

    public init(properties: BlobProperties, content: [UInt8]) {
        self.properties = properties
        self.content = content
    }
}

/// A blob downloaded to a file.
public struct BlobFileDownloadResult: Sendable, Equatable {
    public var properties: BlobProperties
    /// Bytes written to the file (the range's length for a ranged download).
    public var bytesWritten: Int64
    public var path: String

    public init(properties: BlobProperties, bytesWritten: Int64, path: String) {
        self.properties = properties
        self.bytesWritten = bytesWritten
        self.path = path
    }
}

/// Bytes of a blob: from `offset`, `length` of them (nil: to the end).
public struct BlobRange: Sendable, Equatable {
    public var offset: Int64
    public var length: Int64?

    /// - Precondition-free: invalid values (negative, zero length) are refused by the operation with
    ///   `.invalidArgument`.
    public init(offset: Int64, length: Int64? = nil) {
        self.offset = offset
        self.length = length
    }
}

/// Conditions a request holds only if the blob is (or is not) in a given state; a failed condition gives
/// `.preconditionFailed` (412), or `.notModified` (304) for a read with `ifNoneMatch`.
public struct BlobRequestConditions: Sendable, Equatable {
    /// `If-Match`: an ETag (or `*`: the blob exists).
    public var ifMatch: String?
    /// `If-None-Match`: an ETag (or `*`: the blob must not exist).
    public var ifNoneMatch: String?
    /// `If-Modified-Since`, UNIX seconds.
    public var ifModifiedSince: Int?
    /// `If-Unmodified-Since`, UNIX seconds.
    public var ifUnmodifiedSince: Int?

    public init(ifMatch: String? = nil, ifNoneMatch: String? = nil, ifModifiedSince: Int? = nil,
                ifUnmodifiedSince: Int? = nil) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
        self.ifModifiedSince = ifModifiedSince
        self.ifUnmodifiedSince = ifUnmodifiedSince
    }

    var headers: [(String, String)] {
        var fields: [(String, String)] = []
        if let ifMatch { fields.append(("If-Match", ifMatch)) }
        if let ifNoneMatch { fields.append(("If-None-Match", ifNoneMatch)) }
        if let ifModifiedSince { fields.append(("If-Modified-Since", HTTPDate.rfc1123(ifModifiedSince))) }
        if let ifUnmodifiedSince { fields.append(("If-Unmodified-Since", HTTPDate.rfc1123(ifUnmodifiedSince))) }
        return fields
    }
}

/// Progress of an upload or download: bytes done so far and the total when known.
public struct BlobTransferProgress: Sendable, Equatable {
    public var bytesTransferred: Int64
    /// nil while the total is not known (a stream of unknown length, before a download's first answer).
    public var totalBytes: Int64?

    public init(bytesTransferred: Int64, totalBytes: Int64?) {
        self.bytesTransferred = bytesTransferred
        self.totalBytes = totalBytes
    }
}

/// A SAS for one blob: the query string, the full URL and when it expires.
public struct BlobSAS: Sendable, Equatable, CustomStringConvertible {
    public var blobName: String
    /// The query string, without `?` (it is a credential: do not log it).
    public var token: Secret<String>
    /// The blob URL with the token (a credential too).
    public var url: Secret<String>
    /// UNIX seconds.
    public var expiresOn: Int

    public init(blobName: String, token: Secret<String>, url: Secret<String>, expiresOn: Int) {
        self.blobName = blobName
        self.token = token
        self.url = url
        self.expiresOn = expiresOn
    }

    public var description: String { "BlobSAS(blob: \(blobName), expiresOn: \(expiresOn), token: <redacted>)" }
}

/// What kind of SAS to sign.
public struct BlobSASOptions: Sendable {
    /// Permission letters in the service's order (`r`, `rw`, `racwd`). Default `r` (read-only), as the Python
    /// toolbox hands out.
    public var permissions = "r"
    /// How long the SAS is valid. Default one hour; at most seven days for a user delegation SAS (its key's
    /// limit), ten years for one signed with the account key.
    public var expiresIn: Duration = .seconds(3600)
    /// Sign with a user delegation key fetched with the client's `TokenCredential` even when an account key is
    /// available. Without an account key (token credential) a user delegation key is always used.
    public var useUserDelegationKey = false
    /// `spr`: `https` or `https,http`; nil leaves it out.
    public var signedProtocol: String?

    public init() {}
}

extension ToolboxError.Code {
    /// 416: the range starts past the end of the blob.
    public static let rangeNotSatisfiable = Self("rangeNotSatisfiable")
    /// The bytes received do not match the MD5 or length the service announced.
    public static let integrityCheckFailed = Self("integrityCheckFailed", defaultRecovery: .retry)
}
