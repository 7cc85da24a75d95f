import Dispatch
import ToolboxCore

/// Everything a client of one Blob container does, in completion-handler form: the role `BlobContainer` and
/// `ManagedBlobContainer` implement, and what your own code can depend on (and stub in its tests).
///
/// ```swift
/// let blobs: any BlobContainerOperations = try BlobContainer(connectionString: cs, containerName: "docs")
/// blobs.upload("a/report.pdf", from: .file(path: "report.pdf")) { result in … }   // completion
/// let page = try blobs.listBlobs(prefix: "a/")                                     // blocking
/// let bytes = try await blobs.download("a/report.pdf").content                    // async (shim module)
/// ```
///
/// Every requirement takes the `queue:` its completion runs on (exactly once, never under a library lock) and
/// returns a `Cancellable`: cancelling delivers `.cancelled` unless the result was already delivered, and stops
/// every request the operation still has in flight. Errors are `ToolboxError`s: `.resourceNotFound` (404),
/// `.resourceExists` (409), `.preconditionFailed` (412), `.rangeNotSatisfiable` (416), `.authorizationFailed`
/// (403 `AuthenticationFailed`), `.forbidden`, `.throttled`, `.serviceUnavailable` after the retries, transport
/// codes (`.connectionReset`, `.timedOut` …) — with the service's status, `x-ms-error-code`, message and request
/// id in `serviceCondition`. Keys, SAS signatures and tokens never appear in them.
public protocol BlobContainerOperations: AnyObject, Sendable {
    /// The container every operation works in.
    var containerName: String { get }
    /// The container's URL (no query, so no SAS).
    var containerURL: String { get }

    /// Uploads a blob: one Put Blob up to the single-put threshold, else blocks in parallel plus Put Block List.
    @discardableResult
    func upload(_ blobName: String, from source: BlobUploadSource, options: BlobUploadOptions, timeout: Duration,
                queue: DispatchQueue, completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void)
        -> any Cancellable

    /// Downloads a blob (or a range of it) into memory, in parallel ranges.
    @discardableResult
    func download(_ blobName: String, options: BlobDownloadOptions, timeout: Duration, queue: DispatchQueue,
                  completion: @escaping @Sendable (Result<BlobDownloadResult, ToolboxError>) -> Void) -> any Cancellable

    /// Downloads a blob (or a range) into a file, parallel ranges written in place. The file is created or
    /// truncated; a failed download removes it.
    @discardableResult
    func download(_ blobName: String, toFile path: String, options: BlobDownloadOptions, timeout: Duration,
                  queue: DispatchQueue,
                  completion: @escaping @Sendable (Result<BlobFileDownloadResult, ToolboxError>) -> Void)
        -> any Cancellable

    /// Downloads a blob as a stream of chunks, in order, one range in memory at a time: `onChunk` runs on
    /// `queue` for each, and the next range is fetched after it returns.
    @discardableResult
    func downloadChunks(_ blobName: String, options: BlobDownloadOptions, timeout: Duration, queue: DispatchQueue,
                        onChunk: @escaping @Sendable ([UInt8]) -> Void,
                        completion: @escaping @Sendable (Result<BlobProperties, ToolboxError>) -> Void)
        -> any Cancellable

    /// One page of the blobs whose names start with `prefix`; pass the page's `nextMarker` for the next one.
    @discardableResult
    func listBlobs(prefix: String?, pageSize: Int?, marker: String?, timeout: Duration, queue: DispatchQueue,
                   completion: @escaping @Sendable (Result<BlobListPage, ToolboxError>) -> Void) -> any Cancellable

    /// Deletes a blob (404 gives `.resourceNotFound`).
    @discardableResult
    func deleteBlob(_ blobName: String, conditions: BlobRequestConditions, timeout: Duration, queue: DispatchQueue,
                    completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Creates (or, with `overwrite`, replaces) a blob from the content at `sourceURL` (Put Blob From URL; the
    /// service copies it, up to 5,000 MiB). The URL may carry a SAS; it never appears in errors.
    @discardableResult
    func upload(_ blobName: String, fromURL sourceURL: String, overwrite: Bool, timeout: Duration,
                queue: DispatchQueue, completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void)
        -> any Cancellable

    /// The blob's properties and metadata (HEAD).
    @discardableResult
    func properties(of blobName: String, conditions: BlobRequestConditions, timeout: Duration, queue: DispatchQueue,
                    completion: @escaping @Sendable (Result<BlobProperties, ToolboxError>) -> Void) -> any Cancellable

    /// Replaces the blob's metadata.
    @discardableResult
    func setMetadata(_ metadata: [String: String], of blobName: String, conditions: BlobRequestConditions,
                     timeout: Duration, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void)
        -> any Cancellable

    /// SAS tokens and URLs for blobs, in the order of `blobNames`: a service SAS from the account key, or a
    /// user-delegation SAS with a key fetched (once, then cached) with the client's `TokenCredential`.
    @discardableResult
    func sas(for blobNames: [String], options: BlobSASOptions, timeout: Duration, queue: DispatchQueue,
             completion: @escaping @Sendable (Result<[BlobSAS], ToolboxError>) -> Void) -> any Cancellable

    /// Closes the client's connections; later operations fail with `.clientClosed`. Idempotent.
    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void)
}
