@_spi(Testing) import AzureBlobStorage
import AzureAuth
import Foundation
import ToolboxCore
import XCTest

/// Every operation of `BlobContainer` against the in-process emulator.
final class BlobContainerTests: XCTestCase {
    func testSmallUploadDownloadPropertiesAndDelete() throws {
        let env = try BlobTestEmulator()
        let log = AttemptLog()
        let blobs = try env.client { $0.attemptObserver = log.observer }
        defer { try? blobs.close() }
        let data = Array("hello blob".utf8)
        var options = BlobUploadOptions()
        options.contentType = "text/plain"
        options.metadata = ["origin": "swift", "run2": "x"]
        let uploaded = try blobs.upload("dir/small file.txt", data: data, options: options)
        XCTAssertEqual(uploaded.size, Int64(data.count))
        XCTAssertEqual(uploaded.blockCount, 0)
        XCTAssertFalse(uploaded.etag.isEmpty)
        XCTAssertEqual(log.count(method: "PUT"), 1, "one Put Blob for a small upload")

        let properties = try blobs.properties(of: "dir/small file.txt")
        XCTAssertEqual(properties.size, Int64(data.count))
        XCTAssertEqual(properties.etag, uploaded.etag)
        XCTAssertEqual(properties.contentType, "text/plain")
        XCTAssertEqual(properties.metadata["origin"], "swift")
        let md5 = StreamingDigest(.md5)
        md5.update(data)
        XCTAssertEqual(properties.contentMD5, AuthCrypto.base64(md5.finish()))

        let downloaded = try blobs.download("dir/small file.txt")
        XCTAssertEqual(downloaded.content, data)
        XCTAssertEqual(downloaded.properties.etag, uploaded.etag)

        try blobs.deleteBlob("dir/small file.txt")
        XCTAssertThrowsError(try blobs.properties(of: "dir/small file.txt")) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .resourceNotFound)
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.httpStatus, 404)
        }
        XCTAssertThrowsError(try blobs.deleteBlob("dir/small file.txt")) { error in
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.errorCode, "BlobNotFound")
        }
    }

    func testLargeUploadGoesAsParallelBlocksAndDownloadsInParallelRanges() throws {
        let env = try BlobTestEmulator()
        let log = AttemptLog()
        let blobs = try env.client {
            $0.attemptObserver = log.observer
            $0.transfer.computeMD5 = true
        }
        defer { try? blobs.close() }
        let data = testBytes(1_000_000, seed: 3)
        let progress = LockedValue<[Int64]>([])
        var options = BlobUploadOptions()
        options.progress = { report in progress.withLockedValue { $0.append(report.bytesTransferred) } }
        let uploaded = try blobs.upload("big.bin", from: .bytes(data), options: options)
        let blocks = (data.count + (64 << 10) - 1) / (64 << 10)
        XCTAssertEqual(uploaded.blockCount, blocks)
        XCTAssertEqual(uploaded.size, Int64(data.count))
        XCTAssertEqual(log.count(method: "PUT", comp: "block"), blocks)
        XCTAssertEqual(log.count(method: "PUT", comp: "blocklist"), 1)
        let reports = progress.load()
        XCTAssertEqual(reports, reports.sorted(), "progress never goes backwards")
        XCTAssertEqual(reports.last, Int64(data.count))

        let downloaded = try blobs.download("big.bin")
        XCTAssertEqual(downloaded.content, data)
        XCTAssertEqual(log.count(method: "GET"), blocks, "one ranged GET per 64 KiB chunk")
        let md5 = StreamingDigest(.md5)
        md5.update(data)
        XCTAssertEqual(try blobs.properties(of: "big.bin").contentMD5, AuthCrypto.base64(md5.finish()),
                       "the whole blob's MD5 is recorded at commit")

        let path = temporaryPath("big.bin")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let toFile = try blobs.download("big.bin", toFile: path)
        XCTAssertEqual(toFile.bytesWritten, Int64(data.count))
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), data)

        let chunks = LockedValue<[[UInt8]]>([])
        let properties = try blobs.downloadChunks("big.bin") { chunk in chunks.withLockedValue { $0.append(chunk) } }
        XCTAssertEqual(properties.size, Int64(data.count))
        XCTAssertEqual(chunks.load().count, blocks)
        XCTAssertEqual(Array(chunks.load().joined()), data)
    }

    func testUploadFromFileAndFromStreamOfUnknownLength() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        defer { try? blobs.close() }
        let data = testBytes(300_000, seed: 5)
        let path = temporaryPath("source.bin")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(data).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try blobs.upload("from-file", from: .file(path: path)).blockCount, 5)
        XCTAssertEqual(try blobs.download("from-file").content, data)
        XCTAssertNil(try blobs.properties(of: "from-file").contentMD5,
                     "no MD5 pass by default (computeMD5 off, as in azure-storage-blob): none recorded for blocks")

        // Pieces of 10,000 bytes, delivered from another queue, of a length the client does not know.
        let offset = LockedValue(0)
        let stream = BlobUploadSource.stream(length: nil) { deliver in
            DispatchQueue.global().async {
                let piece: [UInt8]? = offset.withLockedValue { position in
                    guard position < data.count else { return nil }
                    defer { position = min(data.count, position + 10_000) }
                    return Array(data[position..<min(data.count, position + 10_000)])
                }
                deliver(.success(piece))
            }
        }
        XCTAssertEqual(try blobs.upload("from-stream", from: stream).blockCount, 5)
        XCTAssertEqual(try blobs.download("from-stream").content, data)

        // A short stream goes as one Put Blob.
        let once = LockedValue(false)
        let short = BlobUploadSource.stream(length: nil) { deliver in
            deliver(.success(once.withLockedValue { sent in defer { sent = true }; return sent ? nil : [1, 2, 3] }))
        }
        XCTAssertEqual(try blobs.upload("short-stream", from: short).blockCount, 0)
        XCTAssertEqual(try blobs.download("short-stream").content, [1, 2, 3])
    }

    func testRangesEmptyBlobsAnd416() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        defer { try? blobs.close() }
        let data = testBytes(200_000, seed: 9)
        _ = try blobs.upload("ranged", data: data)
        var options = BlobDownloadOptions()
        options.range = BlobRange(offset: 70_000, length: 100_000)
        XCTAssertEqual(try blobs.download("ranged", options: options).content, Array(data[70_000..<170_000]))
        options.range = BlobRange(offset: 199_990)
        XCTAssertEqual(try blobs.download("ranged", options: options).content, Array(data[199_990...]))

        options.range = BlobRange(offset: 500_000)
        XCTAssertThrowsError(try blobs.download("ranged", options: options)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .rangeNotSatisfiable)
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.httpStatus, 416)
        }
        options.range = BlobRange(offset: -1)
        XCTAssertThrowsError(try blobs.download("ranged", options: options)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument)
        }

        _ = try blobs.upload("empty", data: [])
        let empty = try blobs.download("empty")
        XCTAssertEqual(empty.content, [])
        XCTAssertEqual(empty.properties.size, 0)
        let path = temporaryPath("empty")
        XCTAssertEqual(try blobs.download("empty", toFile: path).bytesWritten, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
    }

    /// A download that fails before the blob answers (404, a bad argument) leaves an existing file as it was; it
    /// was truncated at open and then deleted. One that fails after sizing it removes it; a new file is removed.
    func testAFailedDownloadLeavesAnExistingFileAlone() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        defer { try? blobs.close() }
        let path = temporaryPath("precious")
        let precious = Array("precious".utf8)
        try Data(precious).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try blobs.download("missing", toFile: path)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .resourceNotFound)
        }
        var options = BlobDownloadOptions()
        options.chunkSize = 0
        _ = try blobs.upload("there", data: testBytes(3_000))
        XCTAssertThrowsError(try blobs.download("there", toFile: path, options: options)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument)
            XCTAssertTrue("\(error)".contains("the chunk size must be"), "named as the download calls it: \(error)")
        }
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), precious, "untouched")

        let fresh = temporaryPath("fresh")
        XCTAssertThrowsError(try blobs.download("missing", toFile: fresh))
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh), "a file the download made is removed")

        // A successful download replaces the file whole, shorter or longer than before.
        try Data(testBytes(10_000)).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try blobs.download("there", toFile: path).bytesWritten, 3_000)
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), testBytes(3_000))
    }

    /// A pipe cannot seek: the download goes one range at a time and writes in order (every `pwrite` failed with
    /// "Illegal seek").
    func testADownloadIntoAPipeWritesInOrder() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client { $0.transfer.chunkSize = 1_000; $0.transfer.concurrency = 4 }
        defer { try? blobs.close() }
        let data = testBytes(25_500)
        _ = try blobs.upload("piped", data: data)
        let fifo = temporaryPath("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let received = LockedValue<[UInt8]>([])
        let reader = Thread {
            guard let handle = FileHandle(forReadingAtPath: fifo) else { return }
            let bytes = handle.readDataToEndOfFile()
            received.withLockedValue { $0 = [UInt8](bytes) }
        }
        reader.start()
        XCTAssertEqual(try blobs.download("piped", toFile: fifo).bytesWritten, Int64(data.count))
        let deadline = Date().addingTimeInterval(10)
        while received.load().count < data.count, Date() < deadline { usleep(10_000) }
        XCTAssertEqual(received.load(), data)
        var info = stat()
        XCTAssertEqual(stat(fifo, &info), 0, "the FIFO is still there")
    }

    /// A size known up front that needs more than 50,000 blocks fails before any block goes out (it failed only
    /// after uploading 50,000 of them, about 85 s of a 1-byte-block CLI upload).
    func testAnUploadNeedingTooManyBlocksFailsBeforeSendingAny() throws {
        let env = try BlobTestEmulator()
        let log = AttemptLog()
        let blobs = try env.client { $0.attemptObserver = log.observer }
        defer { try? blobs.close() }
        var options = BlobUploadOptions()
        options.blockSize = 1
        options.singlePutThreshold = 1
        XCTAssertThrowsError(try blobs.upload("many", data: testBytes(50_001), options: options)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument)
            XCTAssertTrue("\(error)".contains("more than 50000 blocks of 1 bytes"), "\(error)")
        }
        XCTAssertEqual(log.count(method: "PUT"), 0, "no block was sent")
    }

    /// Names with characters XML cannot carry, or that a parser would normalise (CR), list back exactly, page by
    /// page: the emulator's NextMarker was the raw name (a control character broke the answer) and a CR came back
    /// as LF.
    func testListingPagesThroughNamesXMLCannotCarry() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        defer { try? blobs.close() }
        let names = ["pg/a", "pg/b\u{01}", "pg/c\rd", "pg/e\tf", "pg/g\r\nh", "pg/z"]
        for name in names { _ = try blobs.upload(name, data: [1]) }
        for pageSize in [1, 2, 5000] {
            let listed = try blobs.listAllBlobs(prefix: "pg/", pageSize: pageSize).map(\.name)
            XCTAssertEqual(listed.map { Array($0.utf8) }, names.map { Array($0.utf8) }, "pages of \(pageSize)")
        }
        let controlPrefix = try blobs.listAllBlobs(prefix: "pg/b\u{01}").map(\.name)
        XCTAssertEqual(controlPrefix.map { Array($0.utf8) }, [Array("pg/b\u{01}".utf8)], "a prefix XML cannot carry")
    }

    func testConditionalRequests409And412() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        defer { try? blobs.close() }
        let first = try blobs.upload("cond", data: [1])
        XCTAssertThrowsError(try blobs.upload("cond", data: [2])) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .resourceExists)
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.errorCode, "BlobAlreadyExists")
        }
        // A block upload without overwrite fails at commit too.
        XCTAssertThrowsError(try blobs.upload("cond", data: testBytes(200_000))) { error in
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.httpStatus, 409, "\(error)")
        }
        var replace = BlobUploadOptions()
        replace.overwrite = true
        replace.conditions.ifMatch = "\"0x8D000000000000\""
        XCTAssertThrowsError(try blobs.upload("cond", data: [3], options: replace)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .preconditionFailed)
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.httpStatus, 412)
        }
        replace.conditions.ifMatch = first.etag
        let second = try blobs.upload("cond", data: [4], options: replace)
        XCTAssertNotEqual(second.etag, first.etag)
        XCTAssertThrowsError(try blobs.deleteBlob("cond", conditions: BlobRequestConditions(ifMatch: first.etag))) {
            XCTAssertEqual(($0 as? ToolboxError)?.code, .preconditionFailed)
        }
        var download = BlobDownloadOptions()
        download.conditions.ifMatch = first.etag
        XCTAssertThrowsError(try blobs.download("cond", options: download)) {
            XCTAssertEqual(($0 as? ToolboxError)?.code, .preconditionFailed)
        }
        download.conditions.ifMatch = second.etag
        XCTAssertEqual(try blobs.download("cond", options: download).content, [4])
        XCTAssertThrowsError(try blobs.properties(of: "cond", conditions: BlobRequestConditions(ifNoneMatch: second.etag)))
        try blobs.deleteBlob("cond", conditions: BlobRequestConditions(ifMatch: second.etag))
    }

    func testMetadata() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        defer { try? blobs.close() }
        _ = try blobs.upload("meta", data: [1, 2])
        try blobs.setMetadata(["team": "storage", "Version": "2"], of: "meta")
        let properties = try blobs.properties(of: "meta")
        XCTAssertEqual(properties.metadata["team"], "storage")
        XCTAssertThrowsError(try blobs.setMetadata(["bad-name": "x"], of: "meta")) {
            XCTAssertEqual(($0 as? ToolboxError)?.code, .invalidArgument)
        }
    }

    func testListingPagesWithPrefix() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        defer { try? blobs.close() }
        for name in ["a/1", "a/2", "a/3", "a/4", "a/5", "b/1"] { _ = try blobs.upload(name, data: Array(name.utf8)) }
        let first = try blobs.listBlobs(prefix: "a/", pageSize: 2)
        XCTAssertEqual(first.blobs.map(\.name), ["a/1", "a/2"])
        XCTAssertNotNil(first.nextMarker)
        let all = try blobs.listAllBlobs(prefix: "a/", pageSize: 2)
        XCTAssertEqual(all.map(\.name), ["a/1", "a/2", "a/3", "a/4", "a/5"])
        XCTAssertEqual(all.first?.size, 3)
        XCTAssertFalse(all.first?.etag.isEmpty ?? true)
        XCTAssertNotNil(all.first?.lastModifiedUnixSeconds)
        XCTAssertEqual(try blobs.listAllBlobs().count, 6)
        XCTAssertThrowsError(try blobs.listBlobs(pageSize: 0))
    }

    func testMissingContainerAndBadKey() throws {
        let env = try BlobTestEmulator()
        let missing = try env.client(container: "nope")
        XCTAssertThrowsError(try missing.upload("x", data: [1])) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .resourceNotFound)
        }
        let wrongKey = env.plainConnectionString.replacingOccurrences(of: "AccountKey=Eby8", with: "AccountKey=Aby8")
        let refused = try BlobContainer(connectionString: wrongKey, containerName: "ctr1",
                                        options: BlobTestEmulator.testOptions())
        XCTAssertThrowsError(try refused.upload("x", data: [1])) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .authorizationFailed)
            XCTAssertEqual(error?.serviceCondition?.httpStatus, 403)
            XCTAssertFalse("\(error.map { "\($0)" } ?? "")".contains("Aby8"), "no key in the error")
        }
        XCTAssertThrowsError(try BlobContainer(connectionString: "AccountName=a", containerName: "ctr1"))
        XCTAssertThrowsError(try BlobContainer(accountURL: "ftp://x", containerName: "ctr1"))
    }

    func testCancelAndClose() throws {
        let env = try BlobTestEmulator()
        let blobs = try env.client()
        let done = expectation(description: "cancelled")
        let handle = blobs.upload("cancelled", from: .bytes(testBytes(2_000_000)), options: .init(),
                                  timeout: .seconds(60), queue: .global()) { result in
            if case .failure(let error) = result { XCTAssertEqual(error.code, .cancelled) } else {
                XCTFail("expected cancellation")
            }
            done.fulfill()
        }
        handle.cancel()
        wait(for: [done], timeout: 10)
        try blobs.close()
        XCTAssertThrowsError(try blobs.properties(of: "x")) { XCTAssertEqual(($0 as? ToolboxError)?.code, .clientClosed) }
        XCTAssertNoThrow(try blobs.close())
    }
}
