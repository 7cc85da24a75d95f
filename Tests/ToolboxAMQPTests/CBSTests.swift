import Dispatch
import Foundation
import ToolboxCore
import XCTest

@_spi(Testing) @testable import ToolboxAMQP

final class CBSTests: XCTestCase {
    func session(_ broker: TestBroker) throws -> AMQPSession {
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        return try connection.beginSession()
    }

    func testPutTokenSendsTheSDKsRequestShape() throws {
        let broker = TestBroker()
        let cbs = try AMQPCBSClient.attach(session: session(broker))
        let expiry = Date(timeIntervalSince1970: 1_795_642_200)
        let token = AMQPCBSToken(token: Secret("SharedAccessSignature sr=x&sig=y&se=1795642200&skn=k"),
                                 type: AMQPCBSToken.sasTokenType, expiresAt: expiry)
        try cbs.putToken(audience: "sb://localhost:5673/eh1", token: token)
        let request = broker.sync { broker -> AMQPMessage? in
            for frame in broker.received {
                if case .amqp(_, .transfer, let payload) = frame, let message = try? AMQPMessage.decode(payload),
                   message.applicationProperties?["operation"] == "put-token" { return message }
            }
            return nil
        }
        let message = try XCTUnwrap(request)
        XCTAssertEqual(message.applicationProperties, [
            "operation": "put-token", "type": "servicebus.windows.net:sastoken", "name": "sb://localhost:5673/eh1",
            "expiration": .timestamp(1_795_642_200_000),
        ])
        XCTAssertEqual(message.body, .value("SharedAccessSignature sr=x&sig=y&se=1795642200&skn=k"))
        guard case .uuid = message.properties?.messageID else { return XCTFail("message-id must be a uuid") }
        XCTAssertEqual(message.properties?.replyTo, cbs.link?.replyAddress)
        // Both links were attached to $cbs, receiver first.
        let attaches = broker.sync { $0.receivedPerformatives.compactMap { if case .attach(let a) = $0 { a } else { nil } } }
        XCTAssertEqual(attaches.map(\.role), [.receiver, .sender])
        XCTAssertEqual(attaches.map { $0.source?.address }, ["$cbs", attaches[1].source?.address])
        XCTAssertEqual(attaches[1].target?.address, "$cbs")
        XCTAssertFalse("\(token)".contains("sig=y"))
    }

