import Dispatch
import ToolboxCore

extension BlobContainerCore {
    func upload(_ name: String, from source: BlobUploadSource, options uploadOptions: BlobUploadOptions,
                timeout: Duration, queue: DispatchQueue,
                completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void) -> any Cancellable {
        start("uploading '\(name)'", blobName: name, queue: queue, completion: completion) { op in
            let reader: UploadReader
            do throws(ToolboxError) {
                reader = try UploadReader(source)
            } catch {
                return op.finish(.failure(error))
            }
            op.onFinish { reader.finish() }
            BlobUploader(name: name, reader: reader, options: uploadOptions, pipeline: pipeline, operation: op,
                         deadline: .after(timeout), queue: queue).start()
        }
    }

    func download(_ name: String, options downloadOptions: BlobDownloadOptions, timeout: Duration,
                  queue: DispatchQueue,
                  completion: @escaping @Sendable (Result<BlobDownloadResult, ToolboxError>) -> Void) -> any Cancellable {
        start("downloading '\(name)'", blobName: name, queue: queue, completion: completion) { op in
            let sink = MemorySink(limit: downloadOptions.maxInMemoryBytes)
            BlobDownloader(name: name, options: downloadOptions, pipeline: pipeline, tracker: op,
                           deadline: .after(timeout), queue: queue, sink: sink) { result in
                op.finish(result.map { properties, _ in BlobDownloadResult(properties: properties, content: sink.take()) })
            }.begin()
        }
    }

    func download(_ name: String, toFile path: String, options downloadOptions: BlobDownloadOptions,
                  timeout: Duration, queue: DispatchQueue,
                  completion: @escaping @Sendable (Result<BlobFileDownloadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        start("downloading '\(name)' to a file", blobName: name, queue: queue, completion: completion) { op in
            let sink: FileSink
            do throws(ToolboxError) {
                sink = try FileSink(path: path)
            } catch {
                return op.finish(.failure(error))
            }
            let succeeded = LockedValue(false)
            op.onFinish { sink.finish(remove: !succeeded.load()) }
            var downloadOptions = downloadOptions
            if !sink.isSeekable { downloadOptions.concurrency = 1 }  // a pipe takes its bytes in order
            BlobDownloader(name: name, options: downloadOptions, pipeline: pipeline, tracker: op,
                           deadline: .after(timeout), queue: queue, sink: sink) { result in
                if case .success = result { succeeded.withLockedValue { $0 = true } }
                op.finish(result.map { properties, length in
                    BlobFileDownloadResult(properties: properties, bytesWritten: length, path: path)
                })
            }.begin()
        }
    }

    func downloadChunks(_ name: String, options downloadOptions: BlobDownloadOptions, timeout: Duration,
                        queue: DispatchQueue, onChunk: @escaping @Sendable ([UInt8]) -> Void,
                        completion: @escaping @Sendable (Result<BlobProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        start("downloading '\(name)' in chunks", blobName: name, queue: queue, completion: completion) { op in
            let sink = ChunkSink()
            // Each range is handed over once it is complete; the next is fetched after `onChunk` returns, so at
            // most one chunk is in memory however slow the consumer is.
            let deliver: @Sendable (BlobProperties, @escaping @Sendable () -> Void) -> Void = { _, next in
                let chunk = sink.take()
                queue.async {
                    guard !op.isFinished else { return }
                    if !chunk.isEmpty { onChunk(chunk) }
                    next()
                }
            }
            BlobDownloader(name: name, options: downloadOptions, pipeline: pipeline, tracker: op,
                           deadline: .after(timeout), queue: queue, sink: sink, afterRange: deliver) { result in
                let last = sink.take()
                // The final range of an empty blob, or the whole blob when it fits the first range, is still here.
                if case .success = result, !last.isEmpty {
                    queue.async {
                        guard !op.isFinished else { return }
                        onChunk(last)
                        op.finish(result.map { properties, _ in properties })
                    }
                    return
                }
                op.finish(result.map { properties, _ in properties })
            }.begin()
        }
    }
}
