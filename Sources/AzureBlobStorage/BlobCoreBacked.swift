import Dispatch
import ToolboxCore

/// The one implementation of `BlobContainerOperations` both clients share: each forwards to its core.
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
        core.list(prefix: prefix, pageSize: pageSize, marker: marker, timeout: timeout, queue: queue,
                  completion: completion)
    }

    @discardableResult
    public func deleteBlob(_ blobName: String, conditions: BlobRequestConditions, timeout: Duration,
                           queue: DispatchQueue, completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.delete(blobName, conditions: conditions, timeout: timeout, queue: queue, completion: completion)
    }

    @discardableResult
    public func upload(_ blobName: String, fromURL sourceURL: String, overwrite: Bool, timeout: Duration,
                       queue: DispatchQueue,
                       completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.uploadFromURL(blobName, sourceURL: sourceURL, overwrite: overwrite, timeout: timeout, queue: queue,
                           completion: completion)
    }

    @discardableResult
    public func properties(of blobName: String, conditions: BlobRequestConditions, timeout: Duration,
                           queue: DispatchQueue,
                           completion: @escaping @Sendable (Result<BlobProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.properties(blobName, conditions: conditions, timeout: timeout, queue: queue, completion: completion)
    }

    @discardableResult
    public func setMetadata(_ metadata: [String: String], of blobName: String, conditions: BlobRequestConditions,
                            timeout: Duration, queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.setMetadata(blobName, metadata: metadata, conditions: conditions, timeout: timeout, queue: queue,
                         completion: completion)
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
