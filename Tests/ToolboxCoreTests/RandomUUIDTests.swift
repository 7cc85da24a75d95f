import Foundation
import ToolboxCore
import XCTest

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
