import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import AzureBlobStorage

#if canImport(Glibc)
import Glibc
#endif

/// A failed download to a file removes what it half-wrote — but only a regular file: a device such as
/// `/dev/null` named as the target must survive (as root, unlinking `/dev/null` broke every later process that
/// opened it).
final class FileSinkTests: XCTestCase {
    func testAFailedDownloadNeverUnlinksADevice() throws {
        let directory = NSTemporaryDirectory() + "filesink-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A private copy of /dev/null (char 1,3), so a regression deletes nothing the machine needs.
        let device = directory + "/null"
        // dev_t((1 << 8) | 3) is makedev(1, 3), a macro Swift cannot import.
        guard mknod(device, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0 else {
            throw XCTSkip("mknod needs root: \(String(cString: strerror(errno)))")
        }
        let sink = try FileSink(path: device)
        XCTAssertNil(sink.prepare(length: 10), "a device is written to without being sized")
        XCTAssertNil(sink.write([1, 2, 3], at: 0))
        sink.finish(remove: true)
        var info = stat()
        XCTAssertEqual(stat(device, &info), 0, "the device was unlinked")
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR)
    }

    func testAFailedDownloadRemovesTheRegularFileItWrote() throws {
        let path = NSTemporaryDirectory() + "filesink-\(UUID().uuidString).bin"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try FileSink(path: path)
        XCTAssertNil(sink.prepare(length: 8))
        XCTAssertNil(sink.write([1, 2, 3, 4], at: 4))
        sink.finish(remove: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testRangesWriteSideBySideAndAWriteAfterFinishIsRefused() throws {
        let path = NSTemporaryDirectory() + "filesink-\(UUID().uuidString).bin"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try FileSink(path: path)
        let pieces = 8, pieceSize = 4_096, writesPerPiece = 16
        XCTAssertNil(sink.prepare(length: Int64(pieces * pieceSize * writesPerPiece)))
        let failures = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: pieces) { piece in
            for index in 0..<writesPerPiece {
                let offset = (index * pieces + piece) * pieceSize
                let bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: piece &* 31 &+ index), count: pieceSize)
                if sink.write(bytes, at: Int64(offset)) != nil { failures.withLockedValue { $0 += 1 } }
            }
        }
        XCTAssertEqual(failures.load(), 0)
        sink.finish(remove: false)
        XCTAssertEqual(sink.write([1], at: 0)?.code, .cancelled, "the file is closed")
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(written.count, pieces * pieceSize * writesPerPiece)
        for piece in 0..<pieces {
            for index in 0..<writesPerPiece {
                let offset = (index * pieces + piece) * pieceSize
                XCTAssertEqual(written[offset], UInt8(truncatingIfNeeded: piece &* 31 &+ index))
                XCTAssertEqual(written[offset + pieceSize - 1], UInt8(truncatingIfNeeded: piece &* 31 &+ index))
            }
        }
    }

    /// Through a symbolic link, a failed download empties the file and leaves the link alone: unlinking the path
    /// removed the user's link (`--file /dev/stdout` redirected to a file would unlink `/dev/stdout`).
    func testAFailedDownloadThroughALinkKeepsTheLink() throws {
        let directory = NSTemporaryDirectory() + "filesink-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/target", link = directory + "/link", dangling = directory + "/dangling"
        try Data("old contents".utf8).write(to: URL(fileURLWithPath: target))
        XCTAssertEqual(symlink(target, link), 0)
        let sink = try FileSink(path: link)
        XCTAssertNil(sink.prepare(length: 8))
        XCTAssertNil(sink.write([1, 2, 3, 4], at: 0))
        sink.finish(remove: true)
        var info = stat()
        XCTAssertEqual(lstat(link, &info), 0, "the link is still there")
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFLNK)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target)).count, 0, "no half-written bytes are left")

        XCTAssertEqual(symlink(directory + "/new-target", dangling), 0)
        let created = try FileSink(path: dangling)
        created.finish(remove: true)
        XCTAssertEqual(lstat(dangling, &info), 0, "a link to a file the download made is kept too")
    }

    /// A pipe whose reader has gone makes the write fail with EPIPE; it raised SIGPIPE, which ends the process.
    func testAPipeWithoutAReaderFailsTheWriteInsteadOfKillingTheProcess() throws {
        let fifo = NSTemporaryDirectory() + "filesink-\(UUID().uuidString).fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        defer { unlink(fifo) }
        let readerGone = DispatchSemaphore(value: 0)
        Thread {
            let reader = open(fifo, O_RDONLY)
            if reader >= 0 { close(reader) }
            readerGone.signal()
        }.start()
        let sink = try FileSink(path: fifo)  // returns once the reader has opened its end
        XCTAssertEqual(readerGone.wait(timeout: .now() + 10), .success)
        XCTAssertNil(sink.prepare(length: 100_000))
        let error = sink.write([UInt8](repeating: 7, count: 100_000), at: 0)
        XCTAssertEqual(error?.code, .invalidArgument)
        XCTAssertTrue(error?.message.contains("Broken pipe") == true, "\(String(describing: error))")
        sink.finish(remove: true)
        var info = stat()
        XCTAssertEqual(stat(fifo, &info), 0, "the FIFO is left alone")
    }
}
