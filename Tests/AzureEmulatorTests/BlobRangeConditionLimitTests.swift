import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// Ranged reads, conditional headers, size limits, streaming of large blobs and Put Blob From URL.
final class BlobRangeConditionLimitTests: XCTestCase {
    private func put(_ blob: BlobTestClient, _ path: String, _ body: [UInt8], headers: [(String, String)] = []) throws -> HTTPResponse {
        try blob.send("PUT", path, headers: [("x-ms-blob-type", "BlockBlob")] + headers, body: body)
    }

    func testRangedReadsAnswer206416AndRangeMD5() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let body = Array("hello blob world\n".utf8)
        XCTAssertEqual(try put(blob, "/ctr/r.txt", body).status, 201)
        let md5 = AuthCrypto.base64(AuthCrypto.md5(body))

        let first = try blob.send("GET", "/ctr/r.txt", headers: [("x-ms-range", "bytes=0-33554431")])
        XCTAssertEqual(first.status, 206)
        XCTAssertEqual(first.body, body)
        XCTAssertEqual(first.headers.first(name: "Content-Range"), "bytes 0-16/17")
        XCTAssertEqual(first.headers.first(name: "x-ms-blob-content-md5"), md5)
        XCTAssertNil(first.headers.first(name: "Content-MD5"))

        let middle = try blob.send("GET", "/ctr/r.txt", headers: [("x-ms-range", "bytes=5-14")])
        XCTAssertEqual(String(decoding: middle.body, as: UTF8.self), " blob worl")
        XCTAssertEqual(middle.headers.first(name: "Content-Range"), "bytes 5-14/17")
        let standard = try blob.send("GET", "/ctr/r.txt", headers: [("Range", "bytes=6-")])
        XCTAssertEqual(String(decoding: standard.body, as: UTF8.self), "blob world\n")
        let both = try blob.send("GET", "/ctr/r.txt", headers: [("Range", "bytes=0-0"), ("x-ms-range", "bytes=1-1")])
        XCTAssertEqual(both.body, [body[1]], "x-ms-range wins")

        let withMD5 = try blob.send("GET", "/ctr/r.txt", headers: [("x-ms-range", "bytes=0-4"), ("x-ms-range-get-content-md5", "true")])
        XCTAssertEqual(withMD5.headers.first(name: "Content-MD5"), AuthCrypto.base64(AuthCrypto.md5(Array(body[0...4]))))

        let beyond = try blob.send("GET", "/ctr/r.txt", headers: [("x-ms-range", "bytes=17-20")])
        XCTAssertEqual(beyond.status, 416)
        XCTAssertEqual(beyond.errorCode, "InvalidRange")
        XCTAssertEqual(beyond.headers.first(name: "Content-Range"), "bytes */17")
        XCTAssertEqual(try blob.send("GET", "/ctr/r.txt", headers: [("x-ms-range", "bytes=9-3")]).status, 416)
        XCTAssertEqual(try blob.send("GET", "/ctr/r.txt", headers: [("x-ms-range", "lines=1-2")]).status, 400)
        XCTAssertEqual(try blob.send("GET", "/ctr/r.txt", headers: [("x-ms-range", "bytes=99999999999999999999-")]).status, 400)

