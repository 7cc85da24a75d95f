import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

/// A deterministic PRNG so failures reproduce (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class HostilePeerTests: XCTestCase {
    /// Frames a broker would plausibly send to an attached receiver and sender, to be mutated.
    func plausibleFrames() -> [UInt8] {
        var frames: [AMQPFrame] = []
        var flow = AMQPFlow(nextIncomingID: 0, incomingWindow: 10, nextOutgoingID: 0, outgoingWindow: 10)
        flow.handle = 100
        flow.deliveryCount = 0
        flow.linkCredit = 5
        frames.append(.amqp(0, .flow(flow)))
        var transfer = AMQPTransfer(handle: 101)
        transfer.deliveryID = 0
        transfer.deliveryTag = [1]
        transfer.more = true
        frames.append(.amqp(channel: 0, performative: .transfer(transfer), payload: Array(AMQPMessage(data: [1, 2, 3]).encode().prefix(4))))
        transfer.more = false
        frames.append(.amqp(channel: 0, performative: .transfer(transfer), payload: Array(AMQPMessage(data: [1, 2, 3]).encode().dropFirst(4))))
        frames.append(.amqp(0, .disposition(AMQPDisposition(role: .receiver, first: 0, last: 4_000_000_000, settled: true, state: .accepted))))
        frames.append(.amqp(0, .detach(AMQPDetach(handle: 100, closed: true, error: AMQPRemoteError(condition: "x")))))
        frames.append(.heartbeat)
        frames.append(.amqp(0, .end(nil)))
        return frames.flatMap { $0.encode() }
    }

    /// Mutated frame streams after a successful open must end in a typed error or leave the connection
    /// usable; never a crash, hang or unbounded allocation.
    func testMutatedFrameStreamsNeverCrashTheClient() throws {
        var random = SeededGenerator(state: 0xA3C9_5E11)
        let base = plausibleFrames()
        for iteration in 0..<300 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[index] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
                case 1: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: index)
                default: if bytes.count > 1 { bytes.remove(at: index) }
                }
            }
            let broker = TestBroker()
            let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                            configuration: AMQPConnectionConfiguration(idleTimeout: nil))
            try connection.open()
            let session = try connection.beginSession()
            session.attachReceiver(address: "q", onMessage: { $0.accept() }) { _ in }
            session.attachSender(address: "q") { result in
                if case .success(let sender) = result { sender.send(AMQPMessage(data: [9])) { _ in } }
            }
            broker.sync { $0.sendRaw(bytes) }
            // Whatever happened, the connection must still answer on its queue and close cleanly or report why.
            let done = expectation(description: "closed \(iteration)")
            connection.close(timeout: .seconds(0.3)) { _ in done.fulfill() }
            wait(for: [done], timeout: 10)
        }
    }

    /// The broker role gets the same treatment: mutated client handshakes and frame streams.
    func testMutatedClientStreamsNeverCrashTheBrokerRole() throws {
        var random = SeededGenerator(state: 0x5EED_0002)
        var stream = AMQPProtocolHeader.sasl.bytes
        stream += AMQPFrame.sasl(.initialize(mechanism: "PLAIN", initialResponse: [0, 117, 0, 112, 119], hostname: "h")).encode()
        stream += AMQPProtocolHeader.amqp.bytes
        stream += AMQPFrame.amqp(0, .open(AMQPOpen(containerID: "c"))).encode()
        stream += AMQPFrame.amqp(0, .begin(AMQPBegin(remoteChannel: nil, nextOutgoingID: 0, incomingWindow: 5, outgoingWindow: 5))).encode()
        var attach = AMQPAttach(name: "l", handle: 0, role: .sender, source: AMQPSource(address: "s"), target: AMQPTarget(address: "q"))
        attach.initialDeliveryCount = 0
        stream += AMQPFrame.amqp(0, .attach(attach)).encode()
        var transfer = AMQPTransfer(handle: 0)
        transfer.deliveryID = 0
        transfer.deliveryTag = [0]
        stream += AMQPFrame.amqp(channel: 0, performative: .transfer(transfer), payload: AMQPMessage(data: [1]).encode()).encode()
        let broker = MiniBroker()
        for iteration in 0..<300 {
            var bytes = stream
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                bytes[index] = UInt8.random(in: 0...255, using: &random)
            }
            let (clientEnd, serverEnd) = PipeEnd.pair()
            let server = AMQPConnection(acceptedTransport: serverEnd, server: broker.configuration(password: "pw"),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil, openTimeout: .seconds(1)))
            server.open { _ in }
            let clientQueue = DispatchQueue(label: "hostile-client")
            clientQueue.sync {
                clientEnd.start(queue: clientQueue) { _ in }
                clientEnd.write(bytes)
            }
            let done = expectation(description: "server settled \(iteration)")
            server.close(timeout: .seconds(0.3)) { _ in done.fulfill() }
            wait(for: [done], timeout: 10)
        }
    }

    /// Issue 13 item 9: before the peer's open has arrived, frames are limited to 512 bytes (MIN-MAX-FRAME-SIZE,
    /// AMQP 1.0 §2.4.1), not to our max-frame-size: a client's first frame cannot make the broker buffer 64 KiB.
    /// After the open, large frames are fine.
    func testFramesBeforeOpenAreLimitedTo512Bytes() throws {
        func openOutcome(containerID: String, thenLargeBegin: Bool) -> Result<Void, AMQPError>? {
            let broker = MiniBroker()
            let (clientEnd, serverEnd) = PipeEnd.pair()
            let server = AMQPConnection(acceptedTransport: serverEnd, server: broker.configuration(password: "pw"),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil, openTimeout: .seconds(5)))
            let outcome = LockedValue<Result<Void, AMQPError>?>(nil)
            let opened = expectation(description: "server open")
            server.open { result in
                outcome.withLockedValue { $0 = result }
                opened.fulfill()
            }
            var stream = AMQPProtocolHeader.amqp.bytes + AMQPFrame.amqp(0, .open(AMQPOpen(containerID: containerID))).encode()
            if thenLargeBegin {
                var begin = AMQPBegin(remoteChannel: nil, nextOutgoingID: 0, incomingWindow: 5, outgoingWindow: 5)
                begin.properties = ["padding": .string(String(repeating: "p", count: 4000))]
                stream += AMQPFrame.amqp(0, .begin(begin)).encode()
            }
            let clientQueue = DispatchQueue(label: "pre-open-client")
            clientQueue.sync {
                clientEnd.start(queue: clientQueue) { _ in }
                clientEnd.write(stream)
            }
            wait(for: [opened], timeout: 10)
            let closed = expectation(description: "closed")
            server.close(timeout: .seconds(0.3)) { _ in closed.fulfill() }
            wait(for: [closed], timeout: 10)
            return outcome.load()
        }
        guard case .failure(let error)? = openOutcome(containerID: String(repeating: "c", count: 1000),
                                                      thenLargeBegin: false) else {
            return XCTFail("a 1 KB open was accepted before any open was exchanged")
        }
        XCTAssertTrue("\(error)".contains("512"), "\(error)")
        guard case .success? = openOutcome(containerID: "small", thenLargeBegin: true) else {
            return XCTFail("a small open followed by a 4 KB begin failed")
        }
    }
}
