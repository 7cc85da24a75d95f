import Dispatch
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import ToolboxAMQP
import ToolboxAMQPBroker

/// A client connection over a connected socket (`AMQPSocketTransport.connect`, the form `MessagingConnection`
/// uses): it runs on the socket's queue and writes with `TCPConnection.writeNow` in the turn that framed the bytes.
final class ConnectedSocketSendTests: XCTestCase {
    /// A client connection sharing its socket's queue (the form `MessagingConnection` uses), against our broker.
    func connect(port: UInt16, tls: TLSContext? = nil, maxFrameSize: UInt32 = 65536) throws -> (AMQPConnection, AMQPSession) {
        let transport: AMQPSocketTransport = try Blocking.wait { queue, done in
            AMQPSocketTransport.connect(host: tls == nil ? "127.0.0.1" : "localhost", port: port, tls: tls,
                                        deadline: .after(seconds: 10), queue: queue) { done($0.mapError { $0 }) }
        }
        XCTAssertNotNil(transport.preferredQueue)
        let connection = AMQPConnection(transport: transport,
                                        configuration: AMQPConnectionConfiguration(maxFrameSize: maxFrameSize, idleTimeout: nil),
                                        logger: testLogger())
        try connection.open()
        XCTAssertTrue(connection.queue === transport.preferredQueue)
        return (connection, try connection.beginSession())
    }

    func listen(_ broker: MiniBroker, tls: TLSContext? = nil) throws -> AMQPListener {
        try AMQPListener(tls: tls, server: broker.configuration(), configuration: AMQPConnectionConfiguration(idleTimeout: nil)) { _ in }
    }

    /// Reads `count` messages back from `address` (the broker keeps them while nobody receives).
    func drain(_ session: AMQPSession, address: String, count: Int) throws -> [AMQPMessage] {
        let inbox = Inbox()
        _ = try session.attachReceiver(address: address) { delivery in
            delivery.accept()
            inbox.add(delivery)
        }
        inbox.wait(for: count)
        return inbox.items.load().map(\.message)
    }

    /// 8 threads sending at once, blocking and with completions: every send is settled exactly once and each
    /// thread's messages arrive in the order it sent them.
    func testSendsFromEightThreadsAtOnceAllArriveInOrderAndCompleteOnce() throws {
        let broker = MiniBroker()
        let listener = try listen(broker)
        defer { listener.close() }
        let (connection, session) = try connect(port: listener.port)
        defer { try? connection.close() }
        let sender = try session.attachSender(address: "q")
        let perThread = 100
        let outcomes = LockedValue([Int: Int]())
        let done = DispatchGroup()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<perThread {
                let key = thread * perThread + index
                let message = AMQPMessage(data: [UInt8(thread), UInt8(index)])
                if index % 2 == 0 {
                    do {
                        let outcome = try sender.send(message)
                        XCTAssertEqual(outcome, .accepted)
                    } catch {
                        XCTFail("\(error)")
                    }
                    outcomes.withLockedValue { $0[key, default: 0] += 1 }
                } else {
                    done.enter()
                    sender.send(message) { result in
                        XCTAssertEqual(try? result.get(), .accepted)
                        outcomes.withLockedValue { $0[key, default: 0] += 1 }
                        done.leave()
                    }
                }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(outcomes.load().count, 8 * perThread)
        XCTAssertTrue(outcomes.load().values.allSatisfy { $0 == 1 }, "a completion ran more than once")
        let messages = try drain(session, address: "q", count: 8 * perThread)
        XCTAssertEqual(messages.count, 8 * perThread)
        for thread in 0..<8 {
            let indices = messages.compactMap { $0.dataBody }.filter { $0.first == UInt8(thread) }.map { Int($0[1]) }
            XCTAssertEqual(indices, Array(0..<perThread), "thread \(thread)'s messages arrived out of order")
        }
    }

    /// Sends started from completion handlers, from the connection's own queue and from another library queue
    /// all complete.
    func testSendsFromCompletionHandlersAndFromTheConnectionQueue() throws {
        let broker = MiniBroker()
        let listener = try listen(broker)
        defer { listener.close() }
        let (connection, session) = try connect(port: listener.port)
        defer { try? connection.close() }
        let sender = try session.attachSender(address: "q")
        let chainDone = expectation(description: "chain")
        @Sendable func chain(_ remaining: Int) {
            guard remaining > 0 else { return chainDone.fulfill() }
            sender.send(AMQPMessage(data: [UInt8(remaining)])) { result in
                XCTAssertEqual(try? result.get(), .accepted)
                chain(remaining - 1)
            }
        }
        LibraryQueues.defaultCallbackQueue.async { chain(50) }
        wait(for: [chainDone], timeout: 30)

        let fromQueue = expectation(description: "from the connection queue")
        connection.queue.async {
            sender.send(AMQPMessage(data: [0])) { result in
                XCTAssertEqual(try? result.get(), .accepted)
                fromQueue.fulfill()
            }
        }
        wait(for: [fromQueue], timeout: 10)

        // From another library queue.
        let fromLibraryQueue = expectation(description: "from a library queue")
        LibraryQueues.makeQueue(label: "test.library").async {
            sender.send(AMQPMessage(data: [1])) { result in
                XCTAssertEqual(try? result.get(), .accepted)
                fromLibraryQueue.fulfill()
            }
        }
        wait(for: [fromLibraryQueue], timeout: 10)
        XCTAssertEqual(try drain(session, address: "q", count: 52).count, 52)
    }

    /// A message larger than the socket's send buffer: `writeNow` takes what the socket takes, the rest goes out
    /// from the write source, and the message arrives intact (plain TCP and TLS).
    func testMessageLargerThanTheSocketBuffersArrivesIntact() throws {
        let (cert, key) = try makeCertificate()
        let serverTLS = try TLSContext(server: TLSServerConfiguration(certificateChainFile: cert, privateKeyFile: key))
        let clientTLS = try TLSContext(client: TLSClientConfiguration(trustRoots: .file(cert)))
        for tls in [false, true] {
            let broker = MiniBroker()
            let listener = try listen(broker, tls: tls ? serverTLS : nil)
            defer { listener.close() }
            let (connection, session) = try connect(port: listener.port, tls: tls ? clientTLS : nil)
            defer { try? connection.close() }
            let sender = try session.attachSender(address: "big")
            let body = (0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 3) }
            XCTAssertEqual(try sender.send(AMQPMessage(data: body), timeout: .seconds(60)), .accepted, "tls: \(tls)")
            XCTAssertEqual(try sender.send(AMQPMessage(data: [7])), .accepted)
            let messages = try drain(session, address: "big", count: 2)
            XCTAssertEqual(messages.count, 2)
            XCTAssertTrue(messages.first?.dataBody == body, "tls: \(tls): the large message arrived altered")
            XCTAssertEqual(messages.last?.dataBody, [7])
        }
    }
}
