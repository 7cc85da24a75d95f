import ToolboxCore

/// In-process access to the emulated Blob Storage account, for tests: create containers on a running emulator
/// and look at what clients stored without going through HTTP.
extension Emulator {
    var blobService: BlobService? {
        frontDoor?.services.lazy.compactMap { $0 as? BlobService }.first
    }

    /// The URL of a container (`…/devstoreaccount1/<container>`), as the SDKs' `ContainerClient.from_container_url` take it.
    public func blobContainerURL(_ container: String) -> String? {
        blobEndpoint.map { "\($0)/\(container.addingPercentEncodingForPath())" }
    }

    /// Creates a blob container (no error when it exists already).
    ///
    /// - throws: `.invalidArgument` for a name Azure refuses (3–63 of `a-z0-9-`), `.invalidConfiguration` when
    ///   the HTTP side is off.
    public func createBlobContainer(_ name: String) throws(EmulatorError) {
        guard let blobService else { throw EmulatorError(.invalidConfiguration, "the emulator's HTTP side is off (httpPort and httpsPort are nil)") }
        if case .failure(let error) = blobService.store.createContainer(name, metadata: []), error.status != 409 {
            throw EmulatorError(.invalidArgument, "blob container '\(name)': \(error.message)")
        }
    }

    /// The names of the committed blobs in `container`, sorted; nil when the container does not exist.
    public func blobNames(in container: String) -> [String]? {
        guard let blobService, case .success(let blobs) = blobService.store.blobs(container, prefix: "", from: nil) else { return nil }
        return blobs.map(\.name)
    }

    /// The content of a committed blob (copied out of its blocks), or nil when it does not exist.
    public func blobContent(container: String, blob: String) -> [UInt8]? {
        guard let blobService, case .success(let stored) = blobService.store.blob(container, blob) else { return nil }
        return stored.size == 0 ? [] : BlobContentStream(blocks: stored.blocks, range: 0...(stored.size - 1)).collect()
    }

    /// Bytes of blob data the emulator holds (committed and uncommitted blocks).
    public var blobStoredBytes: Int { blobService?.store.storedBytes ?? 0 }
}
