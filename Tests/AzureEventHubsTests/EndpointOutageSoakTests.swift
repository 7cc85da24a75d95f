import AzureEmulator
import AzureEventHubs
import AzureMessagingCore
import Dispatch
import Foundation
import ToolboxCore
import XCTest

/// Issue 13 item 0: a producer that keeps sending while its endpoint refuses connections, then drops them at
/// random, then comes back. The process must not crash (the SIGILL this reproduced came from libdispatch sources
/// on refused sockets; see `SocketPoller`), each send must end with the real cause within its retry budget,
/// nothing reported sent may be lost, and sending must recover when the endpoint does.
///
/// Duration: `TOOLBOX_SOAK_SECONDS` (default 60: 40% refusing, 40% dropping, 20% passing).
final class EndpointOutageSoakTests: XCTestCase {
    static var seconds: Double {
        ProcessInfo.processInfo.environment["TOOLBOX_SOAK_SECONDS"].flatMap(Double.init).map { max(3, $0) } ?? 60
    }

    private struct Outcome: Sendable {
        let body: String
        let startMode: FlakyProxy.Mode
        let endMode: FlakyProxy.Mode
        let error: ToolboxError?
    }

    func testSendingThroughAnOutageFailsWithTheCauseLosesNothingAndRecovers() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 2)
        let proxy = try FlakyProxy(target: emulator.amqpPort, mode: .refusing)
        defer { proxy.stop() }
        let direct = emulator.eventHubsConnectionString(eventHub: "eh1")
        let throughProxy = direct.replacingOccurrences(of: ":\(emulator.amqpPort);", with: ":\(proxy.port);")
        XCTAssertNotEqual(direct, throughProxy)
        let producer = try ManagedEventHubProducer(connectionString: throughProxy, options: fastRetryOptions {
            $0.retry = RetryOptions(maxRetries: 2, delay: .seconds(0.01), maxDelay: .seconds(0.1), tryTimeout: .seconds(5))
            $0.pool.maxSize = 4
        })
        defer { try? producer.close() }

        let outcomes = LockedValue<[Outcome]>([])
        let stop = LockedValue(false)
        let callers = DispatchGroup()
        for caller in 0..<8 {
            callers.enter()
            Self.keepSending(producer, caller: caller, index: 0, proxy: proxy, stop: stop, outcomes: outcomes) {
                callers.leave()
            }
        }
        let total = Self.seconds
        Thread.sleep(forTimeInterval: total * 0.4)
        try proxy.set(.dropping)
        Thread.sleep(forTimeInterval: total * 0.4)
        try proxy.set(.passing)
        Thread.sleep(forTimeInterval: max(2, total * 0.2))
        stop.withLockedValue { $0 = true }
        // Each send has a bounded budget (3 tries of at most 5 s, plus back-off): a caller still busy a minute
        // later is a send that never completed.
        XCTAssertEqual(callers.wait(timeout: .now() + 60), .success, "a send never completed")

        let all = outcomes.load()
        let refusing = all.filter { $0.startMode == .refusing && $0.endMode == .refusing }
        XCTAssertGreaterThan(refusing.count, 0, "nothing was sent while the endpoint refused")
        // Every unexpected outcome is collected and reported in one failure, with how many and the first few (one
        // assertion per send made a systematic problem hundreds of failures, and a rare one hard to tell apart).
        let wrongWhileRefusing: [String] = refusing.compactMap { outcome in
            guard let error = outcome.error else { return "\(outcome.body) was reported sent while nothing listened" }
            if error.code != .connectionLost { return "\(outcome.body): \(error.code) instead of connectionLost: \(error)" }
            if !"\(error)".contains("nothing is listening") { return "\(outcome.body): the cause is missing: \(error)" }
            return nil
        }
        XCTAssertTrue(wrongWhileRefusing.isEmpty,
                      "\(wrongWhileRefusing.count) of \(refusing.count) sends while refusing: \(wrongWhileRefusing.prefix(3))")
        let allowedWhileDropping: Set<ToolboxError.Code> = [.connectionLost, .linkLost, .timedOut]
        let unexpected: [String] = all.compactMap { outcome in
            guard outcome.startMode != outcome.endMode || outcome.startMode == .dropping, let error = outcome.error,
                  !allowedWhileDropping.contains(error.code) else { return nil }
            return "\(outcome.body) (\(outcome.startMode) -> \(outcome.endMode)): \(error)"
        }
        XCTAssertTrue(unexpected.isEmpty, "\(unexpected.count) unexpected failures: \(unexpected.prefix(3))")
        let dropping = all.filter { $0.startMode == .dropping && $0.endMode == .dropping }
        XCTAssertGreaterThan(dropping.filter { $0.error == nil }.count, 0, "no send got through the dropping proxy")
        // Recovery: once the endpoint is back, every send that started after the first success succeeds.
        let passing = all.filter { $0.startMode == .passing }
        guard let firstSuccess = passing.firstIndex(where: { $0.error == nil }) else {
            return XCTFail("nothing was sent after the endpoint came back: \(passing.prefix(3).map(\.error))")
        }
        let lateFailures = passing.dropFirst(firstSuccess + 8).compactMap(\.error)
        XCTAssertTrue(lateFailures.isEmpty, "sends still failed after recovery: \(lateFailures.prefix(3))")

        let reported = Set(all.filter { $0.error == nil }.map(\.body))
        let events = try readAll(connectionString: direct, partitions: 2, expected: reported.count, timeout: 120)
        let missing = reported.subtracting(events.compactMap { $0.event.bodyAsString })
        XCTAssertTrue(missing.isEmpty, "\(missing.count) events reported sent were lost: \(Array(missing.prefix(5)))")
        print("outage soak: \(refusing.count) sends while refusing, \(dropping.count) while dropping "
              + "(\(dropping.filter { $0.error == nil }.count) sent), \(passing.count) after recovery")
    }

    /// One caller: send after send (completion form) until `stop`, recording each outcome with the proxy's mode.
    private static func keepSending(
        _ producer: ManagedEventHubProducer, caller: Int, index: Int, proxy: FlakyProxy, stop: LockedValue<Bool>,
        outcomes: LockedValue<[Outcome]>, done: @escaping @Sendable () -> Void
    ) {
        guard !stop.load() else { return done() }
        let body = "c\(caller)-\(index)"
        let startMode = proxy.mode
        producer.send(EventData(body: body)) { result in
            let error: ToolboxError?
            switch result {
            case .success: error = nil
            case .failure(let failure): error = failure
            }
            outcomes.withLockedValue {
                $0.append(Outcome(body: body, startMode: startMode, endMode: proxy.mode, error: error))
            }
            // Paced, so that a long soak stays readable back in bounded time (~400 events/s over 8 callers).
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.02) {
                keepSending(producer, caller: caller, index: index + 1, proxy: proxy, stop: stop, outcomes: outcomes,
                            done: done)
            }
        }
    }
}
