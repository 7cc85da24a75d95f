import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

/// One end of an in-memory byte stream between two `AMQPConnection`s.
final class PipeEnd: AMQPTransport, @unchecked Sendable {
    // @unchecked Sendable: `queue`/`handler`/`closed` are set in `start` and afterwards touched only on `queue`
    // (the owning connection's queue); the peer only enqueues blocks onto that queue.
    weak var peer: PipeEnd?
    private var queue: DispatchQueue?
    private var handler: ((AMQPTransportEvent) -> Void)?
    private var closed = false
    private var early: [[UInt8]] = []
    private let lock = Lock()

    static func pair() -> (PipeEnd, PipeEnd) {
        let a = PipeEnd(), b = PipeEnd()
        a.peer = b
        b.peer = a
        return (a, b)
    }

    func start(queue: DispatchQueue, handler: @escaping (AMQPTransportEvent) -> Void) {
        let pending: [[UInt8]] = lock.withLock {
            self.queue = queue
            defer { early = [] }
            return early
        }
        self.handler = handler
        handler(.connected)
        for bytes in pending { handler(.received(bytes)) }
    }

    func write(_ bytes: [UInt8]) { if !closed { peer?.receive(bytes) } }

    /// Bytes from the peer; buffered until this end has started.
    private func receive(_ bytes: [UInt8]) {
        let target: DispatchQueue? = lock.withLock {
            if queue == nil { early.append(bytes) }
            return queue
        }
        target?.async { if !self.closed { self.handler?(.received(bytes)) } }
    }

    func close() {
        guard !closed else { return }
        closed = true
        let handler = self.handler
        self.handler = nil
        handler?(.closed(nil))
        peer?.peerClosed()
    }

    private func peerClosed() {
        let target: DispatchQueue? = lock.withLock { queue }
        target?.async {
            guard !self.closed else { return }
            self.closed = true
            let handler = self.handler
            self.handler = nil
            handler?(.closed(nil))
        }
    }
}

/// A minimal broker built only from the library's public broker-role API: queues per address.
final class MiniBroker: @unchecked Sendable {
    // @unchecked Sendable: `queues` and `waiting` are guarded by `lock`.
    private let lock = Lock()
    private var queues: [String: [AMQPMessage]] = [:]
    private var senders: [String: [AMQPSender]] = [:]
    let received = LockedValue<[String]>([])

    func configuration(password: String = "pw") -> AMQPServerConfiguration {
        AMQPServerConfiguration(
            mechanisms: ["PLAIN", "ANONYMOUS"],
            authenticate: { mechanism, response, _ in
                mechanism == "ANONYMOUS" || AMQPServerConfiguration.plainCredentials(response)?.password == password
            },
            linkAttached: { [weak self] _, attach in
                guard let self else { return .refuse(AMQPRemoteError(condition: AMQPRemoteError.internalError)) }
                if attach.role == .sender {
                    let address = attach.target?.address ?? ""
                    if address == "forbidden" {
                        return .refuse(AMQPRemoteError(condition: AMQPRemoteError.unauthorizedAccess, description: "no"))
                    }
                    return .receive(options: AMQPReceiverOptions(credit: .auto(prefetch: 10)),
                                    messageQueue: LibraryQueues.makeQueue(label: "MiniBroker.in"),
                                    onMessage: { delivery in
                                        self.store(delivery.message, at: address)
                                        if delivery.message.applicationProperties?["reject"] == true {
                                            delivery.reject(AMQPRemoteError(condition: "test:rejected", description: "as asked"))
                                        } else {
                                            delivery.accept()
                                        }
                                    }, ready: { _ in })
                }
                let address = attach.source?.address ?? ""
                return .send(ready: { sender in self.addSender(sender, for: address) })
            })
    }

    private func store(_ message: AMQPMessage, at address: String) {
        received.withLockedValue { $0.append(address) }
        let sender: AMQPSender? = lock.withLock {
            if let first = senders[address]?.first { return first }
            queues[address, default: []].append(message)
            return nil
        }
        sender?.send(message) { _ in }
    }

    private func addSender(_ sender: AMQPSender, for address: String) {
        let backlog: [AMQPMessage] = lock.withLock {
            senders[address, default: []].append(sender)
            defer { queues[address] = [] }
            return queues[address] ?? []
        }
        for message in backlog { sender.send(message) { _ in } }
    }
}

final class ServerRoleTests: XCTestCase {
    func connectPair(broker: MiniBroker, client: AMQPConnectionConfiguration, server: AMQPConnectionConfiguration = .init(idleTimeout: nil))
        -> (AMQPConnection, AMQPConnection)
    {
        let (clientEnd, serverEnd) = PipeEnd.pair()
        let serverConnection = AMQPConnection(acceptedTransport: serverEnd, server: broker.configuration(), configuration: server)
        let clientConnection = AMQPConnection(transport: clientEnd, configuration: client, logger: testLogger())
        serverConnection.open { _ in }
        return (clientConnection, serverConnection)
    }

