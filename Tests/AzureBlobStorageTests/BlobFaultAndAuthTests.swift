@_spi(Testing) import AzureBlobStorage
import AzureAuth
import AzureClientsToolboxAsync
import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

/// Retries under faults, SAS (service and user delegation), token credentials, the managed client and the
/// async forms, against the emulator.
final class BlobFaultAndAuthTests: XCTestCase {
    /// Dropped connections and throttling hit individual blocks and ranges: each is retried on its own and the
    /// blob arrives intact, with one commit.
    func testFailedBlocksAndRangesAreRetriedAlone() throws {
        var faults = EmulatorFaults()
        // Rates chosen so the test cannot pass by luck or fail by it: ~45 % of attempts fail, so ~25 GETs all
        // escaping a 503 happens once in ~7,000 runs, and 26 failures in a row on one request once in ~10^9.
        faults.httpDropProbability = 0.2
        faults.httpThrottleRate = 0.3
        let env = try BlobTestEmulator(faults: faults)
        let log = AttemptLog()
        let blobs = try env.client { options in
            options.attemptObserver = log.observer
            options.retry.maxRetries = 25
        }
        defer { try? blobs.close() }
        let data = testBytes(1_500_000, seed: 11)
        let uploaded = try blobs.upload("faulty.bin", data: data)
        let blocks = uploaded.blockCount
        XCTAssertEqual(blocks, 23)
        let blockAttempts = log.count(method: "PUT", comp: "block")
        let blockSuccesses = log.count(method: "PUT", comp: "block") { $0.status == 201 }
        XCTAssertEqual(blockSuccesses, blocks, "every block stored once")
        XCTAssertGreaterThan(blockAttempts, blocks, "some block attempts failed and were retried")
        XCTAssertEqual(log.count(method: "PUT", comp: "blocklist") { $0.status == 201 }, 1)
        XCTAssertEqual(log.count(method: "PUT", comp: nil), 0, "never fell back to re-sending the whole blob")
        XCTAssertTrue(log.all.contains { $0.status == 503 }, "throttled at least once")

        let downloaded = try blobs.download("faulty.bin")
        XCTAssertEqual(downloaded.content, data)
        XCTAssertEqual(log.count(method: "GET") { $0.status == 206 }, blocks, "each range fetched once successfully")
    }

    /// A download whose first ranged GET is throttled (503) or dropped before the retry that succeeds: the
    /// successful answer still sizes the download. (A throttled first attempt used to take the place of the first
    /// head, the sink was never sized, and every byte was refused as "beyond the announced size".)
    func testThrottledFirstRangeStillSizesTheDownload() throws {
        var faults = EmulatorFaults()
        faults.httpThrottleRate = 0.5
        let env = try BlobTestEmulator(faults: faults)
        let log = AttemptLog()
        let blobs = try env.client { options in
            options.attemptObserver = log.observer
            options.retry.maxRetries = 40
        }
        defer { try? blobs.close() }
        let data = testBytes(3_000, seed: 17)
        _ = try blobs.upload("small.bin", data: data)
        var throttledFirst = 0
        for round in 0..<12 {
            let before = log.all.count
            XCTAssertEqual(try blobs.download("small.bin").content, data, "round \(round)")
            let gets = log.all.dropFirst(before).filter { $0.method == "GET" }
            if gets.first?.status == 503 { throttledFirst += 1 }
        }
        // With a 50 % throttle rate, 12 downloads without one throttled first GET happen once in 4,096 runs.
        XCTAssertGreaterThan(throttledFirst, 0, "no download had its first GET throttled; the test proved nothing")
    }

