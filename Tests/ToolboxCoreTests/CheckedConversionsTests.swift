import Foundation
@testable import ToolboxCore
import XCTest

/// Issue 13 item 7: conversions of outside values clamp instead of trapping.
final class CheckedConversionsTests: XCTestCase {
    func testDoublesClampIntoInt64() {
        XCTAssertEqual(Int64(clampingRounded: .nan), 0)
        XCTAssertEqual(Int64(clampingRounded: .nan, nan: 7), 7)
        XCTAssertEqual(Int64(clampingRounded: .infinity), .max)
        XCTAssertEqual(Int64(clampingRounded: -.infinity), .min)
        XCTAssertEqual(Int64(clampingRounded: 1e300), .max)
        XCTAssertEqual(Int64(clampingRounded: 0x1p63), .max)
        XCTAssertEqual(Int64(clampingRounded: -0x1p63), .min)
        XCTAssertEqual(Int64(clampingRounded: 2.5), 3)
        XCTAssertEqual(Int64(clampingMilliseconds: 1.2345), 1235)
        XCTAssertEqual(Int64(clampingMilliseconds: .infinity), .max)
        XCTAssertEqual(Int64(clampingMilliseconds: Date.distantFuture.timeIntervalSince1970 * 1e20), .max)
        XCTAssertEqual(UInt32(clampingRounded: -5), 0)
        XCTAssertEqual(UInt32(clampingRounded: 1e12), .max)
        XCTAssertEqual(UInt32(clampingRounded: .nan), 0)
    }

    func testSaturatingAdditionStopsAtTheBounds() {
        XCTAssertEqual(Int64.max.saturatingAdd(1), .max)
        XCTAssertEqual(Int64.min.saturatingAdd(-1), .min)
        XCTAssertEqual(Int64(5).saturatingAdd(-7), -2)
        XCTAssertEqual(Int.max.saturatingAdd(Int.max), .max)
    }

    func testDeadlinesFromNonsenseSecondsDoNotTrap() {
        let now = MonotonicInstant.now()
        XCTAssertEqual(now.advanced(bySeconds: .nan), now)
        XCTAssertEqual(now.advanced(bySeconds: -.infinity).nanoseconds, now.nanoseconds > 1_000_000_000_000_000_000 ? now.nanoseconds - 1_000_000_000_000_000_000 : 0)
        XCTAssertEqual(now.advanced(bySeconds: .infinity), .distantFuture)
        XCTAssertFalse(Deadline.after(seconds: .nan).instant == .distantFuture)
    }
}
