import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

/// A transport that records every byte its connection receives (to check what the peer sent).
final class RecordingTransport: AMQPTransport, @unchecked Sendable {
    // @unchecked Sendable: `inner` is only used on the owning connection's queue; `received` has its own lock.
    let inner: any AMQPTransport
    let received = LockedValue<[UInt8]>([])

    init(_ inner: any AMQPTransport) { self.inner = inner }

    func start(queue: DispatchQueue, handler: @escaping (AMQPTransportEvent) -> Void) {
        let received = self.received
        inner.start(queue: queue) { event in
            if case .received(let bytes) = event { received.withLockedValue { $0 += bytes } }
            handler(event)
        }
    }

    func write(_ bytes: [UInt8]) { inner.write(bytes) }
    func close() { inner.close() }
}

/// The send hot path: ranged dispositions both ways, sends from every kind of thread, inline completions.
final class HotPathTests: XCTestCase {
    func openClient(_ broker: TestBroker) throws -> (AMQPConnection, AMQPSender) {
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: .init(idleTimeout: nil), logger: testLogger())
        try connection.open()
        let session = try connection.beginSession()
        return (connection, try session.attachSender(address: "q1"))
    }

    func testARangedDispositionSettlesEveryDeliveryInItExactlyOnce() throws {
        let broker = TestBroker()
        broker.holdDispositions = true
        let (connection, sender) = try openClient(broker)
        defer { try? connection.close() }
        let outcomes = LockedValue<[Int: [AMQPDeliveryState?]]>([:])
        let done = DispatchGroup()
        for index in 0..<10 {
            done.enter()
            sender.send(AMQPMessage(data: [UInt8(index)])) { result in
                outcomes.withLockedValue { $0[index, default: []].append(try? result.get()) }
                done.leave()
            }
        }
        let deadline = Deadline.after(seconds: 10)
        while broker.sync({ $0.heldDispositionIDs.count }) < 10, !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        let ids = broker.sync { $0.heldDispositionIDs }
        XCTAssertEqual(ids.count, 10)
        guard let first = ids.min(), let last = ids.max() else { return }
        // One disposition for the first seven, then one for the rest; the range also covers nothing unknown.
        broker.sync { $0.sendRangedDisposition(first: first, last: first + 6) }
        broker.sync { $0.sendRangedDisposition(first: first + 7, last: last + 5, state: .rejected(nil)) }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        let settled = outcomes.load()
        XCTAssertEqual(settled.count, 10)
        XCTAssertTrue(settled.values.allSatisfy { $0.count == 1 }, "each completion ran once: \(settled)")
        XCTAssertEqual(settled.values.filter { $0 == [.accepted] }.count, 7)
        XCTAssertEqual(settled.values.filter { $0 == [.rejected(nil)] }.count, 3)
    }

    /// Our broker role with an inline handler (`messageQueue: nil`) settles in the turn that read the transfer and
    /// merges consecutive dispositions; whatever ranges it sends, each delivery is settled exactly once.
    func testInlineBrokerRangesCoverEachDeliveryOnce() throws {
        let stored = LockedValue(0)
        let server = AMQPServerConfiguration(mechanisms: ["ANONYMOUS"], authenticate: { _, _, _ in true },
                                             linkAttached: { _, attach in
            attach.role == .sender
                ? .receive(options: AMQPReceiverOptions(credit: .auto(prefetch: 300)), messageQueue: nil,
                           onMessage: { delivery in
                               dispatchPrecondition(condition: .notOnQueue(LibraryQueues.defaultCallbackQueue))
                               stored.withLockedValue { $0 += 1 }
                               delivery.accept()
                           }, ready: { _ in })
                : .refuse(AMQPRemoteError(condition: AMQPRemoteError.notAllowed))
        })
        let (clientEnd, serverEnd) = PipeEnd.pair()
        let serverConnection = AMQPConnection(acceptedTransport: serverEnd, server: server, configuration: .init(idleTimeout: nil))
        serverConnection.open { _ in }
        let recorder = RecordingTransport(clientEnd)
        let client = AMQPConnection(transport: recorder, configuration: .init(idleTimeout: nil), logger: testLogger())
        try client.open()
        defer { try? client.close() }
        let sender = try client.beginSession().attachSender(address: "q1")
        let count = 500
        let calls = LockedValue(0)
        let done = DispatchGroup()
        for index in 0..<count {
            done.enter()
            sender.send(AMQPMessage(data: [UInt8(index % 256)])) { result in
                XCTAssertEqual(try? result.get(), .accepted)
                calls.withLockedValue { $0 += 1 }
                done.leave()
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(calls.load(), count)
        XCTAssertEqual(stored.load(), count)

        // Every delivery id appears in exactly one disposition the broker sent.
        var parser = AMQPFrameParser(maxFrameSize: 1 << 20)
        parser.append(recorder.received.load())
        XCTAssertEqual(try parser.nextProtocolHeader(), .sasl)
        _ = try parser.nextFrame()  // sasl-mechanisms
        _ = try parser.nextFrame()  // sasl-outcome
        XCTAssertEqual(try parser.nextProtocolHeader(), .amqp)
        var covered: [UInt32: Int] = [:]
        var dispositions = 0
        while let frame = try parser.nextFrame() {
            guard case .amqp(_, .disposition(let disposition), _) = frame else { continue }
            dispositions += 1
            XCTAssertEqual(disposition.role, .receiver)
            XCTAssertTrue(disposition.settled)
            for id in disposition.first...(disposition.last ?? disposition.first) { covered[id, default: 0] += 1 }
        }
        XCTAssertEqual(covered.count, count)
        XCTAssertTrue(covered.values.allSatisfy { $0 == 1 }, "a delivery was settled twice")
        XCTAssertLessThanOrEqual(dispositions, count)
    }

    func testSendsFromManyThreadsWhileTheQueueIsBusyAllComplete() throws {
        let broker = TestBroker()
        let (connection, sender) = try openClient(broker)
        defer { try? connection.close() }
        let perThread = 100
        let calls = LockedValue(0)
        let done = DispatchGroup()
        // Keep the connection queue busy while the sends arrive.
        connection.queue.async { Thread.sleep(forTimeInterval: 0.05) }
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<perThread {
                done.enter()
                sender.send(AMQPMessage(data: [UInt8(thread), UInt8(index)])) { result in
                    XCTAssertEqual(try? result.get(), .accepted)
                    calls.withLockedValue { $0 += 1 }
                    done.leave()
                }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(calls.load(), 8 * perThread)
        XCTAssertEqual(broker.sync { $0.queues["q1"]?.count }, 8 * perThread)
    }

    func testSendFromACompletionHandlerAndFromTheConnectionQueue() throws {
        let broker = TestBroker()
        let (connection, sender) = try openClient(broker)
        defer { try? connection.close() }
        let done = expectation(description: "chain")
        let callbackQueue = DispatchQueue(label: "caller")
        // A chain of sends, each started from the previous one's completion handler.
        @Sendable func chain(_ remaining: Int) {
            guard remaining > 0 else { return done.fulfill() }
            sender.send(AMQPMessage(data: [UInt8(remaining)]), queue: callbackQueue) { result in
                dispatchPrecondition(condition: .onQueue(callbackQueue))
                XCTAssertEqual(try? result.get(), .accepted)
                chain(remaining - 1)
            }
        }
        chain(20)
        wait(for: [done], timeout: 30)
        // From the connection's own queue: queued behind the current turn, never run re-entrantly.
        let fromQueue = expectation(description: "from the connection queue")
        connection.queue.async {
            sender.send(AMQPMessage(data: [1])) { result in
                XCTAssertEqual(try? result.get(), .accepted)
                fromQueue.fulfill()
            }
        }
        wait(for: [fromQueue], timeout: 10)
        XCTAssertEqual(broker.sync { $0.queues["q1"]?.count }, 21)
    }

    func testBlockingSendCompletesInlineAndRefusesTheConnectionQueue() throws {
        let broker = TestBroker()
        let (connection, sender) = try openClient(broker)
        defer { try? connection.close() }
        for index in 0..<50 { XCTAssertEqual(try sender.send(AMQPMessage(data: [UInt8(index)])), .accepted) }
        let refused = expectation(description: "refused")
        connection.queue.async {
            do {
                _ = try sender.send(AMQPMessage(data: [0]))
                XCTFail("a blocking send on the connection queue must throw")
            } catch {
                XCTAssertEqual((error as? CoreError)?.code, .blockingCallOnLibraryQueue)
            }
            refused.fulfill()
        }
        wait(for: [refused], timeout: 10)
    }
}
