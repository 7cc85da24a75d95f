import AzureAuth
import Foundation
import ToolboxTransport
import ToolboxTransportServer

/// Container operations and the two listings (List Containers, List Blobs) in the XML the SDKs parse.
extension BlobService {
    func containerOperation(_ operation: BlobOperation, _ container: String, _ request: EmulatorHTTPRequest,
                            _ responder: BlobResponder) -> HTTPServerResponse {
        let result: Result<StoredContainer?, BlobError>
        switch operation {
        case .createContainer:
            result = Self.metadata(request).flatMap { store.createContainer(container, metadata: $0) }.map { $0 }
        case .deleteContainer:
            result = store.deleteContainer(container, conditions: Self.conditions(request)).map { nil }
        case .setContainerMetadata:
            result = Self.metadata(request).flatMap {
                store.setContainerMetadata(container, metadata: $0, conditions: Self.conditions(request))
            }.map { $0 }
        default:
            result = store.container(container).map { $0 }
        }
        switch result {
        case .failure(let error):
            return responder.error(error)
        case .success(nil):
            return responder.respond(202)
        case .success(let properties?):
            var headers: [(String, String)] = [("ETag", properties.etag), ("Last-Modified", UTCDate.rfc1123(properties.lastModified))]
            guard operation == .getContainerProperties else { return responder.respond(operation == .createContainer ? 201 : 200, headers) }
            headers += [("x-ms-lease-status", "unlocked"), ("x-ms-lease-state", "available"),
                        ("x-ms-has-immutability-policy", "false"), ("x-ms-has-legal-hold", "false"),
                        ("x-ms-default-encryption-scope", "$account-encryption-key"), ("x-ms-deny-encryption-scope-override", "false")]
            headers += properties.metadata.map { ("x-ms-meta-\($0.name)", $0.value) }
            return responder.respond(200, headers)
        }
    }

    /// `maxresults` (default and ceiling 5000, as on Azure).
    private static func maxResults(_ request: EmulatorHTTPRequest) -> Result<Int, BlobError> {
        guard let text = request.queryValue("maxresults") else { return .success(5000) }
        guard let value = Int(text), value > 0 else {
            return .failure(BlobError(400, "OutOfRangeQueryParameterValue",
                                      "One of the query parameters specified in the request URI is outside the permissible range: maxresults must be a positive integer."))
        }
        return .success(min(value, 5000))
    }

    private static func metadataXML(_ metadata: [(name: String, value: String)]) -> String {
        "<Metadata>" + metadata.map { "<\($0.name)>\(BlobXML.escape($0.value))</\($0.name)>" }.joined() + "</Metadata>"
    }

    private static func echo(_ request: EmulatorHTTPRequest, _ names: [(query: String, element: String)]) -> String {
        names.compactMap { name in request.queryValue(name.query).map { BlobXML.element(name.element, $0) } }.joined()
    }

    func listContainers(_ request: EmulatorHTTPRequest, _ responder: BlobResponder) -> HTTPServerResponse {
        let limit: Int
        switch Self.maxResults(request) {
        case .success(let value): limit = value
        case .failure(let error): return responder.error(error)
        }
        let prefix = request.queryValue("prefix") ?? ""
        let marker = request.queryValue("marker").flatMap { $0.isEmpty ? nil : $0 }
        let withMetadata = (request.queryValue("include") ?? "").split(separator: ",").contains("metadata")
        let all = store.containers().filter { entry in entry.name.hasPrefix(prefix) && (marker.map { entry.name >= $0 } ?? true) }
        let page = all.prefix(limit)
        var xml = #"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint=""#
            + BlobXML.escape(request.baseURL + "/" + accountName) + #"">"#
        xml += Self.echo(request, [("prefix", "Prefix"), ("marker", "Marker"), ("maxresults", "MaxResults")])
        xml += "<Containers>"
        for (name, container) in page {
            xml += "<Container><Name>\(BlobXML.escape(name))</Name><Properties>"
            xml += "<Last-Modified>\(UTCDate.rfc1123(container.lastModified))</Last-Modified><Etag>\(BlobXML.escape(container.etag))</Etag>"
            xml += "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
            xml += "<DefaultEncryptionScope>$account-encryption-key</DefaultEncryptionScope><DenyEncryptionScopeOverride>false</DenyEncryptionScopeOverride>"
            xml += "<HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties>"
            if withMetadata { xml += Self.metadataXML(container.metadata) }
            xml += "</Container>"
        }
        xml += "</Containers>"
        xml += BlobXML.element("NextMarker", all.count > limit ? all[limit].name : nil)
        xml += "</EnumerationResults>"
        return responder.xml(200, xml)
    }

