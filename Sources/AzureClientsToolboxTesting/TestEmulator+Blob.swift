import AzureEmulator

/// Blob Storage for tests: an emulator with ready containers and the endpoints clients take.
///
/// ```swift
/// let emulator = try TestEmulator.startBlob(containers: ["uploads"])
/// defer { emulator.stop() }
/// let connectionString = try XCTUnwrap(emulator.blobConnectionString)   // Shared Key, plain HTTP
/// ```
extension TestEmulator {
    /// Starts an emulator whose Blob Storage account has `containers`; `https` adds the TLS listener (bearer
    /// tokens need it with Microsoft's SDKs; trust `emulator.caFile`).
    public static func startBlob(containers: [String] = ["test"], https: Bool = false, faults: EmulatorFaults = EmulatorFaults(),
                                 configure: (inout EmulatorConfiguration) -> Void = { _ in }) throws -> TestEmulator {
        try start(eventHubs: [:], queues: [], faults: faults) { configuration in
            configuration.blobContainers = containers
            if https { configuration.httpsPort = 0 }
            configure(&configuration)
        }
    }

    /// The Blob service URL (`http(s)://127.0.0.1:<port>/devstoreaccount1`); https when the TLS listener runs.
    public var blobEndpoint: String? { emulator.blobEndpoint }
    /// The plain-HTTP Blob service URL, for Shared Key and SAS clients that skip TLS.
    public var plainBlobEndpoint: String? {
        emulator.plainHTTPBaseURL.map { "\($0)/\(emulator.configuration.blobAccountName)" }
    }
    /// `DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;BlobEndpoint=…;`
    public var blobConnectionString: String? { emulator.blobConnectionString }
    public var blobAccountName: String { emulator.configuration.blobAccountName }
    public var blobAccountKey: String { emulator.configuration.blobAccountKey.exposedValue }

    /// Creates another container on the running emulator (no error when it exists).
    public func createBlobContainer(_ name: String) throws { try emulator.createBlobContainer(name) }

    /// What clients stored, read in-process: names in a container and a blob's bytes.
    public func blobNames(in container: String) -> [String]? { emulator.blobNames(in: container) }
    public func blobContent(container: String, blob: String) -> [UInt8]? { emulator.blobContent(container: container, blob: blob) }
}
