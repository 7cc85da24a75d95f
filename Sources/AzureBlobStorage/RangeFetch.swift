import Dispatch
import ToolboxCore
import ToolboxTransport

/// Where downloaded bytes go: `write` stores bytes at an offset of the requested range (0 = its first byte).
protocol DownloadSink: Sendable {
    /// Called with the first answer's total range length, before any byte is written.
    func prepare(length: Int64) -> ToolboxError?
    func write(_ bytes: [UInt8], at offset: Int64) -> ToolboxError?
}

/// What every answer of a download after its first must agree with: the first answer's ETag (sent back as
/// `If-Match`) and the blob size it stated. An answer that differs comes from another version of the blob, and
/// its bytes must not be mixed with those already written.
struct DownloadPin: Sendable, Equatable {
    /// The first answer's `ETag`; nil when it had none (nothing to send or compare).
    let etag: String?
    /// The blob's size the first answer stated (`Content-Range` total, or a 200's `Content-Length`).
    let total: Int64?

    init(answer: HTTPResponseHead) {
        etag = answer.headers.first(name: "ETag").flatMap { $0.isEmpty ? nil : $0 }
        total = DownloadPin.total(of: answer)
    }

    /// The blob's size an answer states: `Content-Range`'s total, or a 200's `Content-Length`.
    static func total(of answer: HTTPResponseHead) -> Int64? {
        answer.headers.first(name: "Content-Range").flatMap(ContentRange.init(parsing:))?.total
            ?? (answer.status == 200 ? Int64(answer.headers.first(name: "Content-Length") ?? "") : nil)
    }

    /// Why `answer` (a 2xx) cannot belong to the download pinned here, or nil when it can.
    func disagreement(with answer: HTTPResponseHead, operation: String) -> ToolboxError? {
        if let etag {
            let other = answer.headers.first(name: "ETag")
            if other != etag {
                return ToolboxError(.preconditionFailed, "\(operation): the blob changed during the download: the "
                    + "first answer had ETag \(etag.prefix(80)), this one "
                    + (other.map { "has ETag \($0.prefix(80))" } ?? "has no ETag"))
            }
        }
        if let total {
            let other = DownloadPin.total(of: answer)
            if other != total {
                return ToolboxError(.invalidResponse, "\(operation): the blob's size changed from \(total) bytes to "
                    + (other.map { "\($0) bytes" } ?? "none stated") + " during the download")
            }
        }
        return nil
    }
}

