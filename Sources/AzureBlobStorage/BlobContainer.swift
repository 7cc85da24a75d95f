import Dispatch
import Logging
import ToolboxCore

/// A client of one Blob container that opens connections when it needs them and retires them after a TTL —
/// the Python toolbox's `AzureBlobStorageClient`, plus what its users reach for through the SDK.
///
/// ```swift
/// let container = try BlobContainer(connectionString: "UseDevelopmentStorage=true", containerName: "docs")
/// let result = try container.upload("reports/q3.pdf", from: .file(path: "q3.pdf"))
/// try container.download("reports/q3.pdf", toFile: "/tmp/q3.pdf")
/// let url = try container.sasURL(for: "reports/q3.pdf")        // read-only, one hour
/// try container.close()
/// ```
///
/// For warm, shared connections use `ManagedBlobContainer`. Operations, their three calling styles and their
/// errors are those of `BlobContainerOperations`.
public final class BlobContainer: BlobCoreBacked, @unchecked Sendable {
    // @unchecked Sendable: the only stored property is an immutable reference to a Sendable core.
    let core: BlobContainerCore

    /// A client for `containerName` under `accountURL` (`https://<account>.blob.core.windows.net`, or a
    /// path-style emulator URL; a SAS in the query is used for every request).
    public init(accountURL: String, containerName: String, credential: BlobCredential = .anonymous,
                options: BlobClientOptions = BlobClientOptions(),
                logger: Logger = Logger(label: "AzureBlobStorage", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws(ToolboxError)
    {
        core = try .make(accountURL: accountURL, containerName: containerName, credential: credential,
                         options: options, style: .basic, logger: logger)
    }

    /// A client from a Storage connection string (Shared Key, SAS or `UseDevelopmentStorage=true`).
    public init(connectionString: String, containerName: String, options: BlobClientOptions = BlobClientOptions(),
                logger: Logger = Logger(label: "AzureBlobStorage", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws(ToolboxError)
    {
        core = try .make(connectionString: connectionString, containerName: containerName, options: options,
                         style: .basic, logger: logger)
    }

    /// A client from a container URL, typically with a SAS: `https://acct.blob.core.windows.net/docs?sv=…`.
    public init(containerURL: String, credential: BlobCredential = .anonymous,
                options: BlobClientOptions = BlobClientOptions(),
                logger: Logger = Logger(label: "AzureBlobStorage", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws(ToolboxError)
    {
        core = try .make(containerURL: containerURL, credential: credential, options: options, style: .basic,
                         logger: logger)
    }
}
