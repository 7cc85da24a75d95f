import ConnectionPooling
import Dispatch
import Logging
import ToolboxCore
import ToolboxTransport

/// A client of one Blob container over a pool of warm keep-alive connections shared by all its callers — what
/// the Python toolbox leaves unpooled. `warmUp(count:)` opens connections ahead of need, `pool.minReady` keeps
/// that many open and refreshed, and `poolSnapshot` shows the pool's state.
///
/// ```swift
/// var options = BlobClientOptions()
/// options.pool.minReady = 4
/// let blobs = try ManagedBlobContainer(connectionString: cs, containerName: "docs", options: options)
/// try blobs.warmUp(count: 4)                 // connect + TLS now, not on the first request
/// _ = try blobs.upload("a.txt", data: Array("hi".utf8))
/// print(blobs.poolSnapshot ?? "no connections yet")
/// ```
///
/// Operations, calling styles and errors are those of `BlobContainerOperations`.
public final class ManagedBlobContainer: BlobCoreBacked, @unchecked Sendable {
    // @unchecked Sendable: the only stored property is an immutable reference to a Sendable core.
    let core: BlobContainerCore

    public init(accountURL: String, containerName: String, credential: BlobCredential = .anonymous,
                options: BlobClientOptions = BlobClientOptions(),
                logger: Logger = Logger(label: "AzureBlobStorage", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws(ToolboxError)
    {
        core = try .make(accountURL: accountURL, containerName: containerName, credential: credential,
                         options: options, style: .managed, logger: logger)
    }

    public init(connectionString: String, containerName: String, options: BlobClientOptions = BlobClientOptions(),
                logger: Logger = Logger(label: "AzureBlobStorage", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws(ToolboxError)
    {
        core = try .make(connectionString: connectionString, containerName: containerName, options: options,
                         style: .managed, logger: logger)
    }

    public init(containerURL: String, credential: BlobCredential = .anonymous,
                options: BlobClientOptions = BlobClientOptions(),
                logger: Logger = Logger(label: "AzureBlobStorage", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws(ToolboxError)
    {
        core = try .make(containerURL: containerURL, credential: credential, options: options, style: .managed,
                         logger: logger)
    }

    /// Opens up to `count` connections now; completes with how many are ready.
    public func warmUp(count: Int, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                       completion: @escaping @Sendable (Result<Int, ToolboxError>) -> Void) {
        core.pipeline.http.warmUp(core.pipeline.service.endpoint, count: count, queue: queue) { result in
            completion(result.mapError { error in
                ToolboxError(error.code, "warming up connections to \(self.core.pipeline.service.endpoint) failed: "
                    + error.message, underlying: error)
            })
        }
    }

    /// Blocking form of `warmUp(count:queue:completion:)`.
    @discardableResult
    public func warmUp(count: Int) throws(ToolboxError) -> Int {
        try Blocking.waitForResult { queue, done in warmUp(count: count, queue: queue, completion: done) }
    }

    /// The pool's state: ready, in use and opening connections, creates, failures, expirations; nil before the
    /// first connection.
    public var poolSnapshot: ConnectionPoolSnapshot? {
        core.pipeline.http.poolSnapshots()[core.pipeline.service.endpoint]
    }
}
