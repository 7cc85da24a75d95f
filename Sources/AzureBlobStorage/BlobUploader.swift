import AzureAuth
import Dispatch
import ToolboxCore
import ToolboxTransport

/// One upload: a single Put Blob when it is small, else Put Block × N (at most `concurrency` in flight, each
/// retried on its own by the pipeline) and one Put Block List.
///
/// Blocks are read in order, one at a time, and the reader runs ahead of the uploads only while a slot is
/// free, so at most `concurrency` blocks are in memory. The whole blob's MD5 is computed in read order while
/// blocks upload in parallel, and recorded at commit.
final class BlobUploader: @unchecked Sendable {
    // @unchecked Sendable: the mutable state (`inFlight`, `reading`, `ended`, `blockIDs`, `uploaded`) is guarded
    // by `lock`; `md5` is used only from reader completions, which run one after another on the reader's queue.
    private let lock = Lock()
    private var inFlight = 0
    private var reading = false
    private var ended = false
    private var committing = false
    private var blockIDs: [String] = []
    private var uploaded: Int64 = 0
    private let md5: StreamingDigest?

    private let name: String
    private let reader: UploadReader
    private let options: BlobUploadOptions
    private let pipeline: BlobPipeline
    private let operation: BlobOperation<BlobUploadResult>
    private let deadline: Deadline
    private let progress: ProgressReporter
    private let blockSize: Int
    private let concurrency: Int
    private let threshold: Int
    /// Unique per upload, so blocks of an abandoned upload to the same name never mix with this one's.
    private let uploadID = AuthCrypto.hex(AuthCrypto.randomBytes(12))
    static let maxBlocks = 50_000

    init(name: String, reader: UploadReader, options: BlobUploadOptions, pipeline: BlobPipeline,
         operation: BlobOperation<BlobUploadResult>, deadline: Deadline, queue: DispatchQueue) {
        let transfer = pipeline.options.transfer
        self.name = name
        self.reader = reader
        self.options = options
        self.pipeline = pipeline
        self.operation = operation
        self.deadline = deadline
        self.blockSize = options.blockSize ?? transfer.blockSize
        self.concurrency = options.concurrency ?? transfer.concurrency
        self.threshold = options.singlePutThreshold ?? transfer.singlePutThreshold
        self.md5 = transfer.computeMD5 && options.contentMD5 == nil ? StreamingDigest(.md5) : nil
        self.progress = ProgressReporter(options.progress, target: queue)
        progress.setTotal(reader.totalSize)
    }

    func start() {
        if let error = TransferLimits.validate(blockSize: blockSize, concurrency: concurrency, threshold: threshold) {
            return operation.finish(.failure(error))
        }
        let headers: [(String, String)]
        do {
            headers = try BlobContainerCore.metadataHeaders(options.metadata)
        } catch {
            return operation.finish(.failure(error))
        }
        // A known size that needs more blocks than a blob may have fails now, not after 50,000 uploads.
        if let total = reader.totalSize, total > Int64(threshold), blockSize > 0,
           total / Int64(blockSize) + (total % Int64(blockSize) == 0 ? 0 : 1) > Int64(Self.maxBlocks)
        {
            return operation.finish(.failure(ToolboxError(.invalidArgument, "'\(name)' (\(total) bytes) needs more than "
                + "\(Self.maxBlocks) blocks of \(blockSize) bytes; raise the block size to at least "
                + "\(total / Int64(Self.maxBlocks) + 1) bytes")))
        }
        if let total = reader.totalSize, total <= Int64(threshold) {
            // Small enough for one request: read it all (it is at most the threshold).
            reader.read(max: Int(total) + 1) { [self] result in
                switch result {
                case .failure(let error): operation.finish(.failure(error))
                case .success(let block): putBlob(block, metadata: headers)
                }
            }
            return
        }
        // Unknown length: the first block decides. A stream that ends within one block (and the threshold)
        // goes as a single put; anything longer goes as blocks, starting with this one.
        reader.read(max: blockSize) { [self] result in
            switch result {
            case .failure(let error):
                operation.finish(.failure(error))
            case .success(let block) where reader.totalSize == nil && block.count < blockSize
                && block.count <= threshold:
                putBlob(block, metadata: headers)
            case .success(let block):
                if let md5 { block.withUnsafeBytes { md5.update($0) } }
                lock.withLock { ended = block.isEmpty }
                if block.isEmpty { return commit(metadata: headers) }
                stage(block, metadata: headers)
                pump(metadata: headers)
            }
        }
    }

    // MARK: Single put

    private func putBlob(_ block: OutgoingBytes, metadata: [(String, String)]) {
        var headers = [("x-ms-blob-type", "BlockBlob")] + contentHeaders(prefix: "") + metadata + conditionHeaders()
        if let given = options.contentMD5 {
            headers.append(("Content-MD5", given))
        } else if pipeline.options.transfer.computeMD5 {
            let digest = StreamingDigest(.md5)
            block.withUnsafeBytes { digest.update($0) }
            headers.append(("Content-MD5", AuthCrypto.base64(digest.finish())))
        }
        let request = BlobRequest(method: "PUT", resource: .blob(name), headers: headers, upload: block,
                                  expected: [201], operation: "uploading '\(name)'")
        let count = Int64(block.count)
        pipeline.send(request, deadline: deadline, tracker: operation) { [self] result in
            if case .success = result { progress.add(count) }
            operation.finish(result.map {
                BlobResponseHeaders.uploadResult(name: name, response: $0, size: count, blockCount: 0)
            })
        }
    }

