import Dispatch
import ToolboxCore
import XCTest

@testable import AzureMessagingCore

private final class Probe: TimeoutTarget, @unchecked Sendable {
    // @unchecked Sendable: `finished` and `fired` are LockedValues; `expectation` is thread-safe.
    let finished = LockedValue(false)
    let fired = LockedValue(0)
    let expectation: XCTestExpectation?

    init(finished: Bool = false, expectation: XCTestExpectation? = nil) {
        self.finished.withLockedValue { $0 = finished }
        self.expectation = expectation
    }

    var isFinished: Bool { finished.load() }
    func timeOut() {
        fired.withLockedValue { $0 += 1 }
        expectation?.fulfill()
    }
}

/// The per-try time-outs' shared timer: fires what did not finish, drops what did without firing.
final class TimeoutSchedulerTests: XCTestCase {
    func testAnUnfinishedTargetTimesOutOnceAndFinishedOnesAreDropped() {
        let scheduler = TimeoutScheduler()
        let finishedEarly = (0..<100).map { _ in Probe() }
        for probe in finishedEarly { scheduler.schedule(after: 30, probe) }
        for probe in finishedEarly { probe.finished.withLockedValue { $0 = true } }
        let late = Probe()
        scheduler.schedule(after: 30, late)
        XCTAssertEqual(scheduler.count, 1, "finished entries at the top are dropped when the next one is added")

        let fires = expectation(description: "timed out")
        let due = Probe(expectation: fires)
        let alsoDueButFinished = Probe(finished: true)
        scheduler.schedule(after: 0.01, alsoDueButFinished)
        scheduler.schedule(after: 0.02, due)
        wait(for: [fires], timeout: 10)
        XCTAssertEqual(due.fired.load(), 1)
        XCTAssertEqual(alsoDueButFinished.fired.load(), 0)
        XCTAssertEqual(late.fired.load(), 0)
    }

    func testEarlierDeadlinesAddedLaterStillFireFirst() {
        let scheduler = TimeoutScheduler()
        let far = Probe()
        scheduler.schedule(after: 60, far)
        let fires = expectation(description: "near one fired")
        let near = Probe(expectation: fires)
        scheduler.schedule(after: 0.01, near)
        wait(for: [fires], timeout: 10)
        XCTAssertEqual(far.fired.load(), 0)
    }
}
