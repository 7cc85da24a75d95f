@_spi(Testing) import AzureBlobStorage
import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import ToolboxCore
import XCTest

/// An in-process emulator with a Blob container `c1` (plain HTTP and HTTPS), and clients for it.
final class BlobTestEmulator {
    let emulator: TestEmulator
    let container = "ctr1"

    init(faults: EmulatorFaults = EmulatorFaults(), configure: (inout EmulatorConfiguration) -> Void = { _ in })
        throws
    {
        emulator = try TestEmulator.start(eventHubs: [:], queues: [], faults: faults) { configuration in
            configuration.blobContainers = ["ctr1", "ctr2"]
            configuration.httpsPort = 0
            configure(&configuration)
        }
    }

    deinit { emulator.stop() }

    var plainEndpoint: String {
        "\(emulator.emulator.plainHTTPBaseURL ?? "")/\(emulator.emulator.configuration.blobAccountName)"
    }

    /// `DefaultEndpointsProtocol=http;AccountName=…;AccountKey=…;BlobEndpoint=http://…`.
    var plainConnectionString: String {
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            + "AccountKey=\(emulator.emulator.configuration.blobAccountKey.exposedValue);BlobEndpoint=\(plainEndpoint);"
    }

    /// The HTTPS connection string (clients need `caFile`).
    var tlsConnectionString: String { emulator.emulator.blobConnectionString ?? "" }
    var tlsEndpoint: String { emulator.emulator.blobEndpoint ?? "" }
    var caFile: String? { emulator.emulator.caFile }

    /// Small blocks and fast retries, so tests exercise blocks and ranges with little data.
    static func testOptions(_ adjust: (inout BlobClientOptions) -> Void = { _ in }) -> BlobClientOptions {
        var options = BlobClientOptions()
        options.transfer.blockSize = 64 << 10
        options.transfer.singlePutThreshold = 64 << 10
        options.transfer.chunkSize = 64 << 10
        options.transfer.concurrency = 4
        options.retry.initialDelay = .milliseconds(5)
        options.retry.maxDelay = .milliseconds(50)
        adjust(&options)
        return options
    }

    func client(container: String? = nil, _ adjust: (inout BlobClientOptions) -> Void = { _ in }) throws
        -> BlobContainer
    {
        try BlobContainer(connectionString: plainConnectionString, containerName: container ?? self.container,
                          options: Self.testOptions(adjust))
    }
}

/// Deterministic test bytes: `count` bytes of a pattern that differs per `seed`.
func testBytes(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    var state = UInt32(seed) &* 2_654_435_761 &+ 1
    for index in bytes.indices {
        state = state &* 1_103_515_245 &+ 12345
        bytes[index] = UInt8(truncatingIfNeeded: state >> 16)
    }
    return bytes
}

/// Counts attempts the client made, by method and `comp`.
final class AttemptLog: @unchecked Sendable {
    // @unchecked Sendable: `records` is guarded by `lock`.
    private let lock = NSLock()
    private var records: [BlobAttemptRecord] = []

    var observer: @Sendable (BlobAttemptRecord) -> Void { { record in self.lock.withLock { self.records.append(record) } } }

    func count(method: String, comp: String? = nil, where predicate: (BlobAttemptRecord) -> Bool = { _ in true })
        -> Int
    {
        lock.withLock { records.filter { $0.method == method && $0.comp == comp && predicate($0) }.count }
    }

    var all: [BlobAttemptRecord] { lock.withLock { records } }
}

func temporaryPath(_ name: String) -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("blob-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

/// A client of container `ctr1` on a scripted server at `port`, signed with an unchecked SAS granting
/// `permissions`; `change` adjusts the options (fast retries, small chunks).
func scriptedContainer(port: UInt16, permissions: String = "rl",
                       _ change: (inout BlobClientOptions) -> Void = { _ in }) throws -> BlobContainer {
    var options = BlobClientOptions()
    change(&options)
    return try BlobContainer(
        accountURL: "http://127.0.0.1:\(port)/devstoreaccount1?sv=2020-12-06&sp=\(permissions)&sig=unchecked",
        containerName: "ctr1", options: options)
}

extension BlobClientOptions {
    /// Ranged downloads of 1,000-byte chunks with `concurrency` in flight and two quick retries: what the scripted
    /// download tests use.
    mutating func scriptedDownloads(concurrency: Int) {
        transfer.chunkSize = 1_000
        transfer.concurrency = concurrency
        retry.maxRetries = 2
        retry.initialDelay = .milliseconds(5)
        retry.maxDelay = .milliseconds(20)
    }
}
