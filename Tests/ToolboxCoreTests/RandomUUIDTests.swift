import Foundation
@testable import ToolboxCore
import XCTest
#if os(Linux)
import Glibc
#endif

/// `RandomUUID`: the one random-UUID helper (message-ids, request and event ids, link names, lock tokens).
final class RandomUUIDTests: XCTestCase {
    func testMakeSetsVersion4AndTheRFC4122Variant() {
        var versions = Set<UInt8>(), variants = Set<UInt8>()
        for _ in 0..<1_000 {
            let bytes = withUnsafeBytes(of: RandomUUID.make().uuid) { Array($0) }
            versions.insert(bytes[6] >> 4)
            variants.insert(bytes[8] >> 6)
        }
        XCTAssertEqual(versions, [4])
        XCTAssertEqual(variants, [0b10])
    }

    func testStringIsTheLowercaseFormThatFoundationParses() throws {
        for _ in 0..<500 {
            let text = RandomUUID.string()
            XCTAssertEqual(text.utf8.count, 36)
            XCTAssertTrue(text.utf8.allSatisfy { Array("0123456789abcdef-".utf8).contains($0) }, text)
            XCTAssertEqual(text.split(separator: "-", omittingEmptySubsequences: false).map(\.count), [8, 4, 4, 4, 12], text)
            let uuid = try XCTUnwrap(UUID(uuidString: text), text)
            XCTAssertEqual(uuid.uuidString.lowercased(), text)
            let version = text[text.index(text.startIndex, offsetBy: 14)]
            XCTAssertEqual(version, "4", text)
            XCTAssertTrue("89ab".contains(text[text.index(text.startIndex, offsetBy: 19)]), "variant: \(text)")
        }
    }

    func testLowercasedStringMatchesFoundationForFixedValues() throws {
        for text in ["00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
                     "1B4E28BA-2FA1-41D2-883F-0016D3CCA427", "01234567-89AB-CDEF-0123-456789ABCDEF"] {
            let uuid = try XCTUnwrap(UUID(uuidString: text))
            XCTAssertEqual(uuid.lowercasedString, text.lowercased())
        }
    }

    #if os(Linux)
    /// A forked child must not hand out the bytes its parent hands out next: the per-thread page is wiped in the
    /// child (MADV_WIPEONFORK), so it draws fresh ones. Without the wipe both would take the same 16 bytes.
    func testAForkedChildDrawsOtherBytesThanItsParent() throws {
        var primed = (UInt64(0), UInt64(0))
        XCTAssertTrue(withUnsafeMutableBytes(of: &primed) { ThreadRandomBytes.take(16, into: $0.baseAddress!) },
                      "this thread has a page")
        var pipeEnds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&pipeEnds), 0)
        let child = fork()
        if child == 0 {
            // Only async-signal-safe work in the child: the draw itself (no allocation), write, _exit.
            var drawn = (UInt64(0), UInt64(0))
            let ok = withUnsafeMutableBytes(of: &drawn) { ThreadRandomBytes.take(16, into: $0.baseAddress!) }
            _ = withUnsafeBytes(of: &drawn) { write(pipeEnds[1], $0.baseAddress, 16) }
            _exit(ok ? 0 : 3)
        }
        XCTAssertGreaterThan(child, 0)
        close(pipeEnds[1])
        var fromChild = (UInt64(0), UInt64(0))
        let read = withUnsafeMutableBytes(of: &fromChild) { Glibc.read(pipeEnds[0], $0.baseAddress, 16) }
        close(pipeEnds[0])
        var status: Int32 = 0
        XCTAssertEqual(waitpid(child, &status, 0), child)
        XCTAssertEqual((status >> 8) & 0xFF, 0, "the child drew its bytes from a page")
        XCTAssertEqual(read, 16)
        var fromParent = (UInt64(0), UInt64(0))
        XCTAssertTrue(withUnsafeMutableBytes(of: &fromParent) { ThreadRandomBytes.take(16, into: $0.baseAddress!) })
        XCTAssertFalse(fromChild == fromParent, "parent and child drew the same bytes after fork")
    }

    /// Across refills (256 bytes = 16 UUIDs each) ids stay distinct and keep version and variant; sizes outside
    /// 1...64 are refused.
    func testIdsStayDistinctAcrossRefills() {
        let ids = (0..<(ThreadRandomBytes.refillBytes / 16 * 5 + 3)).map { _ in RandomUUID.make() }
        XCTAssertEqual(Set(ids).count, ids.count)
        for id in ids {
            XCTAssertEqual(id.uuid.6 >> 4, 4)
            XCTAssertEqual(id.uuid.8 >> 6, 0b10)
        }
        var scratch = [UInt8](repeating: 0, count: 128)
        XCTAssertFalse(ThreadRandomBytes.take(0, into: &scratch))
        XCTAssertFalse(ThreadRandomBytes.take(65, into: &scratch))
        XCTAssertTrue(ThreadRandomBytes.take(64, into: &scratch))
    }
    #endif

    func testIdsDoNotRepeatAcrossThreads() {
        let perThread = 5_000, threads = 4
        let collected = LockedValue(Set<String>())
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let ids = (0..<perThread).map { _ in RandomUUID.string() }
            collected.withLockedValue { $0.formUnion(ids) }
        }
        XCTAssertEqual(collected.load().count, perThread * threads)
    }
}
