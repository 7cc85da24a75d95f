import AzureAuth
import AzureMessagingCore
import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore
import XCTest

/// Helpers the Event Hubs and Service Bus fault scenarios share.
public enum FaultScenario {
    /// The emulator's namespace reached through `port` (a `FaultProxy`), plain AMQP, SAS from the namespace key.
    public static func endpoint(port: UInt16, idleTimeout: Double? = 60, tls: Bool = false) throws -> MessagingEndpoint {
        let parsed = try MessagingConnectionString(parsing: "Endpoint=sb://127.0.0.1:\(port);"
            + "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true")
        var endpoint = try MessagingEndpoint(connectionString: parsed)
        endpoint.idleTimeout = idleTimeout.map { .seconds($0) }
        endpoint.useTLS = tls
        return endpoint
    }

    /// Waits (up to `seconds`) for `condition`, checking every 20 ms: waiting on the event, not a fixed sleep.
    public static func eventually(_ seconds: Double = 15, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return condition()
    }

    /// Drops the broker's answer to attaches whose source or target address contains `fragment`.
    public static func unansweredAttaches(_ fragment: String) -> FaultProxy.FrameFilter {
        { direction, frame in
            guard direction == .toClient, case .amqp(_, .attach(let attach), _) = frame else { return true }
            let address = (attach.target?.address ?? "") + " " + (attach.source?.address ?? "")
            return !address.contains(fragment)
        }
    }

    /// Sends `count` bodies `"\(prefix) i"` one after another through `send` and checks that each fails with a
    /// messaging error whose code is one of `codes` (the real cause, typed), never a trap or a hang.
    public static func assertEachSendFails(
        count: Int = 5, prefix: String, with codes: Set<ToolboxError.Code> = [.connectionLost, .timedOut],
        file: StaticString = #filePath, line: UInt = #line, _ send: (String) throws -> Void
    ) {
        for i in 0..<count {
            XCTAssertThrowsError(try send("\(prefix) \(i)"), file: file, line: line) { error in
                let code = (error as? ToolboxError)?.code
                XCTAssertTrue(code.map(codes.contains) ?? false, "a typed cause: \(error)", file: file, line: line)
            }
        }
    }

    /// What `sendConcurrently` saw: completions per body (each must be 1) and the bodies reported sent.
    public struct Outcome: Sendable {
        public var completions: [String: Int] = [:]
        public var succeeded: [String] = []

        /// True when every one of `count` sends completed exactly once.
        public func eachCompletedOnce(_ count: Int) -> Bool {
            completions.count == count && completions.values.allSatisfy { $0 == 1 }
        }
    }

    /// Starts `count` sends of bodies `"\(prefix) i"` at once through `send` (which reports success or failure once
    /// per call), runs `during(i)` after starting send i, and waits (up to `timeout`) for every completion.
    public static func sendConcurrently(
        count: Int, prefix: String, timeout: Double = 60,
        send: (String, @escaping @Sendable (Bool) -> Void) -> Void, during: (Int) -> Void = { _ in }
    ) -> Outcome? {
        let outcome = LockedValue(Outcome())
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            let body = "\(prefix) \(i)"
            send(body) { ok in
                outcome.withLockedValue {
                    $0.completions[body, default: 0] += 1
                    if ok { $0.succeeded.append(body) }
                }
                group.leave()
            }
            during(i)
        }
        guard group.wait(timeout: .now() + timeout) == .success else { return nil }
        return outcome.load()
    }
}
