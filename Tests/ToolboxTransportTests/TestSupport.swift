import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport

/// Paths to the throw-away PKI generated once per test process by `scripts/make-test-certs.sh`.
struct TestPKI: Sendable {
    let directory: String
    var caFile: String { directory + "/ca.pem" }
    var otherCAFile: String { directory + "/other-ca.pem" }
    var serverCertificate: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }
    var expiredCertificate: String { directory + "/expired.pem" }
    var expiredKey: String { directory + "/expired.key" }
    var futureCertificate: String { directory + "/future.pem" }
    var futureKey: String { directory + "/future.key" }
    var clientCertificate: String { directory + "/client.pem" }
    var clientKey: String { directory + "/client.key" }

    static let shared: Result<TestPKI, TestSetupError> = {
        let directory = NSTemporaryDirectory() + "toolbox-transport-pki-\(UUID().uuidString)"
        let script = repositoryRoot + "/scripts/make-test-certs.sh"
        let result = runCommand("/bin/bash", [script, directory])
        pkiDirectoryToRemove.withLockedValue { $0 = directory }
        atexit {
            // One PKI per test process; `swift test --parallel` runs many processes, so clean up after each.
            if let path = pkiDirectoryToRemove.load() { try? FileManager.default.removeItem(atPath: path) }
        }
        guard result.status == 0 else {
            return .failure(TestSetupError(
                "generating test certificates with \(script) failed (is the `openssl` command installed? "
                    + "apt-get install openssl): \(result.output)"))
        }
        return .success(TestPKI(directory: directory))
    }()

    static func get() throws -> TestPKI { try shared.get() }

    func serverContext(expired: Bool = false, requireClientCertificate: Bool = false) throws -> TLSContext {
        try TLSContext(server: TLSServerConfiguration(
            certificateChainFile: expired ? expiredCertificate : serverCertificate,
            privateKeyFile: expired ? expiredKey : serverKey,
            clientCATrustFile: requireClientCertificate ? caFile : nil))
    }

    func clientContext(trusting file: String? = nil, withClientCertificate: Bool = false) throws -> TLSContext {
        var configuration = TLSClientConfiguration(trustRoots: .file(file ?? caFile))
        if withClientCertificate {
            configuration.clientCertificateChainFile = clientCertificate
            configuration.clientPrivateKeyFile = clientKey
        }
        return try TLSContext(client: configuration)
    }
}

/// The PKI directory of this test process, removed when the process exits.
let pkiDirectoryToRemove = LockedValue<String?>(nil)

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The package root, found from this file's path so tests can run scripts from `scripts/`.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// Runs a command to completion, capturing stdout and stderr together.
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String]? = nil)
    -> (status: Int32, output: String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do {
        try process.run()
    } catch {
        return (-1, "could not run \(executable): \(error)")
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Finds an executable on PATH or in the usual system directories.
func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
        return directory + "/" + name
    }
    return nil
}

/// Collects what a test listener received, for assertions from the test thread.
final class Received: @unchecked Sendable {
    // @unchecked Sendable: `bytes` is guarded by `lock`.
    private let lock = Lock()
    private var bytes: [UInt8] = []

    func append(_ more: [UInt8]) { lock.withLock { bytes += more } }
    var all: [UInt8] { lock.withLock { bytes } }
}

/// Echoes everything back until the peer closes, then closes gracefully.
func echo(_ connection: TCPConnection) {
    connection.read { result in
        switch result {
        case .success(let bytes) where bytes.isEmpty:
            connection.close {}
        case .success(let bytes):
            connection.write(bytes) { written in
                if case .success = written { echo(connection) } else { connection.close(mode: .abortive) {} }
            }
        case .failure:
            connection.close(mode: .abortive) {}
        }
    }
}

/// Reads from `connection` until `count` bytes arrived or the peer closed.
func readExactly(_ connection: TCPConnection, count: Int, timeout: Duration = .seconds(20)) throws -> [UInt8] {
    var collected: [UInt8] = []
    while collected.count < count {
        let bytes = try connection.read(timeout: timeout)
        if bytes.isEmpty { break }
        collected += bytes
    }
    return collected
}

func expectTransportError(
    _ code: TransportError.Code, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
) {
    do {
        try body()
        XCTFail("expected TransportError.\(code), but the operation succeeded", file: file, line: line)
    } catch let error as TransportError {
        XCTAssertEqual(error.code, code, "unexpected error: \(error)", file: file, line: line)
    } catch {
        XCTFail("expected TransportError.\(code), got \(error)", file: file, line: line)
    }
}
