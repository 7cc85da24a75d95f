import Dispatch
import ToolboxCore

/// Default deadlines: small requests get a minute, transfers an hour.
public enum BlobTimeouts {
    public static let request: Duration = .seconds(60)
    public static let transfer: Duration = .seconds(3600)
}

// Completion forms with defaults (callback on the library's default queue).
extension BlobContainerOperations {
    @discardableResult
    public func upload(_ blobName: String, from source: BlobUploadSource, options: BlobUploadOptions = .init(),
                       timeout: Duration = BlobTimeouts.transfer,
                       completion: @escaping @Sendable (Result<BlobUploadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        upload(blobName, from: source, options: options, timeout: timeout, queue: LibraryQueues.defaultCallbackQueue,
               completion: completion)
    }

    @discardableResult
    public func download(_ blobName: String, options: BlobDownloadOptions = .init(),
                         timeout: Duration = BlobTimeouts.transfer,
                         completion: @escaping @Sendable (Result<BlobDownloadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        download(blobName, options: options, timeout: timeout, queue: LibraryQueues.defaultCallbackQueue,
                 completion: completion)
    }

    @discardableResult
    public func download(_ blobName: String, toFile path: String, options: BlobDownloadOptions = .init(),
                         timeout: Duration = BlobTimeouts.transfer,
                         completion: @escaping @Sendable (Result<BlobFileDownloadResult, ToolboxError>) -> Void)
        -> any Cancellable
    {
        download(blobName, toFile: path, options: options, timeout: timeout,
                 queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    @discardableResult
    public func listBlobs(prefix: String? = nil, pageSize: Int? = nil, marker: String? = nil,
                          timeout: Duration = BlobTimeouts.request,
                          completion: @escaping @Sendable (Result<BlobListPage, ToolboxError>) -> Void)
        -> any Cancellable
    {
        listBlobs(prefix: prefix, pageSize: pageSize, marker: marker, timeout: timeout,
                  queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    @discardableResult
    public func deleteBlob(_ blobName: String, conditions: BlobRequestConditions = .init(),
                           timeout: Duration = BlobTimeouts.request,
                           completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        deleteBlob(blobName, conditions: conditions, timeout: timeout, queue: LibraryQueues.defaultCallbackQueue,
                   completion: completion)
    }

    @discardableResult
    public func properties(of blobName: String, conditions: BlobRequestConditions = .init(),
                           timeout: Duration = BlobTimeouts.request,
                           completion: @escaping @Sendable (Result<BlobProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        properties(of: blobName, conditions: conditions, timeout: timeout, queue: LibraryQueues.defaultCallbackQueue,
                   completion: completion)
    }

    @discardableResult
    public func sas(for blobNames: [String], options: BlobSASOptions = .init(), timeout: Duration = BlobTimeouts.request,
                    completion: @escaping @Sendable (Result<[BlobSAS], ToolboxError>) -> Void) -> any Cancellable {
        sas(for: blobNames, options: options, timeout: timeout, queue: LibraryQueues.defaultCallbackQueue,
            completion: completion)
    }

    public func close(completion: @escaping @Sendable () -> Void) {
        close(queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// `BlobNames.safe(_:quoting:)`: the Python toolbox's `safe_blob_name`.
    public static func safeBlobName(_ name: String, quoting: Bool = false) -> String {
        BlobNames.safe(name, quoting: quoting)
    }
}

// Blocking forms: for scripts and synchronous code; they refuse to run on a library queue.
extension BlobContainerOperations {
    /// Uploads and returns the service's answer (ETag, MD5, sizes).
    public func upload(_ blobName: String, from source: BlobUploadSource, options: BlobUploadOptions = .init(),
                       timeout: Duration = BlobTimeouts.transfer) throws(ToolboxError) -> BlobUploadResult {
        try Blocking.waitForResult { queue, done in
            upload(blobName, from: source, options: options, timeout: timeout, queue: queue, completion: done)
        }
    }

    /// Uploads bytes (the Python toolbox's `upload_blob`).
    public func upload(_ blobName: String, data: [UInt8], options: BlobUploadOptions = .init(),
                       timeout: Duration = BlobTimeouts.transfer) throws(ToolboxError) -> BlobUploadResult {
        try upload(blobName, from: .bytes(data), options: options, timeout: timeout)
    }

    public func download(_ blobName: String, options: BlobDownloadOptions = .init(),
                         timeout: Duration = BlobTimeouts.transfer) throws(ToolboxError) -> BlobDownloadResult {
        try Blocking.waitForResult { queue, done in
            download(blobName, options: options, timeout: timeout, queue: queue, completion: done)
        }
    }

    public func download(_ blobName: String, toFile path: String, options: BlobDownloadOptions = .init(),
                         timeout: Duration = BlobTimeouts.transfer) throws(ToolboxError) -> BlobFileDownloadResult {
        try Blocking.waitForResult { queue, done in
            download(blobName, toFile: path, options: options, timeout: timeout, queue: queue, completion: done)
        }
    }

    /// Streams the blob's chunks through `onChunk` (called on a private queue, in order) and returns its
    /// properties when the last one was handled.
    public func downloadChunks(_ blobName: String, options: BlobDownloadOptions = .init(),
                               timeout: Duration = BlobTimeouts.transfer,
                               onChunk: @escaping @Sendable ([UInt8]) -> Void) throws(ToolboxError) -> BlobProperties {
        try Blocking.waitForResult { queue, done in
            downloadChunks(blobName, options: options, timeout: timeout, queue: queue, onChunk: onChunk,
                           completion: done)
        }
    }

    public func listBlobs(prefix: String? = nil, pageSize: Int? = nil, marker: String? = nil,
                          timeout: Duration = BlobTimeouts.request) throws(ToolboxError) -> BlobListPage {
        try Blocking.waitForResult { queue, done in
            listBlobs(prefix: prefix, pageSize: pageSize, marker: marker, timeout: timeout, queue: queue,
                      completion: done)
        }
    }

    /// Every blob whose name starts with `prefix`, page after page (`timeout` bounds each page). A page naming a
    /// marker this listing already followed (a server cycling markers) fails it with `.invalidResponse`.
    ///
    /// - Parameters:
    ///   - prefix: only blobs whose names start with it (nil: all).
    ///   - pageSize: blobs per page (nil: the service's default, up to 5,000).
    ///   - timeout: bounds each page.
    ///   - totalTimeout: bounds the whole listing, every page together (nil: no bound but each page's). A server
    ///     handing out empty pages with ever new markers is no loop to detect; only this ends such a listing, with
    ///     `.timedOut`.
    public func listAllBlobs(prefix: String? = nil, pageSize: Int? = nil,
                             timeout: Duration = BlobTimeouts.request,
                             totalTimeout: Duration? = nil) throws(ToolboxError) -> [BlobProperties] {
        if let totalTimeout, totalTimeout <= .zero {
            throw ToolboxError(.invalidArgument, "listAllBlobs: totalTimeout must be positive (got \(totalTimeout))")
        }
        let deadline = totalTimeout.map { Deadline.after($0) }
        var all: [BlobProperties] = []
        var markers = BlobListingMarkers(start: nil)
        var pages = 0
        func outOfTime() -> ToolboxError {
            ToolboxError(.timedOut, "listing blobs took longer than its total time-out of "
                             + "\(totalTimeout?.toolboxSeconds ?? 0) s (\(pages) page(s), \(all.count) blob(s) listed)")
        }
        repeat {
            var pageTimeout = timeout
            if let deadline {
                let left = Duration.clampingSeconds(deadline.secondsRemaining)
                guard left > .zero else { throw outOfTime() }
                pageTimeout = min(timeout, left)
            }
            let page: BlobListPage
            do {
                page = try listBlobs(prefix: prefix, pageSize: pageSize, marker: markers.current, timeout: pageTimeout)
            } catch where error.code == .timedOut && deadline?.hasPassed == true {
                throw outOfTime()  // the page ran out of the listing's time, not its own
            }
            _ = try markers.advance(past: page)
            all += page.blobs
            pages += 1
        } while markers.current != nil
        return all
    }

    public func deleteBlob(_ blobName: String, conditions: BlobRequestConditions = .init(),
                           timeout: Duration = BlobTimeouts.request) throws(ToolboxError) {
        let _: Void = try Blocking.waitForResult { queue, done in
            deleteBlob(blobName, conditions: conditions, timeout: timeout, queue: queue, completion: done)
        }
    }

    /// Put Blob From URL; `overwrite` defaults to true, as in the Python toolbox.
    public func upload(_ blobName: String, fromURL sourceURL: String, overwrite: Bool = true,
                       timeout: Duration = BlobTimeouts.transfer) throws(ToolboxError) -> BlobUploadResult {
        try Blocking.waitForResult { queue, done in
            upload(blobName, fromURL: sourceURL, overwrite: overwrite, timeout: timeout, queue: queue, completion: done)
        }
    }

    public func properties(of blobName: String, conditions: BlobRequestConditions = .init(),
                           timeout: Duration = BlobTimeouts.request) throws(ToolboxError) -> BlobProperties {
        try Blocking.waitForResult { queue, done in
            properties(of: blobName, conditions: conditions, timeout: timeout, queue: queue, completion: done)
        }
    }

    @discardableResult
    public func setMetadata(_ metadata: [String: String], of blobName: String,
                            conditions: BlobRequestConditions = .init(),
                            timeout: Duration = BlobTimeouts.request) throws(ToolboxError) -> BlobUploadResult {
        try Blocking.waitForResult { queue, done in
            setMetadata(metadata, of: blobName, conditions: conditions, timeout: timeout, queue: queue,
                        completion: done)
        }
    }

    public func sas(for blobNames: [String], options: BlobSASOptions = .init(),
                    timeout: Duration = BlobTimeouts.request) throws(ToolboxError) -> [BlobSAS] {
        try Blocking.waitForResult { queue, done in
            sas(for: blobNames, options: options, timeout: timeout, queue: queue, completion: done)
        }
    }

    /// A read-only SAS token for one blob, valid for an hour (the Python toolbox's `get_blob_sas_token`).
    public func sasToken(for blobName: String, options: BlobSASOptions = .init()) throws(ToolboxError)
        -> Secret<String>
    {
        let signed = try sas(for: [blobName], options: options)
        guard let first = signed.first else {
            throw ToolboxError(.invalidResponse, "no SAS was signed for '\(blobName)'")
        }
        return first.token
    }

    /// The blob's URL with a read-only SAS (the Python toolbox's `get_blob_sas_url`).
    public func sasURL(for blobName: String, options: BlobSASOptions = .init()) throws(ToolboxError) -> Secret<String> {
        let signed = try sas(for: [blobName], options: options)
        guard let first = signed.first else {
            throw ToolboxError(.invalidResponse, "no SAS was signed for '\(blobName)'")
        }
        return first.url
    }

    /// Closes every connection; operations started afterwards fail with `.clientClosed`.
    public func close() throws(ToolboxError) {
        let _: Void = try Blocking.waitForResult { queue, done in close(queue: queue) { done(.success(())) } }
    }
}