    func testPutTokenFailureStatusIsTyped() throws {
        let broker = TestBroker()
        broker.cbsStatus = 401
        let cbs = try AMQPCBSClient.attach(session: session(broker))
        let token = AMQPCBSToken(token: Secret("t"), type: "jwt", expiresAt: Date().addingTimeInterval(60))
        XCTAssertThrowsError(try cbs.putToken(audience: "sb://h/q", token: token)) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .requestFailed)
            XCTAssertTrue("\(error)".contains("401"))
        }
    }

    /// An answer without a status-code, or with one no Int holds (a ulong of 2^63), is no success: it read as
    /// status 0. Any integer type the peer encodes a real status in is read.
    func testPutTokenWithoutAReadableStatusFails() throws {
        let token = AMQPCBSToken(token: Secret("t"), type: "jwt", expiresAt: Date().addingTimeInterval(60))
        for value: AMQPValue in [.null, .ulong(1 << 63), .string("accepted"), .bool(true)] {
            let broker = TestBroker()
            broker.cbsStatusValue = value
            let cbs = try AMQPCBSClient.attach(session: session(broker))
            XCTAssertThrowsError(try cbs.putToken(audience: "sb://h/q", token: token), "\(value)") { error in
                XCTAssertEqual((error as? AMQPError)?.code, .requestFailed, "\(value): \(error)")
                XCTAssertTrue("\(error)".contains("no status-code"), "\(error)")
            }
        }
        for value: AMQPValue in [.ulong(202), .ushort(200), .ubyte(202), .long(202), .string("202")] {
            let broker = TestBroker()
            broker.cbsStatusValue = value
            let cbs = try AMQPCBSClient.attach(session: session(broker))
            XCTAssertNoThrow(try cbs.putToken(audience: "sb://h/q", token: token), "\(value)")
        }
    }

    func testRefresherPutsAgainBeforeExpiry() throws {
        let broker = TestBroker()
        let cbs = try AMQPCBSClient.attach(session: session(broker))
        let issued = LockedValue(0)
        // Tokens live 0.3 s: each must be replaced before it expires, i.e. after about 0.27 s.
        let refresher = AMQPCBSTokenRefresher(cbs: cbs, audience: "sb://h/q") { _, done in
            let n = issued.withLockedValue { $0 += 1; return $0 }
            done(.success(AMQPCBSToken(token: Secret("token-\(n)"), type: "jwt", expiresAt: Date().addingTimeInterval(0.3))))
        }
        let first = expectation(description: "first put")
        refresher.start { result in
            if case .failure(let error) = result { XCTFail("\(error)") }
            first.fulfill()
        }
        wait(for: [first], timeout: 10)
        let deadline = Deadline.after(seconds: 20)
        while refresher.refreshCount < 4, !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.02) }
        refresher.cancel()
        XCTAssertGreaterThanOrEqual(refresher.refreshCount, 4)
        let tokens = broker.sync { broker in
            broker.received.compactMap { frame -> String? in
                guard case .amqp(_, .transfer, let payload) = frame, let m = try? AMQPMessage.decode(payload),
                      case .value(.string(let token)) = m.body else { return nil }
                return token
            }
        }
        XCTAssertEqual(Array(tokens.prefix(4)), ["token-1", "token-2", "token-3", "token-4"])
    }

    /// Attaches and detaches seen by `broker`, as (role, closed) in arrival order.
    private func linkFrames(_ broker: TestBroker) -> (attaches: [AMQPAttach], detaches: Int) {
        broker.sync { broker in
            var attaches: [AMQPAttach] = []
            var detaches = 0
            for performative in broker.receivedPerformatives {
                switch performative {
                case .attach(let attach): attaches.append(attach)
                case .detach(let detach) where detach.closed: detaches += 1
                default: break
                }
            }
            return (attaches, detaches)
        }
    }

    private func waitForDetaches(_ broker: TestBroker, _ count: Int) {
        let deadline = Deadline.after(seconds: 20)
        while linkFrames(broker).detaches < count, !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
    }

    /// As the Go SDK's `NegotiateClaim`: nothing attached before the first put-token, the pair detached (closed)
    /// after each one, and a fresh pair for the next.
    func testADetachingClientHoldsTheCBSPairOnlyWhileAPutTokenIsInFlight() throws {
        let broker = TestBroker()
        let cbs = AMQPCBSClient(session: try session(broker), detachesWhenIdle: true)
        XCTAssertNil(cbs.link)
        XCTAssertEqual(linkFrames(broker).attaches.count, 0)
        let token = AMQPCBSToken(token: Secret("t"), type: "jwt", expiresAt: Date().addingTimeInterval(60))
        try cbs.putToken(audience: "sb://h/q", token: token)
        waitForDetaches(broker, 2)
        XCTAssertNil(cbs.link)
        var frames = linkFrames(broker)
        XCTAssertEqual(frames.attaches.map(\.role), [.receiver, .sender])
        XCTAssertEqual(frames.detaches, 2)
        try cbs.putToken(audience: "sb://h/q", token: token)
        waitForDetaches(broker, 4)
        frames = linkFrames(broker)
        XCTAssertEqual(frames.attaches.map(\.role), [.receiver, .sender, .receiver, .sender])
        XCTAssertEqual(frames.attaches.map { $0.source?.address }, ["$cbs", frames.attaches[1].source?.address, "$cbs",
                                                                    frames.attaches[3].source?.address])
        XCTAssertEqual(Set(frames.attaches.map(\.name)).count, 4, "each pair has names of its own")
        XCTAssertEqual(frames.detaches, 4)
        XCTAssertNil(cbs.link)
    }

    func testConcurrentPutTokensOnADetachingClientAllSucceedAndLeaveNothingAttached() throws {
        let broker = TestBroker()
        let cbs = AMQPCBSClient(session: try session(broker), detachesWhenIdle: true)
        let group = DispatchGroup()
        let failures = LockedValue<[String]>([])
        for index in 0..<8 {
            group.enter()
            let token = AMQPCBSToken(token: Secret("t\(index)"), type: "jwt", expiresAt: Date().addingTimeInterval(60))
            cbs.putToken(audience: "sb://h/q\(index)", token: token) { result in
                if case .failure(let error) = result { failures.withLockedValue { $0.append("\(error)") } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(failures.load(), [])
        let attaches = linkFrames(broker).attaches.count
        XCTAssertTrue(attaches >= 2 && attaches % 2 == 0, "whole pairs only: \(attaches)")
        waitForDetaches(broker, attaches)
        XCTAssertEqual(linkFrames(broker).detaches, attaches, "every pair attached was detached again")
        XCTAssertNil(cbs.link)
    }

    /// With a fresh `$cbs` pair per put-token, a refused attach (the service busy) fails that refresh only: the
    /// refresher retries with its backoff and the next attach puts the token, instead of stopping for good.
    func testARefresherOnADetachingClientRetriesAfterOneRefreshAttachIsRefused() throws {
        let broker = TestBroker()
        let cbs = AMQPCBSClient(session: try session(broker), detachesWhenIdle: true)
        // The broker refuses the second `$cbs` receiver attach: the first refresh's (the first put-token's pair is
        // the first). Counted here, not armed from the first put's completion, which may run late on a busy machine.
        let cbsReceiverAttaches = LockedValue(0)
        let refused = LockedValue(0)
        broker.hook = { performative, channel, broker in
            guard case .attach(let attach) = performative, attach.role == .receiver, attach.source?.address == "$cbs",
                  cbsReceiverAttaches.withLockedValue({ $0 += 1; return $0 }) == 2
            else { return false }
            // As Azure refuses a link: an attach without the terminus, then a detach carrying the reason.
            let handle = attach.handle + 100
            broker.send(.amqp(channel, .attach(AMQPAttach(name: attach.name, handle: handle, role: .sender, source: nil,
                                                           target: attach.target))))
            broker.send(.amqp(channel, .detach(AMQPDetach(handle: handle, closed: true, error: AMQPRemoteError(
                condition: "com.microsoft:server-busy", description: "busy")))))
            refused.withLockedValue { $0 += 1 }
            return true
        }
        let failures = LockedValue<[AMQPError.Code]>([])
        // Tokens live 0.4 s, so the first refresh comes after 0.2 s; a failed one is retried after 50 ms.
        let refresher = AMQPCBSTokenRefresher(cbs: cbs, audience: "sb://h/q", retryDelay: .milliseconds(50),
                                              onRefreshFailure: { error in failures.withLockedValue { $0.append(error.code) } }
        ) { _, done in
            done(.success(AMQPCBSToken(token: Secret("t"), type: "jwt", expiresAt: Date().addingTimeInterval(0.4))))
        }
        defer { refresher.cancel() }
        let first = expectation(description: "first put")
        refresher.start { result in
            if case .failure(let error) = result { XCTFail("\(error)") }
            first.fulfill()
        }
        wait(for: [first], timeout: 10)
        let deadline = Deadline.after(seconds: 20)
        while refresher.refreshCount < 3, !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(refused.load(), 1)
        XCTAssertEqual(failures.load().first, .linkDetached, "\(failures.load())")
        XCTAssertGreaterThanOrEqual(refresher.refreshCount, 3, "the refresher went on after the refused attach")
    }

    func testAKeptPairStaysAttachedAfterPutToken() throws {
        let broker = TestBroker()
        let cbs = try AMQPCBSClient.attach(session: session(broker))
        let token = AMQPCBSToken(token: Secret("t"), type: "jwt", expiresAt: Date().addingTimeInterval(60))
        try cbs.putToken(audience: "sb://h/q", token: token)
        try cbs.putToken(audience: "sb://h/q", token: token)
        XCTAssertNotNil(cbs.link)
        let frames = linkFrames(broker)
        XCTAssertEqual(frames.attaches.count, 2)
        XCTAssertEqual(frames.detaches, 0)
    }

    func testRefreshComesAtNinetyPercentButLeavesAMarginForTheAttach() {
        XCTAssertEqual(AMQPCBSTokenRefresher.refreshDelay(lifetime: 3600, fraction: 0.9), 3240, accuracy: 1e-9)
        XCTAssertEqual(AMQPCBSTokenRefresher.refreshDelay(lifetime: 60, fraction: 0.9), 30, accuracy: 1e-9)
        XCTAssertEqual(AMQPCBSTokenRefresher.refreshDelay(lifetime: 2, fraction: 0.9), 1, accuracy: 1e-9)
        XCTAssertEqual(AMQPCBSTokenRefresher.refreshDelay(lifetime: 0, fraction: 0.9), 0.001, accuracy: 1e-9)
        XCTAssertEqual(AMQPCBSTokenRefresher.refreshDelay(lifetime: -5, fraction: 0.9), 0.001, accuracy: 1e-9)
        XCTAssertEqual(AMQPCBSTokenRefresher.refreshDelay(lifetime: .nan, fraction: 0.9), 0.001, accuracy: 1e-9)
    }

    func testRequestResponseCorrelatesConcurrentRequests() throws {
        let broker = TestBroker()
        let link = try AMQPRequestResponseLink.attach(session: session(broker), address: "$management")
        let group = DispatchGroup()
        let answers = LockedValue<[Int: AMQPValue]>([:])
        for index in 0..<20 {
            group.enter()
            var request = AMQPMessage(value: .int(Int32(index)))
            request.applicationProperties = ["operation": "READ"]
            link.request(request) { result in
                if case .success(let response) = result, case .value(let body) = response.body {
                    answers.withLockedValue { $0[index] = body }
                }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(answers.load().count, 20)
        for (index, body) in answers.load() { XCTAssertEqual(body, .int(Int32(index))) }
    }

    /// A peer that refuses the receiver's attach and never answers the sender's: the pair fails at once with the
    /// refusal, even without a deadline, and the unanswered attach is given up.
    func testAPairAttachFailsAsSoonAsOneAttachIsRefused() throws {
        let broker = TestBroker()
        broker.hook = { performative, channel, broker in
            guard case .attach(let attach) = performative else { return false }
            if attach.role == .receiver {
                let handle = attach.handle + 100
                broker.send(.amqp(channel, .attach(AMQPAttach(name: attach.name, handle: handle, role: .sender,
                                                               source: nil, target: attach.target))))
                broker.send(.amqp(channel, .detach(AMQPDetach(handle: handle, closed: true, error: AMQPRemoteError(
                    condition: "amqp:not-found", description: "no such node")))))
            }
            return true  // the sender's attach is never answered
        }
        let failed = expectation(description: "attach failed")
        AMQPRequestResponseLink.attach(session: try session(broker), address: "$management", deadline: .never) { result in
            switch result {
            case .success: XCTFail("the receiver's attach was refused")
            case .failure(let error):
                XCTAssertEqual(error.code, .linkDetached, "\(error)")
                XCTAssertEqual(error.serviceCondition?.amqpCondition, "amqp:not-found", "\(error)")
            }
            failed.fulfill()
        }
        wait(for: [failed], timeout: 20)
    }

    func testRequestTimesOutWhenNobodyAnswers() throws {
        let broker = TestBroker()
        broker.hook = { performative, _, _ in
            if case .transfer = performative { return true }  // swallow requests
            return false
        }
        let link = try AMQPRequestResponseLink.attach(session: session(broker), address: "$management")
        XCTAssertThrowsError(try link.request(AMQPMessage(value: .int(1)), timeout: .seconds(0.2))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .timedOut)
        }
    }
}
