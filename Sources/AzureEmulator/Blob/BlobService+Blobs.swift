import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// Block blob operations: writes (Put Blob, Put Block, Put Block List, properties, metadata) and reads (Get Blob
/// whole or ranged, HEAD, Get Block List).
extension BlobService {
    func putBlob(_ container: String, _ blob: String, _ request: EmulatorHTTPRequest, _ responder: BlobResponder) -> HTTPServerResponse {
        let type = request.header("x-ms-blob-type") ?? ""
        guard type == "BlockBlob" else {
            return responder.error(type.isEmpty
                ? BlobError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type.")
                : BlobError(400, "InvalidHeaderValue", "The emulator serves block blobs only (x-ms-blob-type: BlockBlob), not '\(type.prefix(32))'."))
        }
        if request.body.count > store.maxBlobBytes { return responder.error(store.blobTooLarge(request.body.count)) }
        let md5 = AuthCrypto.md5(request.body)
        if let header = request.header("Content-MD5") {
            guard let given = AuthCrypto.base64Decode(header), given.count == 16 else {
                return responder.error(.invalidHeader("Content-MD5", "not the base64 of 16 bytes"))
            }
            if given != md5 { return responder.error(Self.md5Mismatch()) }
        }
        var content: BlobContentSettings
        switch Self.contentSettings(request, standardHeadersToo: true) {
        case .success(let settings): content = settings
        case .failure(let error): return responder.error(error)
        }
        if let declared = content.contentMD5, declared != md5 { return responder.error(Self.md5Mismatch()) }
        content.contentMD5 = md5
        let metadata: [(name: String, value: String)]
        switch Self.metadata(request) {
        case .success(let pairs): metadata = pairs
        case .failure(let error): return responder.error(error)
        }
        let blocks = request.body.isEmpty ? [] : [BlobBlock(id: "", bytes: request.body)]
        switch store.putBlob(container, blob, blocks: blocks, content: content, metadata: metadata, conditions: Self.conditions(request)) {
        case .success(let stored):
            return responder.respond(201, Self.writeHeaders(stored) + [("Content-MD5", AuthCrypto.base64(md5))])
        case .failure(let error):
            return responder.error(error)
        }
    }

    func putBlock(_ container: String, _ blob: String, _ request: EmulatorHTTPRequest, _ responder: BlobResponder) -> HTTPServerResponse {
        guard let id = request.queryValue("blockid"), !id.isEmpty else {
            return responder.error(BlobError(400, "MissingRequiredQueryParameter",
                                             "A query parameter that's mandatory for this request is not specified: blockid."))
        }
        if request.header("x-ms-copy-source") != nil {
            return responder.error(BlobError(400, "UnsupportedHeader", "The emulator does not serve Put Block From URL (x-ms-copy-source on comp=block)."))
        }
        let md5: [UInt8]?
        switch Self.checkContentMD5(request, body: request.body) {
        case .success(let computed): md5 = computed
        case .failure(let error): return responder.error(error)
        }
        switch store.putBlock(container, blob, id: id, bytes: request.body) {
        case .success:
            var headers: [(String, String)] = [("x-ms-request-server-encrypted", "true")]
            if let md5 { headers.append(("Content-MD5", AuthCrypto.base64(md5))) }
            return responder.respond(201, headers)
        case .failure(let error):
            return responder.error(error)
        }
    }

