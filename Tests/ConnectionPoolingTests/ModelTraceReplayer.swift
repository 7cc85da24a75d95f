import AzureClientsToolboxTesting
@_spi(Testing) import ConnectionPooling
import Dispatch
import ToolboxCore

/// Why a model trace could not be replayed to its end against the real pool.
struct ReplayFailure: Error, CustomStringConvertible {
    enum Kind: String {
        /// The real pool did something other than what the model did at this step: model and code disagree.
        case diverged
        /// The real pool followed the trace into the violation the model found: a real bug.
        case bugReproduced
        /// The model found a violation here that the real pool, following the same steps, does not show.
        case modelOnly
        /// The trace's timing cannot be produced with one pool configuration on one clock.
        case unrealizable
        /// The trace does not make sense (an action on a slot or client it never mentioned).
        case malformed
    }

    let kind: Kind
    let line: Int
    let message: String

    var description: String { "\(kind.rawValue) at trace line \(line): \(message)" }
}

/// The pool settings and acquire time-outs that make the real timers fire exactly at a trace's timed events.
///
/// Time moves only at timed events, by jumps far apart: a waiter's deadline 1 s after the previous event (its
/// acquire gets the time-out that lands there), a getTimeout at the slot's create + 1,000 s (`getTimeout`), a jump
/// past maxIdle or maxLifespan of 10^6 s (the setting is 5 * 10^5 s: above getTimeout and every other jump, so
/// in the jump the opening slots time out first and nothing else expires, as the model has it). Between steps the
/// replayer moves the clock by a microsecond, so that slots created in different steps differ in age as they do on
/// a real clock.
struct ReplayTimePlan {
    static let never = 1e8
    static let step = 1e-6
    static let getTimeout = 1_000.0

    var acquireTimeouts: [Int: Double] = [:]
    /// How far each timed event moves the clock (getTimeout events instead go to the slot's create + getTimeout).
    var jumps: [Int: Double] = [:]
    var maxIdle: Double?
    var maxLifespan: Double?

    init(_ trace: ModelTrace) throws(ReplayFailure) {
        var now = 0.0
        var queued: [Int: (step: Int, at: Double)] = [:]
        for (index, step) in trace.steps.enumerated() {
            switch step.action {
            case .acquire(let client, .queued):
                queued[client] = (index, now)
            case .getTimeout:
                now += Self.getTimeout
            case .waiterTimeout(let client):
                guard let waiter = queued.removeValue(forKey: client) else {
                    throw ReplayFailure(kind: .malformed, line: step.line, message: "client \(client) is not queued")
                }
                now += 1
                jumps[index] = 1
                acquireTimeouts[waiter.step] = now - waiter.at
            case .tick(let lifespan):
                if (lifespan ? maxIdle : maxLifespan) != nil {
                    throw ReplayFailure(
                        kind: .unrealizable, line: step.line, message: "both an idle and a lifespan jump of the clock")
                }
                now += 1e6
                jumps[index] = 1e6
                if lifespan { maxLifespan = 5e5 } else { maxIdle = 5e5 }
            default:
                break
            }
            for effect in step.effects {
                if case .deliver(let client, _) = effect { queued[client] = nil }
            }
        }
    }
}

/// Replays a `ModelTrace` against a real `ConnectionPool`: performs each action (an acquire, a release, a connector
/// completing, a timer firing on a `ManualClock`), then checks that the pool did what the model did in that step
/// (connector calls, deliveries, counts) and that the pool's invariants hold.
///
/// Everything the pool does happens inside the replayer's calls (the connector answers only when told, time moves
/// only when told), so the replay is deterministic.
final class ModelTraceReplayer {
    typealias Pool = ConnectionPool<ScriptedConnector>
    typealias Lease = ConnectionLease<ScriptedConnection>
    typealias Received = (client: Int, result: Result<Lease, ConnectionPoolError>)

    let trace: ModelTrace
    private let plan: ReplayTimePlan
    private let clock: ManualClock
    private let connector = ScriptedConnector()
    private let pool: Pool
    private let deliveries = DispatchQueue(label: "model-replay.deliveries")
    private let received = LockedValue<[Received]>([])
    private let closeCompleted = LockedValue(false)
    private var sawCloseCompleted = false
    private var leases: [Int: Lease] = [:]
    private var waiting: Set<Int> = []
    /// Model slot record -> the real pool's slot (and connection) id, from the `create` that filled it.
    private var realID: [Int: Int] = [:]
    private var seenCreates = 0
    private var seenCloses = 0
    /// When each model slot's create started on the replay clock (its getTimeout timer counts from there).
    private var createdAt: [Int: MonotonicInstant] = [:]
    /// The deadline each queued client was given.
    private var deadlines: [Int: MonotonicInstant] = [:]

