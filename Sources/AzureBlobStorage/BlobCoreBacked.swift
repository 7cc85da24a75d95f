import Dispatch
import ToolboxCore

/// The one implementation of `BlobContainerOperations` both clients share, over their core: the one-request
/// operations are described here (`BlobContainerCore.single` runs them), transfers and SAS run in the core.
protocol BlobCoreBacked: BlobContainerOperations {
    var core: BlobContainerCore { get }
}

extension BlobCoreBacked {
    public var containerName: String { core.containerName }
    public var containerURL: String { core.pipeline.url(blob: nil) }
    /// The storage account's name, when the credential or URL tells it.
    public var accountName: String? { core.pipeline.accountName }

    @discardableResult
    public func upload(_ blobName: String, from source: BlobUploadSource, options: BlobUploadOptions,
                       timeout: Duration, queue: DispatchQueue,
                       completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.upload(blobName, from: source, options: options, timeout: timeout, queue: queue, completion: completion)
    }

    @discardableResult
    public func download(_ blobName: String, options: BlobDownloadOptions, timeout: Duration, queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<BlobDownloadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.download(blobName, options: options, timeout: timeout, queue: queue, completion: completion)
    }

    @discardableResult
    public func download(_ blobName: String, toFile path: String, options: BlobDownloadOptions, timeout: Duration,
                         queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<BlobFileDownloadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.download(blobName, toFile: path, options: options, timeout: timeout, queue: queue, completion: completion)
    }

    @discardableResult
    public func downloadChunks(_ blobName: String, options: BlobDownloadOptions, timeout: Duration,
                               queue: DispatchQueue, onChunk: @escaping @Sendable ([UInt8]) -> Void,
                               completion: @escaping @Sendable (Result<BlobProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.downloadChunks(blobName, options: options, timeout: timeout, queue: queue, onChunk: onChunk,
                            completion: completion)
    }

    @discardableResult
    public func listBlobs(prefix: String?, pageSize: Int?, marker: String?, timeout: Duration, queue: DispatchQueue,
                          completion: @escaping @Sendable (Result<BlobListPage, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.single("listing blobs", blobName: nil, timeout: timeout, queue: queue, completion: completion) {
            () throws(ToolboxError) in
            if let pageSize, !(1...5000).contains(pageSize) {
                throw ToolboxError(.invalidArgument, "the page size must be 1...5000 (the service's limit), not "
                    + "\(pageSize)")
            }
            var query = [("restype", "container"), ("comp", "list")]
            if let prefix, !prefix.isEmpty { query.append(("prefix", prefix)) }
            if let marker, !marker.isEmpty { query.append(("marker", marker)) }
            if let pageSize { query.append(("maxresults", String(pageSize))) }
            return BlobRequest(method: "GET", resource: .container, query: query, expected: [200],
                               operation: "listing the blobs of '\(containerName)'")
        } value: { response throws(ToolboxError) in
            try BlobXML.listPage(response.body)
        }
    }

    @discardableResult
    public func deleteBlob(_ blobName: String, conditions: BlobRequestConditions, timeout: Duration,
                           queue: DispatchQueue, completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = "deleting '\(blobName)'"
        return core.single(what, blobName: blobName, timeout: timeout, queue: queue, completion: completion) {
            BlobRequest(method: "DELETE", resource: .blob(blobName), headers: conditions.headers, expected: [202],
                        operation: what)
        } value: { _ in }
    }

    @discardableResult
    public func upload(_ blobName: String, fromURL sourceURL: String, overwrite: Bool, timeout: Duration,
                       queue: DispatchQueue,
                       completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = "copying into '\(blobName)' from a URL"
        return core.single(what, blobName: blobName, timeout: timeout, queue: queue, completion: completion) {
            () throws(ToolboxError) in
            guard sourceURL.lowercased().hasPrefix("https://") || sourceURL.lowercased().hasPrefix("http://") else {
                throw ToolboxError(.invalidArgument, "the source of a copy must be an http(s) URL")
            }
            var headers = [("x-ms-blob-type", "BlockBlob"), ("x-ms-copy-source", sourceURL)]
            if !overwrite { headers.append(("If-None-Match", "*")) }
            return BlobRequest(method: "PUT", resource: .blob(blobName), headers: headers, expected: [201],
                               operation: what)
        } value: { response in
            BlobResponseHeaders.uploadResult(name: blobName, response: response, size: 0, blockCount: 0)
        }
    }

    @discardableResult
    public func properties(of blobName: String, conditions: BlobRequestConditions, timeout: Duration,
                           queue: DispatchQueue,
                           completion: @escaping @Sendable (Result<BlobProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = "reading the properties of '\(blobName)'"
        return core.single(what, blobName: blobName, timeout: timeout, queue: queue, completion: completion) {
            BlobRequest(method: "HEAD", resource: .blob(blobName), headers: conditions.headers, expected: [200],
                        operation: what)
        } value: { response throws(ToolboxError) in
            try BlobResponseHeaders.properties(name: blobName, head: response.head)
        }
    }

    @discardableResult
    public func setMetadata(_ metadata: [String: String], of blobName: String, conditions: BlobRequestConditions,
                            timeout: Duration, queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = "setting the metadata of '\(blobName)'"
        return core.single(what, blobName: blobName, timeout: timeout, queue: queue, completion: completion) {
            () throws(ToolboxError) in
            BlobRequest(method: "PUT", resource: .blob(blobName), query: [("comp", "metadata")],
                        headers: try BlobContainerCore.metadataHeaders(metadata) + conditions.headers,
                        expected: [200], operation: what)
        } value: { response in
            BlobResponseHeaders.uploadResult(name: blobName, response: response, size: 0, blockCount: 0)
        }
    }

    @discardableResult
    public func sas(for blobNames: [String], options: BlobSASOptions, timeout: Duration, queue: DispatchQueue,
                    completion: @escaping @Sendable (Result<[BlobSAS], ToolboxError>) -> Void) -> any Cancellable {
        core.sas(for: blobNames, options: options, timeout: timeout, queue: queue, completion: completion)
    }

    public func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        core.pipeline.close(queue: queue, completion: completion)
    }
}