    /// List Blobs: names in order from `marker`, filtered by `prefix`; with a `delimiter`, names that continue
    /// past it collapse into one `<BlobPrefix>`. A page holds `maxresults` entries; `NextMarker` names the next.
    func listBlobs(_ container: String, _ request: EmulatorHTTPRequest, _ responder: BlobResponder) -> HTTPServerResponse {
        let limit: Int
        switch Self.maxResults(request) {
        case .success(let value): limit = value
        case .failure(let error): return responder.error(error)
        }
        let prefix = request.queryValue("prefix") ?? ""
        let delimiter = request.queryValue("delimiter") ?? ""
        let marker = request.queryValue("marker").flatMap { $0.isEmpty ? nil : BlobXML.name(fromMarker: $0) }
        let include = Set((request.queryValue("include") ?? "").split(separator: ",").map { $0.lowercased() })
        let blobs: [(name: String, blob: StoredBlob)]
        switch store.blobs(container, prefix: prefix, from: marker) {
        case .success(let found): blobs = found
        case .failure(let error): return responder.error(error)
        }
        var entries: [String] = []
        var nextMarker: String?
        var lastPrefix: String?
        for (name, blob) in blobs {
            var entryName = name
            var blobPrefix: String?
            if !delimiter.isEmpty, let cut = name.dropFirst(prefix.count).range(of: delimiter) {
                let collapsed = String(name[..<cut.upperBound])
                if collapsed == lastPrefix { continue }
                lastPrefix = collapsed
                blobPrefix = collapsed
                entryName = collapsed
            }
            if entries.count == limit {
                nextMarker = BlobXML.marker(for: entryName)
                break
            }
            if let blobPrefix {
                entries.append("<BlobPrefix>\(BlobXML.nameElement(blobPrefix))</BlobPrefix>")
            } else {
                entries.append(Self.blobXML(name, blob, metadata: include.contains("metadata")))
            }
        }
        var xml = #"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint=""#
            + BlobXML.escape(request.baseURL + "/" + accountName) + #"" ContainerName=""# + BlobXML.escape(container) + #"">"#
        xml += Self.echo(request, [("prefix", "Prefix"), ("marker", "Marker"), ("maxresults", "MaxResults"), ("delimiter", "Delimiter")])
        xml += "<Blobs>" + entries.joined() + "</Blobs>"
        xml += BlobXML.element("NextMarker", nextMarker)
        xml += "</EnumerationResults>"
        return responder.xml(200, xml)
    }

    private static func blobXML(_ name: String, _ blob: StoredBlob, metadata: Bool) -> String {
        let content = blob.content
        var xml = "<Blob>" + BlobXML.nameElement(name) + "<Properties>"
        xml += "<Creation-Time>\(UTCDate.rfc1123(blob.created))</Creation-Time>"
        xml += "<Last-Modified>\(UTCDate.rfc1123(blob.lastModified))</Last-Modified>"
        xml += "<Etag>\(BlobXML.escape(blob.etag))</Etag><Content-Length>\(blob.size)</Content-Length>"
        xml += BlobXML.element("Content-Type", content.contentType) + BlobXML.element("Content-Encoding", content.contentEncoding)
        xml += BlobXML.element("Content-Language", content.contentLanguage) + "<Content-CRC64 />"
        xml += BlobXML.element("Content-MD5", content.contentMD5.map(AuthCrypto.base64))
        xml += BlobXML.element("Cache-Control", content.cacheControl) + BlobXML.element("Content-Disposition", content.contentDisposition)
        xml += "<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
        xml += "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted>"
        xml += "</Properties>"
        if metadata { xml += metadataXML(blob.metadata) }
        return xml + "</Blob>"
    }
}