    init(trace: ModelTrace) throws {
        self.trace = trace
        plan = try ReplayTimePlan(trace)
        clock = ManualClock()
        var configuration = ConnectionPoolConfiguration()
        configuration.clientLimit = trace.configuration.clientLimit
        configuration.maxSize = trace.configuration.maxSize
        configuration.maxConcurrentCreates = trace.configuration.maxCreates
        configuration.maxIdle = plan.maxIdle.map { .seconds($0) }
        configuration.maxLifespan = plan.maxLifespan.map { .seconds($0) }
        configuration.getTimeout = .seconds(ReplayTimePlan.getTimeout)
        configuration.metricsLabel = nil
        pool = try Pool(connector: connector, configuration: configuration, clock: clock)
    }

    func replay() throws(ReplayFailure) {
        for (index, step) in trace.steps.enumerated() {
            // A microsecond between steps, unless a timer is due (it runs only when the model's step says so).
            let now = clock.now()
            if clock.nextDeadline.map({ $0 > now.advanced(bySeconds: ReplayTimePlan.step) }) ?? true {
                clock.advance(bySeconds: ReplayTimePlan.step)
            }
            try perform(step, index: index)
            deliveries.sync {}
            // The last step of a trail that stops at an assertion may lack its effects and counts.
            if step.complete {
                try checkEffects(step)
                try checkCounts(step)
            }
            try checkInvariants(step)
        }
        try checkEnding()
    }

    // MARK: Actions

    private func perform(_ step: ModelTrace.Step, index: Int) throws(ReplayFailure) {
        switch step.action {
        case .acquire(let client, _):
            let timeout = plan.acquireTimeouts[index] ?? (client == 0 ? .infinity : ReplayTimePlan.never)
            deadlines[client] = clock.now().advanced(bySeconds: timeout)
            pool.acquire(timeoutSeconds: timeout, queue: deliveries) { [received] result in
                received.withLockedValue { $0.append((client, result)) }
            }
        case .release(let client, let slot, let discard):
            let lease = try heldLease(client, slot, step)
            leases[client] = nil
            lease.release(discard ? .discard : .reuse)
        case .expire(let client, let slot):
            pool.expire(try heldLease(client, slot, step))
        case .createDone(let slot, let ok):
            guard connector.finishCreate(try id(slot, step), ok: ok) else {
                throw diverged(step, "the model completes slot \(slot)'s create, but the pool has none in flight")
            }
        case .readyDone(let slot, let ok):
            guard connector.finishReady(try id(slot, step), ok: ok) else {
                throw diverged(step, "the model completes slot \(slot)'s readiness check, but the pool started none")
            }
        case .closeDone(let slot):
            guard connector.finishClose(try id(slot, step)) else {
                throw diverged(step, "the model finishes closing slot \(slot), but the pool never closed it")
            }
        case .getTimeout(let slot):
            guard let created = createdAt[slot] else {
                throw ReplayFailure(kind: .malformed, line: step.line, message: "slot \(slot) was never created")
            }
            let due = created.advanced(bySeconds: ReplayTimePlan.getTimeout)
            guard due > clock.now() else {
                throw ReplayFailure(
                    kind: .unrealizable, line: step.line,
                    message: "slot \(slot)'s getTimeout passed before the model's event")
            }
            clock.advance(to: due)
        case .waiterTimeout(let client):
            guard let deadline = deadlines[client] else {
                throw ReplayFailure(kind: .malformed, line: step.line, message: "client \(client) never queued")
            }
            clock.advance(to: deadline)
        case .tick:
            clock.advance(bySeconds: plan.jumps[index] ?? 0)
        case .closeAll:
            pool.closeAll(queue: deliveries) { [closeCompleted] in closeCompleted.withLockedValue { $0 = true } }
        case .create, .close, .deliver, .closeCompleted:
            throw ReplayFailure(kind: .malformed, line: step.line, message: "an effect where an action belongs")
        }
    }

    private func heldLease(_ client: Int, _ slot: Int, _ step: ModelTrace.Step) throws(ReplayFailure) -> Lease {
        guard let lease = leases[client] else { throw diverged(step, "client \(client) holds no lease") }
        let expected = try id(slot, step)
        guard lease.connectionID == expected else {
            throw diverged(step, "client \(client)'s lease is on connection \(lease.connectionID), the model's on \(expected)")
        }
        return lease
    }

    private func id(_ slot: Int, _ step: ModelTrace.Step) throws(ReplayFailure) -> Int {
        guard let id = realID[slot] else {
            throw ReplayFailure(kind: .malformed, line: step.line, message: "slot \(slot) was never created")
        }
        return id
    }

    private func diverged(_ step: ModelTrace.Step, _ message: String) -> ReplayFailure {
        ReplayFailure(kind: .diverged, line: step.line, message: message)
    }

    // MARK: Checks

