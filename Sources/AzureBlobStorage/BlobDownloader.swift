import Dispatch
import ToolboxCore
import ToolboxTransport

/// One download: a first ranged GET that learns the blob's size and ETag, then the remaining ranges — in
/// parallel (at most `concurrency` at once) or, for chunked delivery, one after another. Every request after the
/// first answer (the first range's resumes too) is pinned to that answer's ETag with `If-Match`, and every answer
/// must carry that ETag and the same blob size, so a blob replaced mid-download fails with `.preconditionFailed`
/// instead of mixing two versions (even from a server that ignores `If-Match`).
final class BlobDownloader<Op: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `properties`, `pin`, `rangeEnd`, `nextFrom` and `running` are guarded by `lock`.
    private let lock = Lock()
    private var properties: BlobProperties?
    /// The first answer's ETag and size, which every later range's answers must match.
    private var pin: DownloadPin?
    private var rangeEnd: Int64 = -1
    /// The first byte no range has been started for; ranges are cut from it on demand (a size the service
    /// announces never turns into a list of ranges held at once).
    private var nextFrom: Int64 = 0
    private var running = 0

    private let name: String
    private let options: BlobDownloadOptions
    private let pipeline: BlobPipeline
    private let tracker: BlobOperation<Op>
    private let deadline: Deadline
    private let sink: any DownloadSink
    private let progress: ProgressReporter
    private let chunkSize: Int64
    private let concurrency: Int
    /// Chunked delivery: called after each range with its bounds; the download goes on when `next` is called.
    private let afterRange: (@Sendable (_ properties: BlobProperties, _ next: @escaping @Sendable () -> Void) -> Void)?
    private let done: @Sendable (Result<(BlobProperties, Int64), ToolboxError>) -> Void

    init(name: String, options: BlobDownloadOptions, pipeline: BlobPipeline, tracker: BlobOperation<Op>,
         deadline: Deadline, queue: DispatchQueue, sink: any DownloadSink,
         afterRange: (@Sendable (BlobProperties, @escaping @Sendable () -> Void) -> Void)? = nil,
         done: @escaping @Sendable (Result<(BlobProperties, Int64), ToolboxError>) -> Void) {
        let transfer = pipeline.options.transfer
        self.name = name
        self.options = options
        self.pipeline = pipeline
        self.tracker = tracker
        self.deadline = deadline
        self.sink = sink
        self.progress = ProgressReporter(options.progress, target: queue)
        self.chunkSize = Int64(options.chunkSize ?? transfer.chunkSize)
        self.concurrency = afterRange == nil ? (options.concurrency ?? transfer.concurrency) : 1
        self.afterRange = afterRange
        self.done = done
    }

    private var start: Int64 { options.range?.offset ?? 0 }

    func begin() {
        if let error = TransferLimits.validate(blockSize: Int(chunkSize), concurrency: concurrency, threshold: 0,
                                                 sizeName: "chunk size") {
            return done(.failure(error))
        }
        if let range = options.range {
            guard range.offset >= 0, range.length.map({ $0 > 0 }) ?? true,
                  range.length.map({ range.offset.addingReportingOverflow($0).overflow == false }) ?? true else {
                return done(.failure(ToolboxError(.invalidArgument, "the range must start at 0 or later and have a "
                    + "positive length")))
            }
        }
        let requestedEnd = options.range?.length.map { start + $0 - 1 }
        let (firstSum, overflow) = start.addingReportingOverflow(chunkSize - 1)
        let firstEnd = min(overflow ? Int64.max - 1 : firstSum, requestedEnd ?? .max)
        let first = RangeFetch(
            name: name, start: start, end: firstEnd, base: start, headers: options.conditions.headers,
            pipeline: pipeline, tracker: tracker, deadline: deadline, sink: sink, progress: progress,
            onHead: { [self] head in learn(head, requestedEnd: requestedEnd) },
            completion: { [self] result in
                switch result {
                case .success: firstRangeDone(firstEnd: firstEnd)
                case .failure(let error) where error.code == .rangeNotSatisfiable && options.range == nil:
                    emptyBlob()
                case .failure(let error): done(.failure(error))
                }
            })
        first.start()
    }

    /// The first answer gives the blob's size, ETag and properties; the sink is sized to the bytes wanted.
    private func learn(_ head: HTTPResponseHead, requestedEnd: Int64?) -> ToolboxError? {
        let properties: BlobProperties
        do {
            properties = try BlobResponseHeaders.properties(name: name, head: head)
        } catch {
            return error
        }
        let end = min(requestedEnd ?? (properties.size - 1), properties.size - 1)
        let length = max(0, end - start + 1)
        lock.withLock {
            self.properties = properties
            pin = DownloadPin(answer: head)
            rangeEnd = end
        }
        progress.setTotal(length)
        return sink.prepare(length: length)
    }

    /// A 0-byte blob answers a ranged GET with 416: ask again without a range, as azure-storage-blob does.
    private func emptyBlob() {
        let fetch = RangeFetch(
            name: name, start: 0, end: nil, base: 0, headers: options.conditions.headers, pipeline: pipeline,
            tracker: tracker, deadline: deadline, sink: sink, progress: progress,
            onHead: { [self] head in learn(head, requestedEnd: nil) },
            completion: { [self] result in
                switch result {
                case .failure(let error): done(.failure(error))
                case .success: finishAll()
                }
            })
        fetch.start(sendRange: false)
    }

    private func firstRangeDone(firstEnd: Int64) {
        // rangeEnd is below the blob's size, so neither +1 can overflow.
        let properties: BlobProperties? = lock.withLock {
            nextFrom = min(firstEnd, rangeEnd) + 1
            return self.properties
        }
        if let afterRange, let properties {
            afterRange(properties) { [self] in launch() }
        } else {
            launch()
        }
    }

    /// Starts ranges while slots are free; finishes when none is left or running.
    private func launch() {
        let step: LaunchStep = lock.withLock {
            if nextFrom > rangeEnd && running == 0 { return .finish }
            var batch: [(Int64, Int64)] = []
            while running < concurrency, nextFrom <= rangeEnd {
                let (sum, overflow) = nextFrom.addingReportingOverflow(chunkSize - 1)
                let to = overflow ? rangeEnd : min(sum, rangeEnd)
                batch.append((nextFrom, to))
                nextFrom = to + 1
                running += 1
            }
            return batch.isEmpty ? .wait : .start(batch)
        }
        switch step {
        case .finish: return finishAll()
        case .wait: return
        case .start(let batch):
            let pin = lock.withLock { self.pin }
            for (from, to) in batch {
                let fetch = RangeFetch(
                    name: name, start: from, end: to, base: start, headers: options.conditions.headers, pinned: pin,
                    pipeline: pipeline,
                    tracker: tracker, deadline: deadline, sink: sink, progress: progress,
                    completion: { [self] result in
                        if case .failure(let error) = result { return done(.failure(error)) }
                        lock.withLock { running -= 1 }
                        if let afterRange, let properties = lock.withLock({ self.properties }) {
                            afterRange(properties) { [self] in launch() }
                        } else {
                            launch()
                        }
                    })
                fetch.start()
            }
        }
    }

    private func finishAll() {
        let (properties, end) = lock.withLock { (self.properties, rangeEnd) }
        guard let properties else {
            return done(.failure(ToolboxError(.invalidResponse, "the download of '\(name)' ended without an answer")))
        }
        done(.success((properties, max(0, end - start + 1))))
    }
}

/// What `BlobDownloader.launch` decided under its lock.
private enum LaunchStep {
    case start([(Int64, Int64)])
    case finish
    case wait
}
