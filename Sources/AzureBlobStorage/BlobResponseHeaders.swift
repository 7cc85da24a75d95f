import ToolboxCore
import ToolboxTransport

/// Reading blob properties out of response headers, with checked conversions.
enum BlobResponseHeaders {
    /// Properties from the headers of a HEAD (or a GET, whose `Content-Range` total is the blob's size).
    static func properties(name: String, head: HTTPResponseHead) throws(ToolboxError) -> BlobProperties {
        let headers = head.headers
        let size: Int64
        if let range = headers.first(name: "Content-Range") {
            guard let parsed = ContentRange(parsing: range) else {
                throw ToolboxError(.invalidResponse, "the Content-Range '\(range.prefix(80))' of blob '\(name)' "
                    + "is not 'bytes START-END/TOTAL'")
            }
            size = parsed.total
        } else {
            let text = headers.first(name: "Content-Length") ?? "0"
            guard let length = Int64(text), length >= 0 else {
                throw ToolboxError(.invalidResponse, "the Content-Length '\(text.prefix(40))' of blob '\(name)' is "
                    + "not a size")
            }
            size = length
        }
        var metadata: [String: String] = [:]
        for (field, value) in headers where field.lowercased().hasPrefix("x-ms-meta-") {
            metadata[String(field.dropFirst("x-ms-meta-".count))] = value
        }
        return BlobProperties(
            name: name, size: size, etag: headers.first(name: "ETag") ?? "",
            lastModified: headers.first(name: "Last-Modified"), creationTime: headers.first(name: "x-ms-creation-time"),
            contentType: headers.first(name: "Content-Type"),
            contentMD5: headers.first(name: "x-ms-blob-content-md5")
                ?? (headers.contains(name: "Content-Range") ? nil : headers.first(name: "Content-MD5")),
            contentEncoding: headers.first(name: "Content-Encoding"),
            contentLanguage: headers.first(name: "Content-Language"),
            cacheControl: headers.first(name: "Cache-Control"),
            contentDisposition: headers.first(name: "Content-Disposition"),
            blobType: headers.first(name: "x-ms-blob-type"), accessTier: headers.first(name: "x-ms-access-tier"),
            metadata: metadata)
    }

    /// The result of a write (Put Blob, Put Block List, Put Blob From URL, Set Metadata).
    static func uploadResult(name: String, response: HTTPResponse, size: Int64, blockCount: Int) -> BlobUploadResult {
        let headers = response.headers
        return BlobUploadResult(
            name: name, etag: headers.first(name: "ETag") ?? "", lastModified: headers.first(name: "Last-Modified"),
            contentMD5: headers.first(name: "Content-MD5"), size: size, blockCount: blockCount,
            requestID: headers.first(name: "x-ms-request-id"), versionID: headers.first(name: "x-ms-version-id"),
            serverEncrypted: headers.first(name: "x-ms-request-server-encrypted").map { $0.lowercased() == "true" })
    }
}

/// `Content-Range: bytes START-END/TOTAL`, checked: 0 ≤ START ≤ END < TOTAL.
struct ContentRange: Equatable {
    let start: Int64
    let end: Int64
    let total: Int64

    init?(parsing text: String) {
        guard text.hasPrefix("bytes ") else { return nil }
        let rest = text.dropFirst(6)
        let halves = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2, let total = Int64(halves[1]) else { return nil }
        let bounds = halves[0].split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = Int64(bounds[0]), let end = Int64(bounds[1]),
              start >= 0, start <= end, end < total
        else { return nil }
        self.start = start
        self.end = end
        self.total = total
    }
}