    func testClientAndBrokerRolesInteroperate() throws {
        let broker = MiniBroker()
        let (client, server) = connectPair(
            broker: broker, client: AMQPConnectionConfiguration(sasl: .plain(username: "u", password: Secret("pw")),
                                                                maxFrameSize: 512, idleTimeout: nil),
            server: AMQPConnectionConfiguration(containerID: "mini-broker", maxFrameSize: 1024, idleTimeout: nil))
        try client.open()
        let remote = expectation(description: "remote open")
        client.remoteOpen { open in
            XCTAssertEqual(open?.containerID, "mini-broker")
            XCTAssertEqual(open?.maxFrameSize, 1024)
            remote.fulfill()
        }
        wait(for: [remote], timeout: 10)
        let session = try client.beginSession()
        let sender = try session.attachSender(address: "q1")
        let big = [UInt8](repeating: 42, count: 20_000)  // crosses many 1 KiB frames to the broker, 512 B back
        XCTAssertEqual(try sender.send(AMQPMessage(data: big)), .accepted)
        var rejectMe = AMQPMessage(data: [1])
        rejectMe.applicationProperties = ["reject": true]
        XCTAssertEqual(try sender.send(rejectMe), .rejected(AMQPRemoteError(condition: "test:rejected", description: "as asked")))
        let inbox = Inbox()
        let receiver = try session.attachReceiver(address: "q1") { delivery in
            delivery.accept()
            inbox.add(delivery)
        }
        inbox.wait(for: 2)
        XCTAssertEqual(inbox.items.load().first?.message.dataBody, big)
        for index in 0..<200 { sender.send(AMQPMessage(data: [UInt8(index)])) { _ in } }
        inbox.wait(for: 200)
        try receiver.drain()
        try receiver.close()
        try sender.close()
        try session.end()
        try client.close()
        let closed = expectation(description: "server closed")
        server.onClose { error in
            XCTAssertNil(error)
            closed.fulfill()
        }
        wait(for: [closed], timeout: 10)
    }

    func testBrokerRefusesLinksAndBadCredentials() throws {
        let broker = MiniBroker()
        let (client, _) = connectPair(broker: broker, client: AMQPConnectionConfiguration(sasl: .anonymous, idleTimeout: nil))
        try client.open()
        let session = try client.beginSession()
        XCTAssertThrowsError(try session.attachSender(address: "forbidden")) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .linkDetached)
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.unauthorizedAccess)
        }
        // The session survives a refused link.
        XCTAssertEqual(try session.attachSender(address: "fine").send(AMQPMessage(data: [])), .accepted)

        let (badClient, badServer) = connectPair(
            broker: broker, client: AMQPConnectionConfiguration(sasl: .plain(username: "u", password: Secret("wrong")), idleTimeout: nil))
        XCTAssertThrowsError(try badClient.open()) { XCTAssertEqual(($0 as? AMQPError)?.code, .authentication) }
        let failed = expectation(description: "server side failed")
        badServer.onClose { error in
            XCTAssertEqual(error?.code, .authentication)
            failed.fulfill()
        }
        wait(for: [failed], timeout: 10)
    }

    func testBrokerAcceptsClientsWithoutSASLAndHeartbeats() throws {
        let broker = MiniBroker()
        let (client, _) = connectPair(broker: broker, client: AMQPConnectionConfiguration(sasl: .none, idleTimeout: .seconds(0.5)),
                                      server: AMQPConnectionConfiguration(idleTimeout: .seconds(0.5)))
        try client.open()
        // Both sides time out after 0.5 s of silence; heartbeats (every ~0.25 s) keep the idle connection alive well
        // past that. (With 0.2 s the slack was ~50 ms, less than a pause of this shared machine.)
        Thread.sleep(forTimeInterval: 2)
        XCTAssertEqual(try client.beginSession().attachSender(address: "q").send(AMQPMessage(value: "alive")), .accepted)
    }
}

final class LinkInfoTests: XCTestCase {
    func testPeerAttachAndReceiverCapabilitiesAreVisible() throws {
        let seen = LockedValue<[AMQPSymbol]?>(nil)
        let (clientEnd, serverEnd) = PipeEnd.pair()
        let server = AMQPConnection(acceptedTransport: serverEnd, server: AMQPServerConfiguration(linkAttached: { _, attach in
            seen.withLockedValue { $0 = attach.desiredCapabilities }
            return .send(options: AMQPSenderOptions(properties: [.symbol("k"): "v"]), ready: { _ in })
        }), configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        server.open { _ in }
        let client = AMQPConnection(transport: clientEnd, configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try client.open()
        let receiver = try client.beginSession().attachReceiver(
            address: "q", options: AMQPReceiverOptions(desiredCapabilities: ["com.microsoft:session-filter"])) { _ in }
        XCTAssertEqual(seen.load(), ["com.microsoft:session-filter"])
        XCTAssertEqual(receiver.peerAttach?.role, .sender)
        XCTAssertEqual(receiver.peerAttach?.properties, [.symbol("k"): "v"])
        XCTAssertEqual(receiver.peerAttach?.source?.address, "q")
    }
}