        // An empty blob: a ranged read is 416 (the SDK then retries without a range), a plain read 200 and empty.
        XCTAssertEqual(try put(blob, "/ctr/empty.bin", []).status, 201)
        XCTAssertEqual(try blob.send("GET", "/ctr/empty.bin", headers: [("x-ms-range", "bytes=0-33554431")]).status, 416)
        let empty = try blob.send("GET", "/ctr/empty.bin")
        XCTAssertEqual(empty.status, 200)
        XCTAssertEqual(empty.body, [])
        XCTAssertEqual(empty.headers.first(name: "Content-MD5"), "1B2M2Y8AsgTpgAmY7PhCfg==")
    }

    func testConditionalHeaders() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let created = try put(blob, "/ctr/c.txt", [1, 2, 3])
        let etag = try XCTUnwrap(created.headers.first(name: "ETag"))
        let lastModified = try XCTUnwrap(created.headers.first(name: "Last-Modified"))
        let past = UTCDate.rfc1123(UTCDate.nowUnixSeconds() - 3600)
        let future = UTCDate.rfc1123(UTCDate.nowUnixSeconds() + 3600)

        XCTAssertEqual(try blob.send("GET", "/ctr/c.txt", headers: [("If-Match", etag)]).status, 200)
        XCTAssertEqual(try blob.send("GET", "/ctr/c.txt", headers: [("If-Match", "W/" + etag)]).status, 200)
        XCTAssertEqual(try blob.send("GET", "/ctr/c.txt", headers: [("If-Match", "\"0x1\", " + etag)]).status, 200)
        let stale = try blob.send("GET", "/ctr/c.txt", headers: [("If-Match", "\"0x8D000\"")])
        XCTAssertEqual(stale.status, 412)
        XCTAssertEqual(stale.errorCode, "ConditionNotMet")
        let notModified = try blob.send("GET", "/ctr/c.txt", headers: [("If-None-Match", etag)])
        XCTAssertEqual(notModified.status, 304)
        XCTAssertTrue(notModified.body.isEmpty)
        XCTAssertEqual(try blob.send("GET", "/ctr/c.txt", headers: [("If-Modified-Since", lastModified)]).status, 304)
        XCTAssertEqual(try blob.send("GET", "/ctr/c.txt", headers: [("If-Modified-Since", past)]).status, 200)
        XCTAssertEqual(try blob.send("HEAD", "/ctr/c.txt", headers: [("If-Unmodified-Since", past)]).status, 412)
        XCTAssertEqual(try blob.send("GET", "/ctr/c.txt", headers: [("If-Unmodified-Since", future)]).status, 200)
        XCTAssertEqual(try blob.send("GET", "/ctr/c.txt", headers: [("If-Modified-Since", "not a date")]).status, 200, "a bad date is ignored")

        // Writes: 412 for every failed condition; If-None-Match: * on an existing blob is 409.
        XCTAssertEqual(try put(blob, "/ctr/c.txt", [4], headers: [("If-Match", "\"0x8D000\"")]).status, 412)
        XCTAssertEqual(try put(blob, "/ctr/c.txt", [4], headers: [("If-None-Match", etag)]).status, 412)
        XCTAssertEqual(try put(blob, "/ctr/c.txt", [4], headers: [("If-Unmodified-Since", past)]).status, 412)
        XCTAssertEqual(try put(blob, "/ctr/c.txt", [4], headers: [("If-Modified-Since", future)]).status, 412)
        XCTAssertEqual(try put(blob, "/ctr/new.txt", [4], headers: [("If-Match", "*")]).status, 412, "If-Match on a missing blob")
        XCTAssertEqual(try blob.send("DELETE", "/ctr/c.txt", headers: [("If-Match", "\"0x8D000\"")]).status, 412)
        XCTAssertEqual(try blob.send("PUT", "/ctr/c.txt?comp=metadata", headers: [("If-Match", "\"0x8D000\""), ("x-ms-meta-A", "b")]).status, 412)
        XCTAssertEqual(emulator.blobContent(container: "ctr", blob: "c.txt"), [1, 2, 3], "no failed write changed anything")

        let replaced = try put(blob, "/ctr/c.txt", [5], headers: [("If-Match", etag)])
        XCTAssertEqual(replaced.status, 201)
        let list = "<BlockList><Latest>QUFB</Latest></BlockList>"
        XCTAssertEqual(try blob.send("PUT", "/ctr/c.txt?comp=block&blockid=QUFB", body: [6]).status, 201)
        XCTAssertEqual(try blob.send("PUT", "/ctr/c.txt?comp=blocklist", headers: [("If-Match", etag)], body: Array(list.utf8)).status, 412)
        XCTAssertEqual(try blob.send("PUT", "/ctr/c.txt?comp=blocklist", headers: [("If-None-Match", "*")], body: Array(list.utf8)).errorCode,
                       "BlobAlreadyExists")
        XCTAssertEqual(try blob.send("DELETE", "/ctr/c.txt", headers: [("If-Match", replaced.headers.first(name: "ETag") ?? "")]).status, 202)
    }

    func testBlobAndStoreLimitsGiveRequestBodyTooLarge() throws {
        let emulator = try startBlobEmulator {
            $0.httpLimits.maxBlobBytes = 1000
            $0.httpLimits.maxBlobStoreBytes = 1500
        }
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let big = try put(blob, "/ctr/big", blobPattern(1001))
        XCTAssertEqual(big.status, 413)
        XCTAssertEqual(big.errorCode, "RequestBodyTooLarge")
        XCTAssertTrue(blob.text(big).contains("maxBlobBytes"))
        XCTAssertEqual(try put(blob, "/ctr/a", blobPattern(1000)).status, 201)
        let full = try put(blob, "/ctr/b", blobPattern(600))
        XCTAssertEqual(full.errorCode, "RequestBodyTooLarge")
        XCTAssertTrue(blob.text(full).contains("maxBlobStoreBytes"))
        XCTAssertEqual(try put(blob, "/ctr/a", blobPattern(900)).status, 201, "replacing frees the old bytes first")

        // Blocks: each fits, the committed list would not.
        XCTAssertEqual(try blob.send("DELETE", "/ctr/a").status, 202)
        XCTAssertEqual(try blob.send("PUT", "/ctr/k?comp=block&blockid=QUFB", body: blobPattern(600)).status, 201)
        XCTAssertEqual(try blob.send("PUT", "/ctr/k?comp=block&blockid=QUFC", body: blobPattern(600)).status, 201)
        XCTAssertEqual(try blob.send("PUT", "/ctr/k?comp=block&blockid=QUFD", body: blobPattern(600)).errorCode, "RequestBodyTooLarge")
        let list = "<BlockList><Latest>QUFB</Latest><Latest>QUFC</Latest></BlockList>"
        XCTAssertEqual(try blob.send("PUT", "/ctr/k?comp=blocklist", body: Array(list.utf8)).errorCode, "RequestBodyTooLarge")
        XCTAssertEqual(emulator.blobStoredBytes, 1200)
        XCTAssertEqual(try blob.send("DELETE", "/ctr?restype=container").status, 202)
        XCTAssertEqual(emulator.blobStoredBytes, 0, "deleting the container frees its uncommitted blocks too")
    }

    func testLargeBlobIsServedStreamedFromItsBlocks() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let blockSize = 4 << 20
        var ids: [String] = []
        for index in 0..<6 {
            let id = AuthCrypto.base64(Array(String(format: "%08d", index).utf8))
            ids.append(id)
            XCTAssertEqual(try blob.send("PUT", "/ctr/large.bin?comp=block&blockid=\(id)", body: blobPattern(blockSize, seed: UInt8(index))).status, 201)
        }
        let list = "<BlockList>" + ids.map { "<Latest>\($0)</Latest>" }.joined() + "</BlockList>"
        XCTAssertEqual(try blob.send("PUT", "/ctr/large.bin?comp=blocklist", body: Array(list.utf8)).status, 201)
        XCTAssertEqual(emulator.blobStoredBytes, 6 * blockSize)

        let whole = try blob.send("GET", "/ctr/large.bin")
        XCTAssertEqual(whole.status, 200)
        XCTAssertEqual(whole.headers.first(name: "Content-Length"), String(6 * blockSize))
        XCTAssertEqual(whole.body.count, 6 * blockSize)
        for index in 0..<6 {
            XCTAssertEqual(Array(whole.body[(index * blockSize)..<((index + 1) * blockSize)]), blobPattern(blockSize, seed: UInt8(index)))
        }
        // A range across a block boundary is stitched from two blocks.
        let start = blockSize - 10
        let across = try blob.send("GET", "/ctr/large.bin", headers: [("x-ms-range", "bytes=\(start)-\(start + 19)")])
        XCTAssertEqual(across.status, 206)
        XCTAssertEqual(across.body, Array(whole.body[start..<(start + 20)]))
    }

    func testParallelBlocksAndRacingConditionalWrites() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let ids = (0..<16).map { AuthCrypto.base64(Array(String(format: "%06d", $0).utf8)) }
        let failures = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: ids.count) { index in
            let status = try? blob.send("PUT", "/ctr/p.bin?comp=block&blockid=\(ids[index])", body: blobPattern(64 << 10, seed: UInt8(index))).status
            if status != 201 { failures.withLockedValue { $0 += 1 } }
        }
        XCTAssertEqual(failures.load(), 0)
        let list = "<BlockList>" + ids.map { "<Latest>\($0)</Latest>" }.joined() + "</BlockList>"
        XCTAssertEqual(try blob.send("PUT", "/ctr/p.bin?comp=blocklist", body: Array(list.utf8)).status, 201)
        XCTAssertEqual(emulator.blobContent(container: "ctr", blob: "p.bin"), (0..<16).flatMap { blobPattern(64 << 10, seed: UInt8($0)) })

        // Eight writers race with the same If-Match: the condition and the write are one step, so one wins.
        let etag = try XCTUnwrap(try blob.send("HEAD", "/ctr/p.bin").headers.first(name: "ETag"))
        let statuses = LockedValue<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            let status = (try? blob.send("PUT", "/ctr/p.bin", headers: [("x-ms-blob-type", "BlockBlob"), ("If-Match", etag)],
                                         body: [UInt8(index)]).status) ?? 0
            statuses.withLockedValue { $0.append(status) }
        }
        XCTAssertEqual(statuses.load().sorted(), [201] + Array(repeating: 412, count: 7))
        XCTAssertEqual(emulator.blobContent(container: "ctr", blob: "p.bin")?.count, 1)
    }

    func testContentStreamSlicesAcrossBlocks() {
        let blocks = [BlobBlock(id: "a", bytes: [0, 1, 2]), BlobBlock(id: "b", bytes: []), BlobBlock(id: "c", bytes: [3, 4, 5, 6])]
        let stream = BlobContentStream(blocks: blocks, range: 2...5, pieceSize: 2)
        var pieces: [[UInt8]] = []
        while let piece = stream.next() { pieces.append(piece) }
        XCTAssertEqual(pieces, [[2], [3, 4], [5]])
        XCTAssertNil(stream.next())
        // A block the range covers whole goes as one piece, whatever the piece size; the rest is sliced.
        func sliced(_ range: ClosedRange<Int>) -> [[UInt8]] {
            let stream = BlobContentStream(blocks: blocks, range: range, pieceSize: 2)
            var out: [[UInt8]] = []
            while let piece = stream.next() { out.append(piece) }
            return out
        }
        XCTAssertEqual(sliced(0...6), [[0, 1, 2], [3, 4, 5, 6]])
        XCTAssertEqual(sliced(3...6), [[3, 4, 5, 6]])
        XCTAssertEqual(sliced(0...4), [[0, 1, 2], [3, 4]])
        XCTAssertEqual(sliced(1...6), [[1, 2], [3, 4, 5, 6]])
        XCTAssertEqual(BlobRange.parse("bytes=3-"), BlobRange(start: 3, end: nil))
        XCTAssertNil(BlobRange.parse("bytes=-5"))
        XCTAssertNil(BlobRange.parse("bytes=1-2,4-5"))
    }

    func testPutBlobFromURLCopiesFromTheEmulatorItselfAndRefusesOtherHosts() throws {
        let emulator = try startBlobEmulator(https: true)
        defer { emulator.stop() }
        let plain = try BlobTestClient(emulator: emulator)
        let source = blobPattern(9 << 20)
        XCTAssertEqual(try plain.send("PUT", "/ctr/source.bin", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-blob-content-type", "image/png")],
                                      body: source).status, 201)
        var sas = BlobSASBuilder(accountName: "devstoreaccount1", containerName: "ctr", blobName: "source.bin", permissions: "r",
                                 expiry: UTCDate.nowUnixSeconds() + 600)
        sas.version = "2026-10-06"
        let token = try sas.token(accountKey: emulator.configuration.blobAccountKey).exposedValue
        for (index, base) in [emulator.httpBaseURL, emulator.plainHTTPBaseURL].enumerated() {
            let url = try XCTUnwrap(base) + "/devstoreaccount1/ctr/source.bin?" + token
            let copy = try plain.send("PUT", "/ctr/copy\(index).bin", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-copy-source", url)])
            XCTAssertEqual(copy.status, 201, plain.text(copy))
            XCTAssertEqual(emulator.blobContent(container: "ctr", blob: "copy\(index).bin"), source)
            XCTAssertEqual(try plain.send("HEAD", "/ctr/copy\(index).bin").headers.first(name: "Content-Type"), "image/png")
        }
        let unsigned = try XCTUnwrap(emulator.plainHTTPBaseURL) + "/devstoreaccount1/ctr/source.bin"
        let refused = try plain.send("PUT", "/ctr/x.bin", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-copy-source", unsigned)])
        XCTAssertEqual(refused.status, 401)
        XCTAssertEqual(refused.errorCode, "CannotVerifyCopySource")
        let remote = try plain.send("PUT", "/ctr/x.bin", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-copy-source", "https://example.com/a")])
        XCTAssertEqual(remote.errorCode, "CannotVerifyCopySource")
        let exists = try plain.send("PUT", "/ctr/copy0.bin", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-copy-source", unsigned), ("If-None-Match", "*")])
        XCTAssertEqual(exists.errorCode, "BlobAlreadyExists")
        XCTAssertNil(emulator.blobContent(container: "ctr", blob: "x.bin"))
    }

    /// A copy from a URL is fetched whole before it is stored: the fetch stops at the room the store has left
    /// (not only at the largest blob), so a near-full store never holds a second copy's bytes in flight. The room
    /// counts what replacing the destination releases.
    func testPutBlobFromURLStopsFetchingAtTheStoresRoom() throws {
        let emulator = try startBlobEmulator {
            $0.httpLimits.maxBlobBytes = 1000
            $0.httpLimits.maxBlobStoreBytes = 2000
        }
        defer { emulator.stop() }
        let plain = try BlobTestClient(emulator: emulator)
        XCTAssertEqual(try put(plain, "/ctr/source.bin", blobPattern(800)).status, 201)
        XCTAssertEqual(try put(plain, "/ctr/dest.bin", blobPattern(900)).status, 201)
        var sas = BlobSASBuilder(accountName: "devstoreaccount1", containerName: "ctr", blobName: "source.bin", permissions: "r",
                                 expiry: UTCDate.nowUnixSeconds() + 600)
        sas.version = "2026-10-06"
        let token = try sas.token(accountKey: emulator.configuration.blobAccountKey).exposedValue
        let url = try XCTUnwrap(emulator.plainHTTPBaseURL) + "/devstoreaccount1/ctr/source.bin?" + token
        let copy = try plain.send("PUT", "/ctr/copy.bin", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-copy-source", url)])
        XCTAssertEqual(copy.status, 413)
        XCTAssertEqual(copy.errorCode, "RequestBodyTooLarge")
        XCTAssertTrue(plain.text(copy).contains("copy source is larger than the 300 bytes"), plain.text(copy))
        XCTAssertEqual(emulator.blobStoredBytes, 1700)
        // Over dest.bin there is room: its 900 bytes go as the copy's 800 arrive.
        let over = try plain.send("PUT", "/ctr/dest.bin", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-copy-source", url)])
        XCTAssertEqual(over.status, 201, plain.text(over))
        XCTAssertEqual(emulator.blobStoredBytes, 1600)
        XCTAssertEqual(emulator.blobContent(container: "ctr", blob: "dest.bin"), blobPattern(800))
    }
}


