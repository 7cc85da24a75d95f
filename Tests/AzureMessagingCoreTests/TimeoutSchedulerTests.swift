import AzureClientsToolboxTesting
import Dispatch
import ToolboxCore
import XCTest

@testable import AzureMessagingCore

private final class Probe: TimeoutTarget, @unchecked Sendable {
    // @unchecked Sendable: `finished` and `fired` are LockedValues.
    let finished = LockedValue(false)
    let fired = LockedValue(0)

    init(finished: Bool = false) {
        self.finished.withLockedValue { $0 = finished }
    }

    var isFinished: Bool { finished.load() }
    func timeOut() { fired.withLockedValue { $0 += 1 } }
}

/// The per-try time-outs' shared timer: fires what did not finish, drops what did without firing. Driven by a
/// `ManualClock`, so nothing here waits: `advance` runs what came due before it returns.
final class TimeoutSchedulerTests: XCTestCase {
    func testAnUnfinishedTargetTimesOutOnceAndFinishedOnesAreDropped() {
        let clock = ManualClock()
        let scheduler = TimeoutScheduler(clock: clock)
        let finishedEarly = (0..<100).map { _ in Probe() }
        for probe in finishedEarly { scheduler.schedule(after: .seconds(30), probe) }
        for probe in finishedEarly { probe.finished.withLockedValue { $0 = true } }
        let late = Probe()
        scheduler.schedule(after: .seconds(30), late)
        XCTAssertEqual(scheduler.count, 1, "finished entries at the top are dropped when the next one is added")

        let due = Probe()
        let alsoDueButFinished = Probe(finished: true)
        scheduler.schedule(after: .milliseconds(10), alsoDueButFinished)
        scheduler.schedule(after: .milliseconds(20), due)
        clock.advance(by: .milliseconds(19))
        XCTAssertEqual(due.fired.load(), 0, "not yet due")
        clock.advance(by: .milliseconds(1))
        XCTAssertEqual(due.fired.load(), 1)
        XCTAssertEqual(alsoDueButFinished.fired.load(), 0)
        XCTAssertEqual(late.fired.load(), 0)
        clock.advance(by: .seconds(30))
        XCTAssertEqual(late.fired.load(), 1)
        XCTAssertEqual(due.fired.load(), 1, "a target times out once")
        XCTAssertEqual(scheduler.count, 0)
        XCTAssertEqual(clock.pendingJobCount, 0, "nothing left armed once the heap is empty")
    }

    func testEarlierDeadlinesAddedLaterStillFireFirst() {
        let clock = ManualClock()
        let scheduler = TimeoutScheduler(clock: clock)
        let far = Probe()
        scheduler.schedule(after: .seconds(60), far)
        let near = Probe()
        scheduler.schedule(after: .milliseconds(10), near)
        XCTAssertEqual(clock.pendingJobCount, 1, "one clock job at a time: re-arming replaces the later one")
        clock.advance(by: .milliseconds(10))
        XCTAssertEqual(near.fired.load(), 1)
        XCTAssertEqual(far.fired.load(), 0)
        clock.advance(by: .seconds(60))
        XCTAssertEqual(far.fired.load(), 1)
    }

    /// One entry that does not finish (a receive waiting a minute on an idle queue) sits at the top; the entries
    /// after it finish at once (sends, settlements). They used to stay under it until it fired: the heap grew by
    /// every operation of that minute. Now they are swept out once the heap doubles.
    func testFinishedEntriesUnderAnUnfinishedOneAreSweptOut() {
        let clock = ManualClock()
        let scheduler = TimeoutScheduler(clock: clock)
        let waiting = Probe()
        scheduler.schedule(after: .seconds(60), waiting)
        var live: [Probe] = []
        for index in 0..<100_000 {
            let probe = Probe()
            scheduler.schedule(after: .seconds(61), probe)
            if index % 1_000 == 0 { live.append(probe) } else { probe.finished.withLockedValue { $0 = true } }
        }
        XCTAssertLessThan(scheduler.count, 2 * TimeoutScheduler.minimumCompaction + live.count * 2,
                          "finished entries under the unfinished top are swept out")
        XCTAssertGreaterThanOrEqual(scheduler.count, 1 + live.count, "unfinished entries are kept")
        clock.advance(by: .seconds(60))
        XCTAssertEqual(waiting.fired.load(), 1)
        XCTAssertEqual(live.reduce(0) { $0 + $1.fired.load() }, 0, "not due yet")
        clock.advance(by: .seconds(1))
        XCTAssertTrue(live.allSatisfy { $0.fired.load() == 1 }, "each unfinished entry still fires once, after a sweep")
        XCTAssertEqual(scheduler.count, 0)
    }

    func testTheSystemClockSchedulerIsSharedAndAnyOtherClockGetsItsOwn() {
        XCTAssertTrue(TimeoutScheduler.on(SystemClock()) === TimeoutScheduler.shared)
        XCTAssertFalse(TimeoutScheduler.on(ManualClock()) === TimeoutScheduler.shared)
    }
}
