import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// Blob Storage on the emulator's HTTP side, path-style like Azurite: `/<account>/<container>/<blob>`.
///
/// Containers (create, delete, properties, metadata, list), block blobs (Put Blob, Put Block, Put Block List,
/// Get Block List, Put Blob From URL, Get Blob whole or ranged, properties, metadata, Delete Blob), List Blobs
/// with prefix, delimiter and paging, conditional headers, and Get User Delegation Key. Every request is
/// authenticated (`BlobAuthorizer`); errors use Azure's XML shape with `x-ms-error-code`.
final class BlobService: EmulatorHTTPService {
    let name = "blob"
    let context: EmulatorHTTPContext
    let store: BlobStore
    let authorizer: BlobAuthorizer
    let copier: BlobURLCopier

    init(context: EmulatorHTTPContext) {
        self.context = context
        store = BlobStore(limits: context.configuration.httpLimits)
        authorizer = BlobAuthorizer(context: context)
        copier = BlobURLCopier(caFile: context.caFile)
        for container in context.configuration.blobContainers {
            if case .failure(let error) = store.createContainer(container, metadata: []), error.status != 409 {
                context.logger.warning("blob: container '\(container)' was not created: \(error.message)")
            }
        }
    }

    var accountName: String { context.configuration.blobAccountName }

    func accepts(_ request: EmulatorHTTPRequest) -> Bool {
        request.pathSegments.first == accountName
    }

