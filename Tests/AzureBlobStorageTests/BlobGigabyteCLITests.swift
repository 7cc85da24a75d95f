import AzureBlobStorage
import Foundation
import ToolboxCLITestSupport
import XCTest

/// A 1 GiB upload and download through `toolbox blob`, with the SHA-256 checked end to end and each run's
/// peak RSS reported (not asserted). The emulator runs in this test process and holds the blob in memory
/// (about 1 GiB); the CLI streams it in 8 MiB blocks and ranges, so its own memory stays near
/// block size × concurrency. Takes about a minute in a debug build on two cores; the file is removed after.
final class BlobGigabyteCLITests: XCTestCase {
    func testOneGibibyteUploadAndDownloadThroughTheCLI() throws {
        let size = 1 << 30
        let env = try BlobTestEmulator()
        let source = temporaryPath("gigabyte.bin")
        let target = temporaryPath("gigabyte.out")
        defer {
            try? FileManager.default.removeItem(atPath: source)
            try? FileManager.default.removeItem(atPath: target)
        }
        // 8 MiB of pattern, each copy stamped with its index so no two blocks are alike.
        let pattern = testBytes(8 << 20, seed: 42)
        _ = FileManager.default.createFile(atPath: source, contents: nil)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: source))
        let sha = StreamingDigest(.sha256)
        for index in 0..<(size / pattern.count) {
            var block = pattern
            withUnsafeBytes(of: UInt64(index).littleEndian) { block.replaceSubrange(0..<8, with: $0) }
            sha.update(block)
            try handle.write(contentsOf: block)
        }
        try handle.close()
        let expected = sha.finish().map { String(format: "%02x", $0) }.joined()

        let common = ["--connection-string", env.plainConnectionString, "--container", env.container, "--json",
                      "--no-progress"]
        let started = Date()
        let upload = try ToolboxCLI.run(["blob", "upload"] + common
            + ["--name", "big/gigabyte.bin", "--file", source, "--block-size", "\(8 << 20)", "--concurrency", "8"])
        XCTAssertEqual(upload.status, 0, upload.stderr)
        let uploaded = try upload.singleJSONObject()
        XCTAssertEqual(uploaded["size"] as? Int, size)
        XCTAssertEqual(uploaded["blocks"] as? Int, 128)

        let download = try ToolboxCLI.run(["blob", "download"] + common
            + ["--name", "big/gigabyte.bin", "--file", target, "--concurrency", "8"])
        XCTAssertEqual(download.status, 0, download.stderr)
        let downloaded = try download.singleJSONObject()
        XCTAssertEqual(downloaded["size"] as? Int, size)
        XCTAssertEqual(downloaded["sha256"] as? String, expected)

        let bench = try ToolboxCLI.run(["bench", "blob"] + common
            + ["--operation", "download", "--size", "\(64 << 20)", "--count", "2", "--concurrency", "1"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let summary = try bench.singleJSONObject()
        XCTAssertNotNil(summary["max_rss_mb"])
        // Reported, not asserted. max_rss_mb (getrusage) includes this test process's peak, which Linux carries
        // over exec; peak_rss_mb (VmHWM) is the CLI's own.
        print("1 GiB through the CLI: upload \(uploaded["mb_per_sec"] ?? "?") MB/s (peak RSS "
            + "\(uploaded["peak_rss_mb"] ?? "?") MB), download \(downloaded["mb_per_sec"] ?? "?") MB/s (peak RSS "
            + "\(downloaded["peak_rss_mb"] ?? "?") MB), \(Int(Date().timeIntervalSince(started))) s in all; bench "
            + "blob download of 64 MiB: max_rss_mb \(summary["max_rss_mb"] ?? "?"), peak_rss_mb "
            + "\(summary["peak_rss_mb"] ?? "?")")
    }
}