    // MARK: Blocks

    /// Reads the next block when a slot is free and nobody is reading; commits once all are in.
    private func pump(metadata: [(String, String)]) {
        let readNow: Bool = lock.withLock {
            guard !reading, !ended, inFlight < concurrency, !operation.isFinished else { return false }
            reading = true
            return true
        }
        guard readNow else { return }
        reader.read(max: blockSize) { [self] result in
            switch result {
            case .failure(let error):
                operation.finish(.failure(error))
            case .success(let block):
                if let md5 { block.withUnsafeBytes { md5.update($0) } }
                let commitNow: Bool = lock.withLock {
                    reading = false
                    if block.isEmpty { ended = true }
                    return claimCommitLocked()
                }
                if commitNow { return commit(metadata: metadata) }
                if !block.isEmpty { stage(block, metadata: metadata) }
                pump(metadata: metadata)
            }
        }
    }

    /// Uploads one block (the pipeline retries it alone if it fails), then frees its slot.
    private func stage(_ block: OutgoingBytes, metadata: [(String, String)]) {
        let (index, id): (Int, String?) = lock.withLock {
            let index = blockIDs.count
            guard index < Self.maxBlocks else { return (index, nil) }
            // Same length for every id of a blob, as the service requires: upload id + zero-padded index.
            let raw = uploadID + "-" + String(repeating: "0", count: max(0, 6 - String(index).count)) + String(index)
            let id = AuthCrypto.base64(Array(raw.utf8))
            blockIDs.append(id)
            inFlight += 1
            return (index, id)
        }
        guard let id else {
            return operation.finish(.failure(ToolboxError(.invalidArgument, "'\(name)' needs more than "
                + "\(Self.maxBlocks) blocks of \(blockSize) bytes; raise the block size")))
        }
        let request = BlobRequest(
            method: "PUT", resource: .blob(name), query: [("comp", "block"), ("blockid", id)], upload: block,
            expected: [201], operation: "uploading block \(index) of '\(name)'")
        let count = Int64(block.count)
        pipeline.send(request, deadline: deadline, tracker: operation) { [self] result in
            if case .failure(let error) = result { return operation.finish(.failure(error)) }
            progress.add(count)
            let commitNow: Bool = lock.withLock {
                inFlight -= 1
                uploaded += count
                return claimCommitLocked()
            }
            if commitNow { return commit(metadata: metadata) }
            pump(metadata: metadata)
        }
    }

    /// With `lock` held: true (once) when every block is read and uploaded.
    private func claimCommitLocked() -> Bool {
        guard ended, inFlight == 0, !reading, !committing else { return false }
        committing = true
        return true
    }

    private func commit(metadata: [(String, String)]) {
        let (ids, size) = lock.withLock { (blockIDs, uploaded) }
        var headers = [("Content-Type", "application/xml")] + contentHeaders(prefix: "x-ms-blob-") + metadata
            + conditionHeaders()
        if let given = options.contentMD5 {
            headers.append(("x-ms-blob-content-md5", given))
        } else if let md5 {
            headers.append(("x-ms-blob-content-md5", AuthCrypto.base64(md5.finish())))
        }
        let request = BlobRequest(
            method: "PUT", resource: .blob(name), query: [("comp", "blocklist")], headers: headers,
            body: BlobXML.blockList(ids), expected: [201], operation: "committing the \(ids.count) blocks of '\(name)'")
        pipeline.send(request, deadline: deadline, tracker: operation) { [self] result in
            operation.finish(result.map {
                BlobResponseHeaders.uploadResult(name: name, response: $0, size: size, blockCount: ids.count)
            })
        }
    }

    /// Content settings. Put Blob takes `Content-Type`, `Content-Encoding` and `Content-Language` as themselves
    /// and the rest as `x-ms-blob-…`; Put Block List takes all of them as `x-ms-blob-…` (its own body is XML).
    private func contentHeaders(prefix: String) -> [(String, String)] {
        let settings: [(String, String?)] = [
            ("content-type", options.contentType), ("content-encoding", options.contentEncoding),
            ("content-language", options.contentLanguage), ("cache-control", options.cacheControl),
            ("content-disposition", options.contentDisposition),
        ]
        let standard: Set<String> = ["content-type", "content-encoding", "content-language"]
        return settings.compactMap { field, value in
            guard let value else { return nil }
            let onPutBlob = prefix.isEmpty && standard.contains(field)
            return (onPutBlob ? field : "x-ms-blob-\(field)", value)
        }
    }

    private func conditionHeaders() -> [(String, String)] {
        var conditions = options.conditions
        if !options.overwrite, conditions.ifNoneMatch == nil, conditions.ifMatch == nil { conditions.ifNoneMatch = "*" }
        return conditions.headers
    }
}
