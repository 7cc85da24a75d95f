import AzureEventHubs
import Dispatch
import ToolboxCore
import XCTest

/// A user's stub of the producer role: records what was sent, fails when told to. This is the shape
/// docs/testing.md shows.
final class RecordingProducer: EventHubProducing, @unchecked Sendable {
    // @unchecked Sendable: `state` is a LockedValue; the rest is immutable.
    let eventHubName = "orders"
    private let state = LockedValue<(sent: [[EventData]], failure: ToolboxError?, closed: Bool)>(([], nil, false))

    var sent: [[EventData]] { state.load().sent }
    func failNextSends(with error: ToolboxError?) { state.withLockedValue { $0.failure = error } }

    func send(_ events: [EventData], options: SendEventOptions, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        let result: Result<Void, ToolboxError> = state.withLockedValue { state in
            if state.closed { return .failure(ToolboxError(.clientClosed, "closed")) }
            if let failure = state.failure { return .failure(failure) }
            state.sent.append(events)
            return .success(())
        }
        queue.async { completion(result) }
        return CompletedOperation()
    }

    func send(_ batch: EventDataBatch, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        queue.async { completion(.failure(ToolboxError(.invalidArgument, "batches are not stubbed"))) }
        return CompletedOperation()
    }

    func createBatch(options: SendEventOptions, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<EventDataBatch, ToolboxError>) -> Void) -> any Cancellable {
        queue.async { completion(.success(EventDataBatch(maxSizeInBytes: 1024, options: options))) }
        return CompletedOperation()
    }

    func eventHubProperties(queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<EventHubProperties, ToolboxError>) -> Void)
        -> any Cancellable {
        queue.async { completion(.success(EventHubProperties(name: "orders", createdAt: nil, partitionIDs: ["0", "1"]))) }
        return CompletedOperation()
    }

    func partitionProperties(partitionID: String, queue: DispatchQueue,
                             completion: @escaping @Sendable (Result<PartitionProperties, ToolboxError>) -> Void)
        -> any Cancellable {
        queue.async { completion(.failure(ToolboxError(.notFound, "no partition \(partitionID)"))) }
        return CompletedOperation()
    }

    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        state.withLockedValue { $0.closed = true }
        queue.async(execute: completion)
    }
}

/// Code under test that depends on the role, not on a concrete producer.
private struct OrderEvents {
    let producer: any EventHubProducing
    func placed(_ id: String) throws { try producer.send(EventData(body: "placed \(id)"), options: SendEventOptions(partitionKey: id)) }
}

final class ProducerStubTests: XCTestCase {
    func testCodeWrittenAgainstTheRoleRunsOnAStubInAllForms() throws {
        let stub = RecordingProducer()
        try OrderEvents(producer: stub).placed("42")
        XCTAssertEqual(stub.sent.count, 1)
        XCTAssertEqual(stub.sent.first?.first?.bodyAsString, "placed 42")
        XCTAssertEqual(try stub.partitionIDs(), ["0", "1"], "extension forms are built on the stub's requirements")

        stub.failNextSends(with: ToolboxError(.serverBusy, "throttled"))
        XCTAssertThrowsError(try OrderEvents(producer: stub).placed("43")) { error in
            XCTAssertEqual(error as? ToolboxError, ToolboxError(.serverBusy, "throttled"))
        }

        let delivered = expectation(description: "completion form")
        let queue = DispatchQueue(label: "caller")
        stub.send(EventData(body: "x"), queue: queue) { result in
            dispatchPrecondition(condition: .onQueue(queue))
            XCTAssertEqual(result.failureCode, .serverBusy)
            delivered.fulfill()
        }
        wait(for: [delivered], timeout: 10)

        try stub.close()
        XCTAssertThrowsError(try stub.send(EventData(body: "late"))) { XCTAssertEqual(($0 as? ToolboxError)?.code, .clientClosed) }
    }

    func testTheBlockingFormRefusesToWaitOnALibraryQueue() {
        let stub = RecordingProducer()
        let refused = expectation(description: "refused")
        let onLibraryQueue: @Sendable () -> Void = {
            let code: ToolboxError.Code?
            do {
                try stub.send(EventData(body: "x"))
                code = nil
            } catch {
                code = (error as? ToolboxError)?.code
            }
            XCTAssertEqual(code, .blockingCallOnLibraryQueue)
            refused.fulfill()
        }
        LibraryQueues.makeQueue(label: "library").async(execute: onLibraryQueue)
        wait(for: [refused], timeout: 10)
        XCTAssertTrue(stub.sent.isEmpty)
    }
}

private extension Result {
    var failureCode: ToolboxError.Code? {
        if case .failure(let error as ToolboxError) = self { return error.code }
        return nil
    }
}

/// A user's stub of the partition-receiver role: hands out the events it was given, `maxEvents` at a time.
final class ScriptedReceiver: EventHubPartitionReceiving, @unchecked Sendable {
    // @unchecked Sendable: `state` is a LockedValue; the rest is immutable.
    let eventHubName = "orders"
    let consumerGroup = "$Default"
    let partitionID = "0"
    private let state: LockedValue<(pending: [ReceivedEventData], closed: Bool)>

    init(_ bodies: [String]) {
        state = LockedValue((bodies.enumerated().map { index, body in
            ReceivedEventData(event: EventData(body: body), sequenceNumber: Int64(index), offset: String(index * 100))
        }, false))
    }

    func receive(maxEvents: Int, timeout: Duration, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<[ReceivedEventData], ToolboxError>) -> Void) -> any Cancellable {
        let result: Result<[ReceivedEventData], ToolboxError> = state.withLockedValue { state in
            if state.closed { return .failure(ToolboxError(.clientClosed, "closed")) }
            let batch = Array(state.pending.prefix(max(1, maxEvents)))
            state.pending.removeFirst(batch.count)
            return .success(batch)
        }
        queue.async { completion(result) }
        return CompletedOperation()
    }

    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        state.withLockedValue { $0.closed = true }
        queue.async(execute: completion)
    }
}

final class ReceiverStubTests: XCTestCase {
    /// Code written against `any EventHubPartitionReceiving` runs on a stub in the blocking and completion forms.
    func testCodeWrittenAgainstTheReceiverRoleRunsOnAStub() throws {
        let receiver: any EventHubPartitionReceiving = ScriptedReceiver(["a", "b", "c"])
        XCTAssertEqual(try receiver.receive(maxEvents: 2, timeout: .seconds(1)).map(\.event.bodyAsString), ["a", "b"])
        let rest = expectation(description: "completion form")
        receiver.receive(maxEvents: 10, timeout: .seconds(1)) { result in
            XCTAssertEqual((try? result.get())?.map(\.sequenceNumber), [2])
            rest.fulfill()
        }
        wait(for: [rest], timeout: 10)
        try receiver.close()
        XCTAssertThrowsError(try receiver.receive(maxEvents: 1, timeout: .seconds(1))) {
            XCTAssertEqual(($0 as? ToolboxError)?.code, .clientClosed)
        }
    }
}