    func testThrottlingThatOutlastsTheRetriesSurfacesAsThrottled() throws {
        var faults = EmulatorFaults()
        faults.httpThrottleRate = 1
        let env = try BlobTestEmulator(faults: faults)
        let blobs = try env.client { $0.retry.maxRetries = 2 }
        XCTAssertThrowsError(try blobs.properties(of: "x")) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .throttled)
            XCTAssertEqual(error?.serviceCondition?.httpStatus, 503)
            XCTAssertEqual(error?.serviceCondition?.errorCode, "ServerBusy")
        }
    }

    /// A connection cut in the middle of a range: the range resumes from the first byte not yet received.
    func testDroppedConnectionMidDownloadResumesTheRange() throws {
        let env = try BlobTestEmulator()
        let data = testBytes(400_000, seed: 13)
        _ = try env.client().upload("cut.bin", data: data)
        guard let port = env.emulator.emulator.httpPort else { return XCTFail("no plain HTTP port") }
        let proxy = try CuttingProxy(upstreamPort: port, cutAfterResponseBytes: 100_000)
        defer { proxy.stop() }
        let log = AttemptLog()
        let viaProxy = env.plainConnectionString.replacingOccurrences(of: "127.0.0.1:\(port)",
                                                                      with: "127.0.0.1:\(proxy.port)")
        let blobs = try BlobContainer(connectionString: viaProxy, containerName: env.container,
                                      options: BlobTestEmulator.testOptions { options in
                                          options.transfer.chunkSize = 400_000
                                          options.attemptObserver = log.observer
                                      })
        defer { try? blobs.close() }
        let path = temporaryPath("cut.bin")
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(try blobs.download("cut.bin", toFile: path).bytesWritten, Int64(data.count))
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), data)
        XCTAssertEqual(proxy.cuts, 1)
        XCTAssertEqual(log.count(method: "GET"), 2, "the cut range was asked for again, from where it stopped")
    }

    func testServiceSASAndTamperedSignature() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        defer { try? blobs.close() }
        _ = try blobs.upload("shared/doc.txt", data: Array("sas me".utf8))
        let sas = try blobs.sas(for: ["shared/doc.txt"]).first
        let token = try XCTUnwrap(sas?.token.exposedValue)
        XCTAssertTrue(token.contains("sp=r"))
        XCTAssertTrue(try XCTUnwrap(sas?.url.exposedValue).hasPrefix(env.plainEndpoint + "/ctr1/shared/doc.txt?"))
        XCTAssertFalse("\(String(describing: sas))".contains("sig="))

        let reader = try BlobContainer(accountURL: env.plainEndpoint + "?" + token, containerName: env.container,
                                       options: BlobTestEmulator.testOptions())
        XCTAssertEqual(try reader.download("shared/doc.txt").content, Array("sas me".utf8))
        XCTAssertThrowsError(try reader.upload("shared/doc.txt", data: [1], options: .init())) { error in
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.httpStatus, 403, "read-only SAS cannot write")
        }

        // Signed with the account key, a SAS may live longer than a user delegation key's seven days (30 days
        // was refused); ten years is the bound, and a non-positive life is refused.
        var month = BlobSASOptions()
        month.expiresIn = .seconds(30 * 86_400)
        let monthly = try XCTUnwrap(try blobs.sas(for: ["shared/doc.txt"], options: month).first)
        XCTAssertEqual(monthly.expiresOn - Int(Date().timeIntervalSince1970), 30 * 86_400, accuracy: 120)
        let monthReader = try BlobContainer(accountURL: env.plainEndpoint + "?" + monthly.token.exposedValue,
                                            containerName: env.container, options: BlobTestEmulator.testOptions())
        XCTAssertEqual(try monthReader.download("shared/doc.txt").content, Array("sas me".utf8))
        XCTAssertThrowsError(try blobs.sas(for: [String(repeating: "n", count: 1_025)])) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument, "no SAS for a name no blob can have")
        }
        for seconds: Int64 in [0, 11 * 365 * 86_400, .max] {
            var bad = BlobSASOptions()
            bad.expiresIn = .seconds(seconds)
            XCTAssertThrowsError(try blobs.sas(for: ["shared/doc.txt"], options: bad)) { error in
                XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument)
                XCTAssertTrue("\(error)".contains("10 years"), "\(error)")
            }
        }

        let tampered = token.replacingOccurrences(of: "sig=", with: "sig=AAAA")
        let forged = try BlobContainer(accountURL: env.plainEndpoint + "?" + tampered, containerName: env.container,
                                       options: BlobTestEmulator.testOptions())
        XCTAssertThrowsError(try forged.download("shared/doc.txt")) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.serviceCondition?.httpStatus, 403)
            XCTAssertEqual(error?.serviceCondition?.errorCode, "AuthenticationFailed")
            XCTAssertEqual(error?.code, .authorizationFailed)
            XCTAssertFalse("\(error.map { "\($0)" } ?? "")".contains("sig="), "no signature in the error: \(String(describing: error))")
        }
    }

    /// Token credential over HTTPS: requests carry bearer tokens, and SAS are signed with a user delegation key
    /// fetched once for a burst.
    func testTokenCredentialAndUserDelegationSAS() throws {
        let env = try BlobTestEmulator()
        let credential = EmulatorTokenCredential(emulator: env.emulator.emulator)
        let log = AttemptLog()
        let blobs = try BlobContainer(accountURL: env.tlsEndpoint, containerName: env.container,
                                      credential: .token(credential),
                                      options: BlobTestEmulator.testOptions { options in
                                          options.caFile = env.caFile
                                          options.attemptObserver = log.observer
                                      })
        defer { try? blobs.close() }
        _ = try blobs.upload("udk/a.txt", data: Array("a".utf8))
        _ = try blobs.upload("udk/b.txt", data: Array("b".utf8))
        let signed = try blobs.sas(for: ["udk/a.txt", "udk/b.txt"])
        XCTAssertEqual(signed.count, 2)
        XCTAssertTrue(signed[0].token.exposedValue.contains("skoid="))
        _ = try blobs.sasURL(for: "udk/a.txt")
        XCTAssertEqual(log.count(method: "POST", comp: "userdelegationkey"), 1, "the key is cached")
        var eightDays = BlobSASOptions()
        eightDays.expiresIn = .seconds(8 * 86_400)
        XCTAssertThrowsError(try blobs.sas(for: ["udk/a.txt"], options: eightDays)) { error in
            XCTAssertTrue("\(error)".contains("7 days"), "a user delegation SAS cannot outlive its key: \(error)")
        }

        let anonymousHTTP = try HTTPClient(configuration: {
            var configuration = HTTPClientConfiguration()
            configuration.tls.trustRoots = .file(env.caFile ?? "")
            return configuration
        }())
        defer { try? anonymousHTTP.shutdown() }
        let response = try anonymousHTTP.execute(try HTTPRequest(url: signed[1].url.exposedValue), timeout: .seconds(10))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, Array("b".utf8))

        XCTAssertThrowsError(try BlobContainer(accountURL: env.plainEndpoint, containerName: "ctr1",
                                               credential: .token(credential))) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument, "no bearer tokens over http")
        }
    }

    func testUploadFromURLCopiesAnotherBlob() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        defer { try? blobs.close() }
        let data = testBytes(100_000, seed: 17)
        _ = try blobs.upload("source.bin", data: data)
        let url = try blobs.sasURL(for: "source.bin")
        let copied = try blobs.upload("copy.bin", fromURL: url.exposedValue)
        XCTAssertFalse(copied.etag.isEmpty)
        XCTAssertEqual(try blobs.download("copy.bin").content, data)
        XCTAssertThrowsError(try blobs.upload("copy.bin", fromURL: url.exposedValue, overwrite: false)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .resourceExists)
            XCTAssertFalse("\(error)".contains("sig="), "the source SAS stays out of errors")
        }
    }

    func testManagedClientWarmsUpAndSharesConnections() throws {
        let env = try BlobTestEmulator()
        let blobs = try ManagedBlobContainer(connectionString: env.plainConnectionString, containerName: env.container,
                                             options: BlobTestEmulator.testOptions { $0.pool.maxConnections = 4 })
        XCTAssertEqual(try blobs.warmUp(count: 3), 3)
        XCTAssertEqual(blobs.poolSnapshot?.ready, 3)
        let group = DispatchGroup()
        let failures = LockedValue(0)
        for index in 0..<20 {
            group.enter()
            blobs.upload("m/\(index)", from: .bytes(testBytes(1000, seed: UInt8(index)))) { result in
                if case .failure = result { failures.withLockedValue { $0 += 1 } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(failures.load(), 0)
        XCTAssertEqual(try blobs.listAllBlobs(prefix: "m/").count, 20)
        XCTAssertLessThanOrEqual((blobs.poolSnapshot?.ready ?? 99) + (blobs.poolSnapshot?.opening ?? 0), 4)
        try blobs.close()
    }

    func testAsyncForms() async throws {
        let env = try BlobTestEmulator()
        let blobs: any BlobContainerOperations = try env.client()
        let data = testBytes(200_000, seed: 21)
        let uploaded = try await blobs.upload("async.bin", data: data)
        XCTAssertEqual(uploaded.blockCount, 4)
        let downloaded = try await blobs.download("async.bin")
        XCTAssertEqual(downloaded.content, data)
        var collected: [UInt8] = []
        for try await chunk in blobs.chunks(of: "async.bin") { collected += chunk }
        XCTAssertEqual(collected, data)
        let page = try await blobs.listBlobs(prefix: "async")
        XCTAssertEqual(page.blobs.map(\.name), ["async.bin"])
        try await blobs.deleteBlob("async.bin")
        do {
            _ = try await blobs.properties(of: "async.bin")
            XCTFail("expected 404")
        } catch {
            XCTAssertEqual(error.code, .resourceNotFound)
        }
        await blobs.close()
    }
}
