import Dispatch
import ToolboxCore
import XCTest

final class CancellableSlotTests: XCTestCase {
    /// Counts its cancels; records them in `log` when given one.
    private final class Step: Cancellable, Sendable {
        let cancels = LockedValue(0)
        let log: LockedValue<[String]>?
        init(log: LockedValue<[String]>? = nil) { self.log = log }
        func cancel() {
            cancels.withLockedValue { $0 += 1 }
            log?.withLockedValue { $0.append("step") }
        }
    }

    func testCancelReachesTheCurrentStepOnly() {
        let slot = CancellableSlot()
        let first = Step(), second = Step()
        XCTAssertTrue(slot.set(first))
        XCTAssertTrue(slot.set(second))
        slot.cancel()
        XCTAssertEqual(first.cancels.load(), 0)
        XCTAssertEqual(second.cancels.load(), 1)
    }

    func testAStepSetAfterTheCancelIsCancelledAtOnce() {
        let slot = CancellableSlot()
        slot.cancel()
        let late = Step()
        XCTAssertFalse(slot.set(late))
        XCTAssertEqual(late.cancels.load(), 1)
    }

    func testCancelAfterRunsItsFirstActionBeforeCancellingTheStep() {
        let log = LockedValue<[String]>([])
        let slot = CancellableSlot()
        slot.set(Step(log: log))
        slot.cancel { log.withLockedValue { $0.append("first") } }
        XCTAssertEqual(log.load(), ["first", "step"])
    }

    func testRacingSetsAndCancelsLoseNoCancel() {
        for _ in 0..<200 {
            let slot = CancellableSlot()
            let steps = (0..<4).map { _ in Step() }
            DispatchQueue.concurrentPerform(iterations: 5) { index in
                if index == 4 { slot.cancel() } else { slot.set(steps[index]) }
            }
            // Whatever the order, the step held last was cancelled: by the cancel, or by set after it.
            XCTAssertGreaterThanOrEqual(steps.map { $0.cancels.load() }.reduce(0, +), 1)
            XCTAssertFalse(slot.set(Step()))
        }
    }
}
