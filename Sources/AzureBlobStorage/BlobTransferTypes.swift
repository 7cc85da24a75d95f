import Dispatch
import ToolboxCore

/// Where an upload's bytes come from.
///
/// ```swift
/// .bytes(Array("hello".utf8))
/// .file(path: "/data/video.mp4")                         // read block by block, never whole
/// .stream(length: nil) { deliver in deliver(.success(nextPieceOrNil())) }
/// ```
public enum BlobUploadSource: Sendable {
    case bytes([UInt8])
    /// A file, read one block at a time at increasing offsets; its size is taken when the upload starts.
    case file(path: String)
    /// Pieces pulled one at a time: `next` delivers the next piece, or nil at the end (exactly once per call).
    /// With a `length`, the stream must deliver exactly that many bytes.
    case stream(length: Int64?, next: @Sendable (@escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) -> Void)
}

/// How to upload one blob.
public struct BlobUploadOptions: Sendable {
    /// Replace an existing blob. Default false: the upload carries `If-None-Match: *` and fails with
    /// `.resourceExists` (409 `BlobAlreadyExists`) when the blob exists, as azure-storage-blob does.
    public var overwrite = false
    /// `Content-Type` stored with the blob. Default `application/octet-stream`.
    public var contentType = "application/octet-stream"
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var cacheControl: String?
    public var contentDisposition: String?
    /// The whole blob's MD5 (base64) to store, when you have it; otherwise computed while reading when
    /// `BlobTransferOptions.computeMD5` is on.
    public var contentMD5: String?
    /// User metadata (`x-ms-meta-*`): names are C# identifiers, values printable ASCII.
    public var metadata: [String: String] = [:]
    /// Extra conditions (an `ifMatch` ETag to replace only a known version).
    public var conditions = BlobRequestConditions()
    /// Overrides of the client's `BlobTransferOptions` for this upload.
    public var blockSize: Int?
    public var concurrency: Int?
    public var singlePutThreshold: Int?
    /// Called with bytes acknowledged by the service so far, in order, on the operation's queue.
    public var progress: (@Sendable (BlobTransferProgress) -> Void)?

    public init() {}
}

/// How to download one blob.
public struct BlobDownloadOptions: Sendable {
    /// Only these bytes; nil downloads the whole blob.
    public var range: BlobRange?
    /// Conditions on the first request (every request after the first answer, a resume too, carries `If-Match`
    /// with its ETag instead of an `If-Match` given here).
    public var conditions = BlobRequestConditions()
    /// Overrides of the client's `BlobTransferOptions` for this download.
    public var chunkSize: Int?
    public var concurrency: Int?
    /// In-memory downloads refuse blobs larger than this (download to a file instead). Default 1 GiB.
    public var maxInMemoryBytes: Int64 = 1 << 30
    /// Called with bytes received so far, in order, on the operation's queue.
    public var progress: (@Sendable (BlobTransferProgress) -> Void)?

    public init() {}
}

/// Delivers progress in order on a serial queue that targets the caller's queue.
final class ProgressReporter: Sendable {
    private let handler: (@Sendable (BlobTransferProgress) -> Void)?
    private let queue: DispatchQueue
    private let state = LockedValue<(done: Int64, total: Int64?)>((0, nil))

    init(_ handler: (@Sendable (BlobTransferProgress) -> Void)?, target: DispatchQueue) {
        self.handler = handler
        self.queue = DispatchQueue(label: "AzureBlobStorage.progress", target: target)
    }

    func setTotal(_ total: Int64?) {
        state.withLockedValue { $0.total = total }
    }

    /// Adds `count` bytes; the report is queued under the lock so reports never go backwards.
    func add(_ count: Int64) {
        guard let handler else { return }
        let queue = self.queue
        state.withLockedValue { state in
            state.done += count
            let report = BlobTransferProgress(bytesTransferred: state.done, totalBytes: state.total)
            queue.async { handler(report) }
        }
    }
}

/// Checks transfer sizes once, at the start of an operation.
enum TransferLimits {
    /// `sizeName` names what `blockSize` is to the caller: an upload's block size, a download's chunk size.
    static func validate(blockSize: Int, concurrency: Int, threshold: Int, sizeName: String = "block size")
        -> ToolboxError?
    {
        // Azure's Put Block limit is 4,000 MiB; Put Blob's 5,000 MiB. Memory is the practical bound here.
        guard (1...(4000 << 20)).contains(blockSize) else {
            return ToolboxError(.invalidArgument, "the \(sizeName) must be 1 byte to 4000 MiB, not \(blockSize)")
        }
        guard (1...256).contains(concurrency) else {
            return ToolboxError(.invalidArgument, "the concurrency must be 1...256, not \(concurrency)")
        }
        guard (0...(5000 << 20)).contains(threshold) else {
            return ToolboxError(.invalidArgument, "the single-put threshold must be 0...5000 MiB, not \(threshold)")
        }
        return nil
    }
}
