import Foundation
import XCTest

/// Executions of the SPIN model of the pool (`Verification/pool.pml`) replayed against the real `ConnectionPool`,
/// step by step: the model and the code must agree on every connector call, delivery and count, and the real pool
/// must keep the model's invariants. A counterexample SPIN finds replays into a failure here (a reproduced bug, or
/// proof that model and code drifted apart). See docs/connection-pooling.md, "What the model checker proves".
final class ModelTraceReplayTests: XCTestCase {
    static let tracesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Verification/traces")

    func traces(in directory: URL, prefix: String) throws -> [(String, ModelTrace)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".trace") }
            .sorted()
        return try names.map { name in
            (name, try ModelTrace(text: String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)))
        }
    }

    func replay(_ trace: ModelTrace) -> ReplayFailure? {
        do {
            try ModelTraceReplayer(trace: trace).replay()
            return nil
        } catch let failure as ReplayFailure {
            return failure
        } catch {
            XCTFail("setting up the replay: \(error)")
            return nil
        }
    }

    /// Random simulations of the model (scripts/model-check.sh --traces), together covering a failing create and
    /// readiness check, getTimeout, waiter deadlines, idle and lifespan expiry, discard and expire, and closeAll.
    func testSimulationsOfTheModelReplayOnTheRealPool() throws {
        let simulations = try traces(in: Self.tracesDirectory, prefix: "sim-")
        XCTAssertGreaterThanOrEqual(simulations.count, 4)
        var covered = Set<String>()
        for (name, trace) in simulations {
            XCTAssertEqual(trace.ending, .none, name)
            if let failure = replay(trace) { XCTFail("\(name): \(failure)") }
            for step in trace.steps {
                switch step.action {
                case .createDone(_, false): covered.insert("create fails")
                case .readyDone(_, false): covered.insert("ready fails")
                case .getTimeout: covered.insert("getTimeout")
                case .waiterTimeout: covered.insert("waiter deadline")
                case .tick(false): covered.insert("idle expiry")
                case .tick(true): covered.insert("lifespan expiry")
                case .release(_, _, true): covered.insert("discard")
                case .expire: covered.insert("expire")
                case .closeAll: covered.insert("closeAll")
                default: break
                }
            }
        }
        XCTAssertEqual(covered.count, 9, "the stored simulations cover only \(covered.sorted())")
    }

    /// The counterexamples of the deliberately broken models (Verification/mutants) do not replay: the real pool
    /// refuses the step where the broken model goes wrong, so the replay test does fail when model and code differ.
    func testCounterexamplesOfBrokenModelsDivergeFromTheRealPool() throws {
        let mutants = try traces(in: Self.tracesDirectory, prefix: "mutant-")
        XCTAssertGreaterThanOrEqual(mutants.count, 2)
        for (name, trace) in mutants {
            XCTAssertNotEqual(trace.ending, .none, name)
            let failure = replay(trace)
            XCTAssertEqual(failure?.kind, .diverged, "\(name): \(String(describing: failure))")
        }
        // The no-create-cap mutant opens a second connection while one is opening; the pool does not.
        let (_, noCap) = try XCTUnwrap(mutants.first { $0.0 == "mutant-no-create-cap.trace" })
        let failure = try XCTUnwrap(replay(noCap))
        XCTAssertTrue(failure.message.contains("called create"), failure.description)
    }

    /// A trace changed by one delivery fails at that step.
    func testATraceThatDisagreesWithThePoolFailsAtThatStep() throws {
        let (_, trace) = try XCTUnwrap(try traces(in: Self.tracesDirectory, prefix: "sim-60").first)
        let index = try XCTUnwrap(trace.steps.firstIndex { step in
            if case .acquire(_, .lease) = step.action { return true }
            return false
        })
        var tampered = trace
        guard case .acquire(let client, _) = trace.steps[index].action else { return XCTFail("not an acquire") }
        tampered.steps[index].action = .acquire(client: client, outcome: .poolClosed)
        let failure = try XCTUnwrap(replay(tampered))
        XCTAssertEqual(failure.kind, .diverged)
        XCTAssertEqual(failure.line, trace.steps[index].line)
    }

    /// A liveness counterexample the real pool follows (a client left waiting) is reported as a reproduced bug.
    func testAWaiterTheModelLeavesStuckIsAReproducedBugWhenThePoolLeavesItStuckToo() throws {
        let text = """
            CONFIG clients=3 maxSize=2 clientLimit=1 maxCreates=1
            EV acquire c=0 -> queued
            EV create s=0
            ST ready=0 opening=1 draining=0 inuse=0 waiters=1 closed=0
            RESULT deadlock
            """
        let failure = try XCTUnwrap(replay(try ModelTrace(text: text)))
        XCTAssertEqual(failure.kind, .bugReproduced, failure.description)
        XCTAssertTrue(failure.message.contains("clients [0]"), failure.message)
    }

    /// Counterexamples scripts/model-check.sh wrote (TOOLBOX_MODEL_TRACES=.build-model): each must replay cleanly,
    /// which a counterexample never does — so a bug SPIN finds fails here with the step where it shows.
    func testTracesInTheDirectoryNamedByTheEnvironment() throws {
        guard let path = ProcessInfo.processInfo.environment["TOOLBOX_MODEL_TRACES"] else {
            throw XCTSkip("set TOOLBOX_MODEL_TRACES to a directory of traces")
        }
        let found = try traces(in: URL(fileURLWithPath: path), prefix: "")
        for (name, trace) in found {
            if let failure = replay(trace) { XCTFail("\(name): \(failure)") }
        }
    }
}
