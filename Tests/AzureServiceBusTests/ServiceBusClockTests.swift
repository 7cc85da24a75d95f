import AzureClientsToolboxTesting
import AzureEmulator
import Dispatch
import Foundation
import MessagingFaultSupport
import ToolboxCore
import XCTest

@testable import AzureServiceBus

/// The receiver's time-outs run on `options.clock`: with a `ManualClock`, a 30 s receive ends when the test moves
/// time, not after 30 s; and a cancelled receiver operation answers `.cancelled` once.
final class ServiceBusClockTests: XCTestCase {
    /// An emulator whose q1 holds one message with `body`, and a receiver on q1 whose time runs on a `ManualClock`;
    /// both closed when the test ends.
    private func receiverOnAManualClock(afterSending body: String) throws -> (ServiceBusReceiver, ManualClock) {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        try sender.send(ServiceBusMessage(body: body))
        try sender.close()
        let clock = ManualClock()
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", options: fastOptions { $0.clock = clock })
        addTeardownBlock { try? receiver.close() }
        return (receiver, clock)
    }

    /// Moves `clock` past the batch window, waits for the call, checks it delivered just the message `body` and
    /// completes that message.
    private func passTheWindow(_ clock: ManualClock, then done: XCTestExpectation,
                               delivered result: LockedValue<Result<[ServiceBusReceivedMessage], ToolboxError>?>,
                               only body: String, to receiver: ServiceBusReceiver) throws {
        clock.advance(by: ServiceBusReceiver.receiveBatchWindow)
        wait(for: [done], timeout: 10)
        let messages = try XCTUnwrap(result.load()).get()
        XCTAssertEqual(messages.map(\.message.bodyAsString), [body])
        try receiver.complete(messages[0])
    }

    /// Starts `receive(maxMessages: 5, timeout:)`: its result once it completes, and the expectation it fulfils.
    private func receiveFive(_ receiver: ServiceBusReceiver, timeout: Duration)
        -> (LockedValue<Result<[ServiceBusReceivedMessage], ToolboxError>?>, XCTestExpectation)
    {
        let result = LockedValue<Result<[ServiceBusReceivedMessage], ToolboxError>?>(nil)
        let done = expectation(description: "receive completed")
        receiver.receive(maxMessages: 5, timeout: timeout) { outcome in
            result.withLockedValue { $0 = outcome }
            done.fulfill()
        }
        return (result, done)
    }

    /// The time-out bounds the wait for the first message; once it is there, the call returns what arrived within
    /// `receiveBatchWindow` (200 ms) more, as azure-servicebus does. Waiting the whole time-out to fill the batch
    /// held the message's lock: a 35 s receive of 2 with one message lost its 30 s lock and failed to complete it.
    func testAReceiveReturnsWhatArrivedOnceTheBatchWindowPasses() throws {
        let (receiver, clock) = try receiverOnAManualClock(afterSending: "only one")
        XCTAssertEqual(receiver.entityPath, "q1")
        let (result, done) = receiveFive(receiver, timeout: .seconds(30))
        XCTAssertTrue(FaultScenario.eventually { receiver.prefetchedCount == 1 }, "the one message arrived")
        XCTAssertNil(result.load(), "the window has not passed: still waiting for more")
        try passTheWindow(clock, then: done, delivered: result, only: "only one", to: receiver)
    }

    /// A call cancelled with the buffered message leaves it to the next call, whose window starts at once: it
    /// waited for its whole time-out (or another message), holding the message's lock.
    func testTheNextCallGetsTheWindowWhenTheFirstIsCancelled() throws {
        let (receiver, clock) = try receiverOnAManualClock(afterSending: "handed on")
        let first = receiver.receive(maxMessages: 5, timeout: .seconds(30)) { _ in }
        XCTAssertTrue(FaultScenario.eventually { receiver.prefetchedCount == 1 }, "the message arrived")
        let (result, done) = receiveFive(receiver, timeout: .seconds(30))
        first.cancel()
        try passTheWindow(clock, then: done, delivered: result, only: "handed on", to: receiver)
    }

    /// With nothing to receive, the call ends when the manual clock reaches its time-out, not before.
    func testAReceiveTimesOutWhenTheManualClockSaysSo() throws {
        let emulator = try startServiceBusEmulator(self)
        let clock = ManualClock()
        let receiver = try ServiceBusReceiver(connectionString: emulator.serviceBusConnectionString, queueName: "empty",
                                              options: fastOptions { $0.clock = clock })
        defer { try? receiver.close() }
        let (result, done) = receiveFive(receiver, timeout: .seconds(30))
        XCTAssertTrue(FaultScenario.eventually { receiver.connectionsOpened == 1 }, "the link is up")
        clock.advance(by: .seconds(29))
        XCTAssertNil(result.load(), "the time-out is not reached: still waiting")
        clock.advance(by: .seconds(1))
        wait(for: [done], timeout: 10)
        XCTAssertEqual(try XCTUnwrap(result.load()).get().count, 0)
    }

    func testACancelledPeekAnswersCancelledOnceAndTheLateAnswerIsDropped() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "m"))
        let receiver: any ServiceBusReceiving = try ServiceBusReceiver(connectionString: cs, queueName: "q1",
                                                                     options: fastOptions())
        defer { try? receiver.close() }
        let message = try XCTUnwrap(try receiver.receive(maxMessages: 1, timeout: .seconds(10)).first)
        let calls = LockedValue<[ToolboxError.Code?]>([])
        let done = expectation(description: "answered")
        // A suspended serial callback queue holds back the peek's answer, whatever the network does, so the cancel
        // decides the outcome deterministically.
        let callbacks = DispatchQueue(label: "test.callbacks")
        callbacks.suspend()
        let handle = receiver.peek(maxMessages: 1, fromSequenceNumber: nil, queue: callbacks) { result in
            if case .failure(let error) = result { calls.withLockedValue { $0.append(error.code) } }
            else { calls.withLockedValue { $0.append(nil) } }
            done.fulfill()
        }
        handle.cancel()
        handle.cancel()
        callbacks.resume()
        wait(for: [done], timeout: 10)
        // A second peek on the same link answers after the first one's answer was handed to `callbacks`; draining
        // `callbacks` then shows the late answer was dropped.
        XCTAssertEqual(try receiver.peek(maxMessages: 1, fromSequenceNumber: message.sequenceNumber).count, 1)
        callbacks.sync {}
        XCTAssertEqual(calls.load(), [.cancelled])
        try receiver.complete(message)
    }
}