/// One ranged GET streamed into a sink, resumed after a failure from the first byte not yet written (so a
/// dropped connection costs the rest of the range, not the blob).
///
/// Once an answer has come (here, or for an earlier range of the download: `pinned`), every attempt carries
/// `If-Match` with its ETag, and every answer must have that ETag and the same blob size.
///
/// The attempts run one after another; within one, the head, body pieces and completion arrive in order on the
/// HTTP client's delivery queue.
final class RangeFetch<Op: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: the mutable fields are guarded by `lock` (attempts never overlap, the lock makes
    // the hand-over between them explicit).
    private let lock = Lock()
    private var next: Int64
    private var skip: Int64 = 0
    private var status = 0
    private var errorBody: [UInt8] = []
    private var failure: ToolboxError?
    private var attempts = 0
    private var head: HTTPResponseHead?
    /// The download's first answer's ETag and size; set from this fetch's first answer when not given.
    private var pin: DownloadPin?

    private let name: String
    private let end: Int64?
    private let base: Int64
    private let headers: [(String, String)]
    private let pipeline: BlobPipeline
    private let tracker: BlobOperation<Op>
    private let deadline: Deadline
    private let sink: any DownloadSink
    private let progress: ProgressReporter?
    /// Inspects the first successful head (the first range of a download learns the size there).
    private let onHead: (@Sendable (HTTPResponseHead) -> ToolboxError?)?
    private let completion: @Sendable (Result<HTTPResponseHead, ToolboxError>) -> Void

    /// - Parameters:
    ///   - start, end: the bytes to get (inclusive; `end` nil: to the end of the blob).
    ///   - base: the blob offset that is offset 0 in the sink.
    ///   - headers: the caller's conditions (an `If-Match` among them is replaced by the pinned ETag).
    ///   - pinned: the download's first answer, for every range after the first.
    init(name: String, start: Int64, end: Int64?, base: Int64, headers: [(String, String)], pinned: DownloadPin? = nil,
         pipeline: BlobPipeline, tracker: BlobOperation<Op>, deadline: Deadline, sink: any DownloadSink,
         progress: ProgressReporter?, onHead: (@Sendable (HTTPResponseHead) -> ToolboxError?)? = nil,
         completion: @escaping @Sendable (Result<HTTPResponseHead, ToolboxError>) -> Void) {
        self.name = name
        self.next = start
        self.end = end
        self.base = base
        self.headers = headers
        self.pin = pinned
        self.pipeline = pipeline
        self.tracker = tracker
        self.deadline = deadline
        self.sink = sink
        self.progress = progress
        self.onHead = onHead
        self.completion = completion
    }

    var operationText: String { lock.withLock { operationTextLocked } }

    /// `operationText`, with `lock` held.
    private var operationTextLocked: String {
        "downloading bytes \(next)-\(end.map(String.init) ?? "") of '\(name)'"
    }

    /// - Parameter sendRange: false for the one request that must not carry a range (an empty blob).
    func start(sendRange: Bool = true) {
        let (from, number, pin): (Int64, Int, DownloadPin?) = lock.withLock {
            status = 0
            skip = 0
            errorBody = []
            failure = nil
            return (next, attempts, self.pin)
        }
        var fields = headers
        if let etag = pin?.etag {
            // The resume of a range, and every later range, must get the version whose bytes are already written.
            fields.removeAll { $0.0.lowercased() == "if-match" }
            fields.append(("If-Match", etag))
        }
        if sendRange { fields.append(("x-ms-range", "bytes=\(from)-\(end.map(String.init) ?? "")")) }
        let request = BlobRequest(method: "GET", resource: .blob(name), headers: fields, expected: [200, 206],
                                  operation: operationText)
        pipeline.launch(request, body: .empty, tracker: tracker, failed: { [self] in completion(.failure($0)) }) {
            [self] httpRequest, ended in
            pipeline.http.stream(
                httpRequest, deadline: pipeline.tryDeadline(deadline), queue: pipeline.workQueue,
                onHead: { [self] head in received(head, from: from) },
                onBody: { [self] bytes in receivedBody(bytes) },
                completion: { [self] result in
                    ended()
                    pipeline.observe(request, status: try? result.get().status)
                    finished(result, number: number, sendRange: sendRange)
                })
        }
    }

    private func received(_ head: HTTPResponseHead, from: Int64) {
        var problem: ToolboxError?
        if head.status == 206 {
            if let text = head.headers.first(name: "Content-Range"), let range = ContentRange(parsing: text) {
                if range.start != from {
                    problem = ToolboxError(.invalidResponse, "asked for bytes from \(from) of '\(name)' but got "
                        + "'\(text.prefix(80))'")
                }
            } else {
                problem = ToolboxError(.invalidResponse, "a 206 answer for '\(name)' has no valid Content-Range")
            }
        }
        let success = (200...299).contains(head.status)
        let (first, failed): (Bool, Bool) = lock.withLock {
            status = head.status
            // A 200 to a ranged request is the whole blob: drop what comes before the wanted bytes.
            if head.status == 200 { skip = next }
            if success {
                // Checked before any byte of the answer is written.
                if let pin {
                    if problem == nil { problem = pin.disagreement(with: head, operation: operationTextLocked) }
                } else {
                    pin = DownloadPin(answer: head)
                }
            }
            if let problem { failure = problem }
            // Only a successful head counts as the first: a throttled or failed attempt before it must not use
            // up the one call that sizes the sink (the download would then refuse every byte).
            guard success, self.head == nil else { return (false, problem != nil) }
            self.head = head
            return (true, problem != nil)
        }
        if !failed, first, let onHead, let refusal = onHead(head) {
            lock.withLock { failure = refusal }
        }
    }

    private func receivedBody(_ bytes: [UInt8]) {
        let step: BodyStep = lock.withLock {
            if failure != nil { return .ignore }
            if !(200...299).contains(status) {
                if errorBody.count < 64 << 10 { errorBody += bytes.prefix((64 << 10) - errorBody.count) }
                return .keepError
            }
            var piece = bytes[...]
            if skip > 0 {
                let drop = Int(min(skip, Int64(piece.count)))
                piece = piece.dropFirst(drop)
                skip -= Int64(drop)
            }
            if piece.isEmpty { return .ignore }
            if let end, next + Int64(piece.count) > end + 1 {
                // More than asked for (a 200 with the whole blob): keep the wanted part only.
                let keep = Int(max(0, end + 1 - next))
                piece = piece.prefix(keep)
                if piece.isEmpty { return .ignore }
            }
            let at = next - base
            next += Int64(piece.count)
            // The common case, a piece wanted whole, goes on as it is (no copy of every 64 KiB of a download).
            return .write(piece.count == bytes.count ? bytes : Array(piece), at)
        }
        guard case .write(let piece, let offset) = step else { return }
        if let error = sink.write(piece, at: offset) {
            lock.withLock { failure = error }
            tracker.finish(.failure(error))
            return
        }
        progress?.add(Int64(piece.count))
    }

    private func finished(_ result: Result<HTTPResponseHead, TransportError>, number: Int, sendRange: Bool) {
        let (failure, status, errorBody, next, head) = lock.withLock {
            (self.failure, self.status, self.errorBody, self.next, self.head)
        }
        if let failure { return completion(.failure(failure)) }
        let error: ToolboxError
        let retryable: Bool
        switch result {
        case .success(let answer) where (200...299).contains(status):
            // (An answer of another size or ETag than the first was refused at its head, in `received`.)
            let total = DownloadPin.total(of: answer)
            let wantedEnd = end ?? ((total ?? next) - 1)
            if next > wantedEnd { return completion(.success(head ?? answer)) }
            // "The blob ends here" finishes early only the range that learns the size (the first); a later range
            // lies below the size learned then (and `If-Match` pins that version), so an answer saying the blob
            // ends inside it would leave its bytes unwritten — zeros in a file already sized — and pass as a
            // complete download.
            if let total, next >= total {
                if onHead != nil { return completion(.success(head ?? answer)) }
                return completion(.failure(ToolboxError(.invalidResponse, "\(operationText): the answer says the blob "
                    + "has \(total) bytes, fewer than the size the download learned first")))
            }
            error = ToolboxError(.httpTruncated, "\(operationText): the answer ended early")
            retryable = true
        case .success(let answer):
            let secrets = pipeline.secrets(sentWith: nil)
            error = Self.explained(BlobErrors.from(HTTPResponse(head: answer, body: errorBody).redacting(secrets),
                                                   operation: operationText),
                                   pin: lock.withLock { pin }).redacting(secrets)
            retryable = BlobErrors.isRetryable(status: answer.status)
        case .failure(let transportError):
            error = BlobErrors.from(transportError, operation: operationText)
            retryable = BlobErrors.isRetryable(transportError)
        }
        lock.withLock { attempts += 1 }
        pipeline.retryOrFail(error, retryable: retryable, number: number, deadline: deadline, tracker: tracker,
                             completion: { [self] in completion($0.map { $0.head }) }) { [self] in
            start(sendRange: sendRange)
        }
    }
}

extension RangeFetch {
    /// A 412 to a request carrying the pinned ETag means the blob was replaced after the first answer: say so.
    static func explained(_ error: ToolboxError, pin: DownloadPin?) -> ToolboxError {
        guard error.code == .preconditionFailed, let etag = pin?.etag else { return error }
        var explained = error
        explained.message += " (the blob changed during the download: it no longer has ETag \(etag.prefix(80)))"
        return explained
    }
}

/// What `RangeFetch` does with a body piece, decided under its lock.
private enum BodyStep {
    case ignore
    case keepError
    case write([UInt8], Int64)
}