    func putBlockList(_ container: String, _ blob: String, _ request: EmulatorHTTPRequest, _ responder: BlobResponder) -> HTTPServerResponse {
        let root: BlobXMLElement
        switch BlobXMLReader.parse(request.body) {
        case .success(let element): root = element
        case .failure(let error): return responder.error(error)
        }
        guard root.name == "BlockList" else {
            return responder.error(BlobError(400, "InvalidXmlDocument", "XML specified is not syntactically valid: the root element must be BlockList."))
        }
        var list: [(source: BlobStore.BlockSource, id: String)] = []
        list.reserveCapacity(root.children.count)
        for child in root.children {
            let source: BlobStore.BlockSource
            switch child.name {
            case "Latest": source = .latest
            case "Committed": source = .committed
            case "Uncommitted": source = .uncommitted
            default:
                return responder.error(BlobError(400, "InvalidXmlNodeValue", "The value for one of the XML nodes is not in the correct format: unknown element '\(child.name.prefix(32))'."))
            }
            list.append((source, child.text))
        }
        let content: BlobContentSettings
        switch Self.contentSettings(request, standardHeadersToo: false) {
        case .success(let settings): content = settings
        case .failure(let error): return responder.error(error)
        }
        let metadata: [(name: String, value: String)]
        switch Self.metadata(request) {
        case .success(let pairs): metadata = pairs
        case .failure(let error): return responder.error(error)
        }
        switch store.commitBlockList(container, blob, list: list, content: content, metadata: metadata, conditions: Self.conditions(request)) {
        case .success(let stored): return responder.respond(201, Self.writeHeaders(stored))
        case .failure(let error): return responder.error(error)
        }
    }

    func getBlockList(_ container: String, _ blob: String, _ request: EmulatorHTTPRequest, _ responder: BlobResponder) -> HTTPServerResponse {
        let type = (request.queryValue("blocklisttype") ?? "committed").lowercased()
        guard ["committed", "uncommitted", "all"].contains(type) else {
            return responder.error(.invalidQuery("blocklisttype", "must be committed, uncommitted or all"))
        }
        switch store.blockList(container, blob, conditions: Self.conditions(request)) {
        case .failure(let error):
            return responder.error(error)
        case .success(let lists):
            var xml = #"<?xml version="1.0" encoding="utf-8"?><BlockList>"#
            if type != "uncommitted" {
                xml += "<CommittedBlocks>"
                for block in lists.blob?.blocks ?? [] {
                    xml += "<Block><Name>\(BlobXML.escape(block.id))</Name><Size>\(block.bytes.count)</Size></Block>"
                }
                xml += "</CommittedBlocks>"
            }
            if type != "committed" {
                xml += "<UncommittedBlocks>"
                for block in lists.uncommitted {
                    xml += "<Block><Name>\(BlobXML.escape(block.id))</Name><Size>\(block.size)</Size></Block>"
                }
                xml += "</UncommittedBlocks>"
            }
            xml += "</BlockList>"
            var headers: [(String, String)] = []
            if let stored = lists.blob {
                headers = [("ETag", stored.etag), ("Last-Modified", UTCDate.rfc1123(stored.lastModified)),
                           ("x-ms-blob-content-length", String(stored.size))]
            }
            return responder.xml(200, xml, headers)
        }
    }

    /// Get Blob (streamed, whole or ranged), Get Blob Properties (HEAD) and Get Blob Metadata.
    func getBlob(_ operation: BlobOperation, _ container: String, _ blob: String, _ request: EmulatorHTTPRequest,
                 _ responder: BlobResponder) -> HTTPServerResponse {
        let stored: StoredBlob
        switch store.blob(container, blob, conditions: Self.conditions(request)) {
        case .success(let found): stored = found
        case .failure(let error): return responder.error(error)
        }
        if operation == .getBlobMetadata {
            return responder.respond(200, [("ETag", stored.etag), ("Last-Modified", UTCDate.rfc1123(stored.lastModified))]
                + stored.metadata.map { ("x-ms-meta-\($0.name)", $0.value) })
        }
        var headers = Self.propertyHeaders(stored)
        let rangeText = request.header("x-ms-range") ?? request.header("Range")
        guard operation == .getBlob, let rangeText else {
            headers.append(("Content-Length", String(stored.size)))
            if let md5 = stored.content.contentMD5 { headers.append(("Content-MD5", AuthCrypto.base64(md5))) }
            if operation == .getBlobProperties { return responder.respond(200, headers) }
            let stream = BlobContentStream(blocks: stored.blocks, range: 0...max(0, stored.size - 1))
            let body: HTTPServerResponse.Body = stored.size == 0 ? .bytes([]) : .stream(contentLength: stored.size, next: { stream.next() })
            return responder.respond(200, headers, body: body)
        }
        guard let range = BlobRange.parse(rangeText) else {
            return responder.error(.invalidHeader(request.header("x-ms-range") != nil ? "x-ms-range" : "Range",
                                                  "must be bytes=<start>-[<end>]"))
        }
        let bounds: ClosedRange<Int>
        switch range.bounds(size: stored.size) {
        case .success(let found): bounds = found
        case .failure(let error): return responder.error(error)
        }
        headers.append(("Content-Range", "bytes \(bounds.lowerBound)-\(bounds.upperBound)/\(stored.size)"))
        if let md5 = stored.content.contentMD5 { headers.append(("x-ms-blob-content-md5", AuthCrypto.base64(md5))) }
        let stream = BlobContentStream(blocks: stored.blocks, range: bounds)
        if request.header("x-ms-range-get-content-md5")?.lowercased() == "true" {
            guard bounds.count <= 4 << 20 else {
                return responder.error(BlobError(400, "OutOfRangeInput",
                                                 "x-ms-range-get-content-md5 needs a range of at most 4 MiB."))
            }
            let bytes = stream.collect()
            headers.append(("Content-MD5", AuthCrypto.base64(AuthCrypto.md5(bytes))))
            return responder.respond(206, headers, body: .bytes(bytes))
        }
        return responder.respond(206, headers, body: .stream(contentLength: bounds.count, next: { stream.next() }))
    }

