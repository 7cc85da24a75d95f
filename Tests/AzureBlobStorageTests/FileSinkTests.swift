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
}
