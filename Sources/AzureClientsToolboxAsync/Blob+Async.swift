import AzureBlobStorage
import Dispatch
import ToolboxCore

// async/await forms of `BlobContainerOperations`: bridges only; Task cancellation cancels the operation.
extension BlobContainerOperations {
    public func upload(_ blobName: String, from source: BlobUploadSource, options: BlobUploadOptions = .init(),
                       timeout: Duration = BlobTimeouts.transfer) async throws(ToolboxError) -> BlobUploadResult {
        try await awaitOperation {
            upload(blobName, from: source, options: options, timeout: timeout, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    public func upload(_ blobName: String, data: [UInt8], options: BlobUploadOptions = .init(),
                       timeout: Duration = BlobTimeouts.transfer) async throws(ToolboxError) -> BlobUploadResult {
        try await upload(blobName, from: .bytes(data), options: options, timeout: timeout)
    }

    public func download(_ blobName: String, options: BlobDownloadOptions = .init(),
                         timeout: Duration = BlobTimeouts.transfer) async throws(ToolboxError) -> BlobDownloadResult {
        try await awaitOperation {
            download(blobName, options: options, timeout: timeout, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    public func download(_ blobName: String, toFile path: String, options: BlobDownloadOptions = .init(),
                         timeout: Duration = BlobTimeouts.transfer) async throws(ToolboxError)
        -> BlobFileDownloadResult
    {
        try await awaitOperation {
            download(blobName, toFile: path, options: options, timeout: timeout, queue: asyncDeliveryQueue,
                     completion: $0)
        }
    }

    /// The blob as an `AsyncThrowingStream` of chunks (one ranged GET each), in order; ending the iteration early
    /// cancels the download. Ranges are fetched one at a time but without waiting for the consumer, so a
    /// consumer slower than the network lets chunks queue up in the stream; for strictly bounded memory use the
    /// completion form `downloadChunks`, whose next range waits for `onChunk` to return.
    public func chunks(of blobName: String, options: BlobDownloadOptions = .init(),
                       timeout: Duration = BlobTimeouts.transfer) -> AsyncThrowingStream<[UInt8], any Error> {
        AsyncThrowingStream(bufferingPolicy: .unbounded) { continuation in
            let handle = downloadChunks(blobName, options: options, timeout: timeout, queue: asyncDeliveryQueue,
                                        onChunk: { continuation.yield($0) },
                                        completion: { result in
                                            switch result {
                                            case .success: continuation.finish()
                                            case .failure(let error): continuation.finish(throwing: error)
                                            }
                                        })
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    public func listBlobs(prefix: String? = nil, pageSize: Int? = nil, marker: String? = nil,
                          timeout: Duration = BlobTimeouts.request) async throws(ToolboxError) -> BlobListPage {
        try await awaitOperation {
            listBlobs(prefix: prefix, pageSize: pageSize, marker: marker, timeout: timeout, queue: asyncDeliveryQueue,
                      completion: $0)
        }
    }

    public func deleteBlob(_ blobName: String, conditions: BlobRequestConditions = .init(),
                           timeout: Duration = BlobTimeouts.request) async throws(ToolboxError) {
        try await awaitOperation {
            deleteBlob(blobName, conditions: conditions, timeout: timeout, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    public func upload(_ blobName: String, fromURL sourceURL: String, overwrite: Bool = true,
                       timeout: Duration = BlobTimeouts.transfer) async throws(ToolboxError) -> BlobUploadResult {
        try await awaitOperation {
            upload(blobName, fromURL: sourceURL, overwrite: overwrite, timeout: timeout, queue: asyncDeliveryQueue,
                   completion: $0)
        }
    }

    public func properties(of blobName: String, conditions: BlobRequestConditions = .init(),
                           timeout: Duration = BlobTimeouts.request) async throws(ToolboxError) -> BlobProperties {
        try await awaitOperation {
            properties(of: blobName, conditions: conditions, timeout: timeout, queue: asyncDeliveryQueue,
                       completion: $0)
        }
    }

    @discardableResult
    public func setMetadata(_ metadata: [String: String], of blobName: String,
                            conditions: BlobRequestConditions = .init(),
                            timeout: Duration = BlobTimeouts.request) async throws(ToolboxError) -> BlobUploadResult {
        try await awaitOperation {
            setMetadata(metadata, of: blobName, conditions: conditions, timeout: timeout, queue: asyncDeliveryQueue,
                        completion: $0)
        }
    }

    public func sas(for blobNames: [String], options: BlobSASOptions = .init(),
                    timeout: Duration = BlobTimeouts.request) async throws(ToolboxError) -> [BlobSAS] {
        try await awaitOperation {
            sas(for: blobNames, options: options, timeout: timeout, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            close(queue: asyncDeliveryQueue) { continuation.resume() }
        }
    }
}
