import Dispatch
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureBlobStorage

/// A file upload's blocks are read into the reader's own `ByteBlock`s: one no request holds any more is filled
/// again, one a request still holds never is, and new blocks are mapped only while all are in use.
final class UploadReaderTests: XCTestCase {
    private func read(_ reader: UploadReader, max: Int) throws -> OutgoingBytes {
        let result = LockedValue<Result<OutgoingBytes, ToolboxError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        reader.read(max: max) { outcome in
            result.withLockedValue { $0 = outcome }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        return try XCTUnwrap(result.load()).get()
    }

    private func block(_ piece: OutgoingBytes) throws -> ByteBlock {
        guard case .block(let block) = piece else {
            XCTFail("a file is read into blocks, got \(piece)")
            throw ToolboxError(.invalidArgument, "not a block")
        }
        return block
    }

    func testBlocksAreReusedOnlyOnceNoRequestHoldsThem() throws {
        let data = testBytes(10 * 1000 + 123, seed: 3)
        let path = temporaryPath("reader.bin")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(data).write(to: URL(fileURLWithPath: path))
        let reader = try UploadReader(.file(path: path))
        defer { reader.finish() }

        // Read one at a time and let each go: the same block comes back every time.
        var seen: [ObjectIdentifier] = []
        var offset = 0
        for _ in 0..<3 {
            let first = try block(try read(reader, max: 1000))
            XCTAssertEqual(first.bytes, Array(data[offset..<offset + 1000]))
            seen.append(ObjectIdentifier(first))
            offset += 1000
        }
        XCTAssertEqual(Set(seen).count, 1, "a block nobody holds is filled again")

        // Hold two (as two requests in flight would): the next read gets a third, and the held ones are intact.
        let held1 = try block(try read(reader, max: 1000))
        let held2 = try block(try read(reader, max: 1000))
        let third = try read(reader, max: 1000)
        XCTAssertEqual(held1.bytes, Array(data[3000..<4000]))
        XCTAssertEqual(held2.bytes, Array(data[4000..<5000]))
        XCTAssertEqual(third.withUnsafeBytes { Array($0) }, Array(data[5000..<6000]))
        XCTAssertEqual(Set([ObjectIdentifier(held1), ObjectIdentifier(held2), ObjectIdentifier(try block(third))]).count, 3,
                       "a block a request holds is never filled again")

        // The rest, down to the short last block and the end.
        var rest: [UInt8] = []
        while true {
            let piece = try read(reader, max: 1000)
            if piece.isEmpty { break }
            rest += piece.withUnsafeBytes { Array($0) }
        }
        XCTAssertEqual(rest, Array(data[6000...]))
        XCTAssertEqual(held1.bytes, Array(data[3000..<4000]), "still intact after later reads")
    }

    func testBytesAndStreamsAreNotCopiedIntoBlocks() throws {
        let reader = try UploadReader(.bytes([1, 2, 3, 4, 5]))
        defer { reader.finish() }
        guard case .bytes(let first) = try read(reader, max: 3) else { return XCTFail("bytes stay bytes") }
        XCTAssertEqual(first, [1, 2, 3])
        XCTAssertEqual(try read(reader, max: 3).withUnsafeBytes { Array($0) }, [4, 5])
        XCTAssertTrue(try read(reader, max: 3).isEmpty)
    }
}