    private func checkEffects(_ step: ModelTrace.Step) throws(ReplayFailure) {
        // connector.create calls, in slot id order.
        let creates = step.effects.compactMap { if case .create(let slot) = $0 { slot } else { nil } }
        let createCount = connector.createCount
        guard createCount - seenCreates == creates.count else {
            throw diverged(step, "the pool called create \(createCount - seenCreates) times, the model \(creates.count)")
        }
        for slot in creates {
            seenCreates += 1
            realID[slot] = seenCreates
            createdAt[slot] = clock.now()
        }
        // connector.close calls.
        var closes: [Int] = []
        for effect in step.effects {
            if case .close(let slot) = effect { closes.append(try id(slot, step)) }
        }
        let closeCalls = Array(connector.closeCallIDs.dropFirst(seenCloses))
        guard closeCalls == closes else {
            throw diverged(step, "the pool closed connections \(closeCalls), the model \(closes)")
        }
        seenCloses += closeCalls.count
        try checkDeliveries(step)
        let completed = closeCompleted.withLockedValue { $0 }
        let expected = sawCloseCompleted || step.effects.contains(.closeCompleted)
        guard completed == expected else {
            throw diverged(step, completed ? "closeAll completed early" : "closeAll has not completed")
        }
        sawCloseCompleted = expected
    }

    private func checkDeliveries(_ step: ModelTrace.Step) throws(ReplayFailure) {
        var expected: [(Int, ModelTrace.Delivered)] = []
        if case .acquire(let client, let outcome) = step.action {
            switch outcome {
            case .lease(let slot): expected.append((client, .lease(slot: slot)))
            case .poolClosed: expected.append((client, .poolClosed))
            case .queued: waiting.insert(client)
            }
        }
        for effect in step.effects {
            if case .deliver(let client, let result) = effect { expected.append((client, result)) }
        }
        let got = received.withLockedValue { all in
            defer { all.removeAll() }
            return all
        }
        guard got.count == expected.count else {
            let results = got.map { "client \($0.client): \($0.result.map(\.connectionID))" }
            throw diverged(step, "the pool completed \(got.count) acquires (\(results)), "
                + "the model \(expected.count) (\(expected.map { "client \($0.0): \($0.1)" }))")
        }
        for ((client, result), (expectedClient, delivered)) in zip(got, expected) {
            guard client == expectedClient else {
                throw diverged(step, "the pool completed client \(client)'s acquire, the model client \(expectedClient)'s")
            }
            waiting.remove(client)
            switch (result, delivered) {
            case (.success(let lease), .lease(let slot)):
                let id = try id(slot, step)
                guard lease.connectionID == id, lease.connection.id == id else {
                    throw diverged(step, "client \(client) got connection \(lease.connectionID), the model \(id)")
                }
                leases[client] = lease
            case (.failure(let error), .timedOut) where error.code == .timedOut: break
            case (.failure(let error), .connectionFailed) where error.code == .connectionFailed: break
            case (.failure(let error), .poolClosed) where error.code == .poolClosed: break
            default:
                throw diverged(step, "client \(client) got \(result), the model \(delivered)")
            }
        }
    }

    private func checkCounts(_ step: ModelTrace.Step) throws(ReplayFailure) {
        let snapshot = pool.snapshot
        let real = ModelTrace.Counts(
            ready: snapshot.ready, opening: snapshot.opening, draining: snapshot.draining,
            inUse: snapshot.inUse, waiters: snapshot.waiters)
        guard real == step.counts else { throw diverged(step, "the pool has \(real), the model \(step.counts)") }
    }

    /// The safety properties of the model, on the real pool.
    private func checkInvariants(_ step: ModelTrace.Step) throws(ReplayFailure) {
        func bug(_ message: String) -> ReplayFailure {
            ReplayFailure(kind: .bugReproduced, line: step.line, message: message)
        }
        let problems = pool.invariantViolations()
        if !problems.isEmpty { throw bug("pool invariants: \(problems.joined(separator: "; "))") }
        let limits = trace.configuration
        var perConnection: [Int: Int] = [:]
        for (client, lease) in leases {
            if lease.connection.closeCalled { throw bug("client \(client) holds a lease on a closed connection") }
            perConnection[lease.connectionID, default: 0] += 1
        }
        if let (id, count) = perConnection.first(where: { $0.value > limits.clientLimit }) {
            throw bug("\(count) leases on connection \(id) > clientLimit \(limits.clientLimit)")
        }
        if connector.openCount > limits.maxSize {
            throw bug("\(connector.openCount) connections open > maxSize \(limits.maxSize)")
        }
        if connector.inFlightOpenings > limits.maxCreates {
            throw bug("\(connector.inFlightOpenings) creates in flight > maxConcurrentCreates \(limits.maxCreates)")
        }
    }

    private func checkEnding() throws(ReplayFailure) {
        let line = trace.steps.last?.line ?? 0
        switch trace.ending {
        case .none:
            return
        case .assertion(let text):
            throw ReplayFailure(
                kind: .modelOnly, line: line,
                message: "the model violates \(text) here; the real pool, after the same steps, does not")
        case .deadlock, .cycle:
            let stuck = waiting.sorted()
            if stuck.isEmpty {
                throw ReplayFailure(
                    kind: .modelOnly, line: line,
                    message: "the model gets stuck here (\(trace.ending)); the real pool has no waiter left")
            }
            throw ReplayFailure(
                kind: .bugReproduced, line: line,
                message: "clients \(stuck) still wait in the real pool where the model never serves them (\(trace.ending))")
        }
    }
}