    func throttledResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        var response = BlobResponder(request: request).error(BlobError(503, "ServerBusy", "The server is busy."))
        response.head.headers.add(name: "Retry-After", value: "1")
        return response
    }

    func authenticationRefusedResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        BlobResponder(request: request).error(BlobAuthorizer.authenticationFailed("the emulator refuses all credentials (fault injection)."))
    }

    func handle(_ request: EmulatorHTTPRequest, respond: @escaping @Sendable (HTTPServerResponse) -> Void) {
        let responder = BlobResponder(request: request)
        let fail = { (error: BlobError) in respond(responder.error(error)) }
        let address: (container: String?, blob: String?)
        switch Self.address(of: request) {
        case .success(let parsed): address = parsed
        case .failure(let error): return fail(error)
        }
        let depth = address.blob != nil ? 2 : address.container != nil ? 1 : 0
        let operation: BlobOperation
        switch BlobOperation.recognise(method: request.method, depth: depth, restype: request.queryValue("restype"),
                                       comp: request.queryValue("comp"), hasCopySource: request.header("x-ms-copy-source") != nil) {
        case .success(let recognised): operation = recognised
        case .failure(let error): return fail(error)
        }
        let authorized = authorizer.authorize(request, operation: operation, container: address.container, blob: address.blob) {
            guard let container = address.container, let blob = address.blob else { return false }
            return store.blobExists(container, blob)
        }
        if case .failure(let error) = authorized {
            context.logger.info("blob: \(request.method) \(request.path) refused: \(error.code)")
            return fail(error)
        }
        let container = address.container ?? ""
        let blob = address.blob ?? ""
        switch operation {
        case .listContainers: respond(listContainers(request, responder))
        case .getAccountInfo:
            respond(responder.respond(200, [("x-ms-sku-name", "Standard_LRS"), ("x-ms-account-kind", "StorageV2"),
                                            ("x-ms-is-hns-enabled", "false")]))
        case .getUserDelegationKey:
            switch BlobUserDelegation.respond(to: request, configuration: context.configuration, responder: responder) {
            case .success(let xml): respond(responder.xml(200, xml))
            case .failure(let error): fail(error)
            }
        case .createContainer, .deleteContainer, .getContainerProperties, .setContainerMetadata:
            respond(containerOperation(operation, container, request, responder))
        case .listBlobs: respond(listBlobs(container, request, responder))
        case .putBlob: respond(putBlob(container, blob, request, responder))
        case .putBlock: respond(putBlock(container, blob, request, responder))
        case .putBlockList: respond(putBlockList(container, blob, request, responder))
        case .getBlockList: respond(getBlockList(container, blob, request, responder))
        case .getBlob, .getBlobProperties, .getBlobMetadata: respond(getBlob(operation, container, blob, request, responder))
        case .setBlobMetadata, .setBlobProperties: respond(updateBlob(operation, container, blob, request, responder))
        case .deleteBlob:
            switch store.deleteBlob(container, blob, conditions: Self.conditions(request)) {
            case .success: respond(responder.respond(202, [("x-ms-delete-type-permanent", "true")]))
            case .failure(let error): fail(error)
            }
        case .putBlobFromURL: putBlobFromURL(container, blob, request, responder, respond: respond)
        }
    }

    // MARK: Reading the request

    /// Container and blob name from the raw path `/<account>/<container>/<blob…>` (percent-decoded; the blob
    /// name keeps its `/`s).
    static func address(of request: EmulatorHTTPRequest) -> Result<(container: String?, blob: String?), BlobError> {
        let parts = request.path.drop(while: { $0 == "/" }).split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        let decode = { (raw: Substring) -> String? in String(raw).removingPercentEncoding }
        var container: String?
        var blob: String?
        if parts.count > 1, !parts[1].isEmpty {
            guard let name = decode(parts[1]) else { return .failure(BlobError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")) }
            // Checked on every request, as Azure does (not only on create: a blob request to `My_Container` is a
            // 400 there, not a 404).
            if let error = BlobStore.containerNameError(name) { return .failure(error) }
            container = name
        }
        if parts.count > 2, !parts[2].isEmpty {
            guard let name = decode(parts[2]), container != nil else {
                return .failure(BlobError(400, "InvalidUri", "The requested URI does not represent any resource on the server."))
            }
            guard name.utf8.count <= 1024 else {
                return .failure(BlobError(400, "InvalidResourceName", "The specified resource name length is not within the permissible limits."))
            }
            blob = name
        }
        return .success((container, blob))
    }

    static func conditions(_ request: EmulatorHTTPRequest) -> BlobConditions {
        BlobConditions(ifMatch: request.header("If-Match"), ifNoneMatch: request.header("If-None-Match"),
                       ifModifiedSince: request.header("If-Modified-Since").flatMap(BlobHTTPDate.parse),
                       ifUnmodifiedSince: request.header("If-Unmodified-Since").flatMap(BlobHTTPDate.parse))
    }

    /// `x-ms-meta-<name>: value` pairs; names must be C# identifiers and all of them fit in 8 KiB, as on Azure.
    static func metadata(_ request: EmulatorHTTPRequest) -> Result<[(name: String, value: String)], BlobError> {
        var pairs: [(name: String, value: String)] = []
        var total = 0
        for field in request.head.headers where field.name.lowercased().hasPrefix("x-ms-meta-") {
            let name = String(field.name.dropFirst("x-ms-meta-".count))
            guard isIdentifier(name) else {
                return .failure(BlobError(400, "InvalidMetadata", "The metadata specified is invalid. It has characters that are not permitted: '\(name.prefix(64))'."))
            }
            if pairs.contains(where: { $0.name.lowercased() == name.lowercased() }) {
                return .failure(BlobError(400, "InvalidMetadata", "The metadata specified is invalid: '\(name.prefix(64))' is given twice."))
            }
            total += name.utf8.count + field.value.utf8.count
            pairs.append((name, field.value))
        }
        if total > 8 * 1024 {
            return .failure(BlobError(400, "MetadataTooLarge", "The size of the specified metadata exceeds the maximum size permitted (8 KiB)."))
        }
        return .success(pairs)
    }

    private static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
    }

    /// Content headers for a write: `x-ms-blob-content-*` first, then (Put Blob only) the standard headers.
    static func contentSettings(_ request: EmulatorHTTPRequest, standardHeadersToo: Bool) -> Result<BlobContentSettings, BlobError> {
        let pick = { (blobHeader: String, standard: String?) -> String? in
            if let value = request.header(blobHeader) { return value }
            guard standardHeadersToo, let standard else { return nil }
            return request.header(standard)
        }
        var settings = BlobContentSettings()
        if let type = pick("x-ms-blob-content-type", "Content-Type"), !type.isEmpty { settings.contentType = type }
        settings.contentEncoding = pick("x-ms-blob-content-encoding", "Content-Encoding")
        settings.contentLanguage = pick("x-ms-blob-content-language", "Content-Language")
        settings.contentDisposition = pick("x-ms-blob-content-disposition", nil)
        settings.cacheControl = pick("x-ms-blob-cache-control", "Cache-Control")
        if let md5 = request.header("x-ms-blob-content-md5") {
            guard let bytes = AuthCrypto.base64Decode(md5), bytes.count == 16 else {
                return .failure(.invalidHeader("x-ms-blob-content-md5", "not the base64 of 16 bytes"))
            }
            settings.contentMD5 = bytes
        }
        return .success(settings)
    }

    /// Checks `Content-MD5` (when sent) against `body`; returns the body's MD5 when it was computed.
    static func checkContentMD5(_ request: EmulatorHTTPRequest, body: [UInt8]) -> Result<[UInt8]?, BlobError> {
        guard let header = request.header("Content-MD5") else { return .success(nil) }
        guard let given = AuthCrypto.base64Decode(header), given.count == 16 else {
            return .failure(.invalidHeader("Content-MD5", "not the base64 of 16 bytes"))
        }
        let computed = AuthCrypto.md5(body)
        guard computed == given else { return .failure(md5Mismatch()) }
        return .success(computed)
    }

    static func md5Mismatch() -> BlobError {
        BlobError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
    }
}
