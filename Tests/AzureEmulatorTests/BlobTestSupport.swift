import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// A minimal Blob REST client for the emulator's tests: signs with Shared Key (AzureAuth's signer), or sends a
/// bearer token or a SAS query, over plain HTTP or HTTPS.
final class BlobTestClient: Sendable {
    enum Auth {
        case sharedKey
        case sharedKeyWith(accountKey: String)
        case bearer(String)
        case none
    }

    let emulator: Emulator
    let client: HTTPClient
    let secure: Bool

    init(emulator: Emulator, secure: Bool = false) throws {
        self.emulator = emulator
        self.secure = secure
        var configuration = HTTPClientConfiguration()
        if let caFile = emulator.caFile { configuration.tls = TLSClientConfiguration(trustRoots: .file(caFile)) }
        configuration.maxBufferedResponseBytes = 1 << 30
        client = try HTTPClient(configuration: configuration)
    }

    deinit { try? client.shutdown() }

    var base: String {
        let root = secure ? emulator.httpBaseURL : emulator.plainHTTPBaseURL
        return (root ?? "") + "/" + emulator.configuration.blobAccountName
    }

    /// Sends `method` to `base + pathAndQuery` (already percent-encoded).
    @discardableResult
    func send(_ method: String, _ pathAndQuery: String, headers: [(String, String)] = [], body: [UInt8] = [],
              auth: Auth = .sharedKey, date: Int = UTCDate.nowUnixSeconds()) throws -> HTTPResponse {
        let url = base + pathAndQuery
        var all: [(String, String)] = [("x-ms-version", "2026-10-06")] + headers
        if !headers.contains(where: { $0.0.lowercased() == "x-ms-date" }) { all.insert(("x-ms-date", UTCDate.rfc1123(date)), at: 0) }
        if !body.isEmpty { all.append(("Content-Length", String(body.count))) }
        switch auth {
        case .sharedKey, .sharedKeyWith:
            var key = emulator.configuration.blobAccountKey
            if case .sharedKeyWith(let other) = auth { key = Secret(other) }
            let signer = try StorageSharedKeySigner(accountName: emulator.configuration.blobAccountName, accountKey: key)
            all.append(("Authorization", signer.authorization(method: method, url: url, headers: all).exposedValue))
        case .bearer(let token):
            all.append(("Authorization", "Bearer \(token)"))
        case .none:
            break
        }
        let request = try HTTPRequest(method: method, url: url, headers: HTTPHeaders(all), body: body.isEmpty ? .empty : .bytes(body))
        return try client.execute(request, timeout: .seconds(60))
    }

    func text(_ response: HTTPResponse) -> String { String(decoding: response.body, as: UTF8.self) }
}

extension HTTPResponse {
    var errorCode: String? { headers.first(name: "x-ms-error-code") }
}

/// Starts an emulator with Blob containers for one test.
func startBlobEmulator(containers: [String] = ["ctr"], https: Bool = false,
                       configure: (inout EmulatorConfiguration) -> Void = { _ in }) throws -> Emulator {
    var configuration = EmulatorConfiguration()
    configuration.blobContainers = containers
    if https { configuration.httpsPort = 0 }
    configure(&configuration)
    return try Emulator.start(configuration)
}

/// `count` bytes of a pattern with a prime period of 4093 bytes (so a misplaced slice shows), built by copying
/// one period so it stays fast in debug builds.
func blobPattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    let period = (0..<4093).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 8) &+ Int(seed)) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    while bytes.count < count { bytes.append(contentsOf: period.prefix(count - bytes.count)) }
    return bytes
}