    /// Set Blob Metadata and Set Blob Properties (content headers; those not sent are cleared, as on Azure).
    func updateBlob(_ operation: BlobOperation, _ container: String, _ blob: String, _ request: EmulatorHTTPRequest,
                    _ responder: BlobResponder) -> HTTPServerResponse {
        let change: (inout StoredBlob) -> Void
        if operation == .setBlobMetadata {
            switch Self.metadata(request) {
            case .success(let pairs): change = { $0.metadata = pairs }
            case .failure(let error): return responder.error(error)
            }
        } else {
            switch Self.contentSettings(request, standardHeadersToo: false) {
            case .success(let settings):
                change = { blob in
                    let md5 = blob.content.contentMD5
                    blob.content = settings
                    if settings.contentMD5 == nil { blob.content.contentMD5 = md5 }
                }
            case .failure(let error): return responder.error(error)
            }
        }
        switch store.updateBlob(container, blob, conditions: Self.conditions(request), change) {
        case .success(let stored): return responder.respond(200, Self.writeHeaders(stored))
        case .failure(let error): return responder.error(error)
        }
    }

    static func writeHeaders(_ blob: StoredBlob) -> [(String, String)] {
        [("ETag", blob.etag), ("Last-Modified", UTCDate.rfc1123(blob.lastModified)), ("x-ms-request-server-encrypted", "true")]
    }

    /// What Get Blob and Get Blob Properties answer besides the length (and range) headers.
    static func propertyHeaders(_ blob: StoredBlob) -> [(String, String)] {
        var headers: [(String, String)] = [
            ("ETag", blob.etag), ("Last-Modified", UTCDate.rfc1123(blob.lastModified)),
            ("x-ms-creation-time", UTCDate.rfc1123(blob.created)), ("x-ms-blob-type", "BlockBlob"),
            ("x-ms-lease-status", "unlocked"), ("x-ms-lease-state", "available"), ("x-ms-server-encrypted", "true"),
            ("x-ms-access-tier", "Hot"), ("x-ms-access-tier-inferred", "true"), ("Accept-Ranges", "bytes"),
            ("Content-Type", blob.content.contentType),
        ]
        let optional: [(String, String?)] = [
            ("Content-Encoding", blob.content.contentEncoding), ("Content-Language", blob.content.contentLanguage),
            ("Content-Disposition", blob.content.contentDisposition), ("Cache-Control", blob.content.cacheControl),
        ]
        for (name, value) in optional { if let value, !value.isEmpty { headers.append((name, value)) } }
        for pair in blob.metadata { headers.append(("x-ms-meta-\(pair.name)", pair.value)) }
        return headers
    }
}
