import AzureAuth
import AzureClientsToolboxTesting
import AzureEmulator
import AzureEventGrid
import Foundation
import ToolboxCore
import XCTest

/// Every way a publish fails gives a typed error with what the service said — and never a key or token.
final class EventGridFailureTests: XCTestCase {
    private func client(_ emulator: TestEmulator, credential: EventGridCredential? = nil,
                        options: EventGridClientOptions? = nil) throws -> EventGridClient {
        let client = try EventGridClient(config: eventGridConfig(emulator),
                                         credential: credential ?? .key(Secret(emulator.eventGridKey)),
                                         options: options ?? eventGridOptions(emulator))
        addTeardownBlock { try? client.close() }
        return client
    }

    /// A client of an always-throttling emulator whose back-off waits on a `ManualClock` (Retry-After: 1 s).
    private func throttledClientOnAManualClock(maxRetries: Int = 3) throws -> (EventGridClient, ManualClock) {
        let emulator = try startEventGridEmulator { $0.faults.httpThrottleRate = 1 }
        let clock = ManualClock()
        var options = eventGridOptions(emulator)
        options.clock = clock
        options.retry.maxDelay = .seconds(60)
        options.retry.maxRetries = maxRetries
        return (try client(emulator, options: options), clock)
    }

    private func publishError(_ client: EventGridClient, topic: String = "orders", subject: String = "s",
                              file: StaticString = #filePath, line: UInt = #line) -> ToolboxError? {
        do {
            try client.emitEvent(topic: topic, eventType: "t", subject: subject, data: .null)
            XCTFail("the publish succeeded", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testWrongKeyAndWrongSASAreAuthorizationFailuresWithoutTheSecret() throws {
        let emulator = try startEventGridEmulator()
        let wrongKey = "d3Jvbmcta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw=="
        let error = try XCTUnwrap(publishError(try client(emulator, credential: .key(Secret(wrongKey)))))
        XCTAssertEqual(error.code, .authorizationFailed)
        XCTAssertEqual(error.serviceCondition?.httpStatus, 401)
        XCTAssertEqual(error.serviceCondition?.errorCode, "Unauthorized")
        XCTAssertNotNil(error.serviceCondition?.requestID)
        XCTAssertTrue(error.message.contains("aeg-sas-key"), error.message)
        XCTAssertFalse("\(error)".contains(wrongKey))

        let sas = try EventGridSharedAccessSignature.token(
            endpoint: XCTUnwrap(emulator.eventGridEndpoint("orders")), key: Secret(wrongKey),
            expiry: UTCDate.nowUnixSeconds() + 600)
        let sasError = try XCTUnwrap(publishError(try client(emulator, credential: .sharedAccessSignature(sas))))
        XCTAssertEqual(sasError.code, .authorizationFailed)
        XCTAssertFalse("\(sasError)".contains(sas.exposedValue))
        XCTAssertFalse("\(sasError)".contains("&s="))

        let refusing = try startEventGridEmulator { $0.faults.refuseAuthentication = true }
        XCTAssertEqual(publishError(try client(refusing))?.code, .authorizationFailed)
    }

    func testTokenCredentialFailuresAndBearerOverPlainHTTP() throws {
        let emulator = try startEventGridEmulator()
        let transport = try HTTPClientTokenTransport(caFile: XCTUnwrap(emulator.emulator.caFile))
        let wrongSecret = try ClientSecretCredential(
            tenantID: EmulatorWellKnown.tenantID, clientID: EmulatorWellKnown.clientID, clientSecret: Secret("nope"),
            authorityHost: emulator.emulator.authorityHost, environment: [:], transport: transport)
        let error = try XCTUnwrap(publishError(try client(emulator, credential: .token(wrongSecret))))
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertTrue(error.message.contains("ClientSecretCredential"), error.message)

        let plain = EventGridConfig(EventGridTopicConfig(
            name: "orders", url: try XCTUnwrap(emulator.emulator.plainHTTPBaseURL) + "/eventgrid/orders/api/events"))
        let token = EventGridCredential.token(EmulatorTokenCredential(emulator: emulator.emulator))
        XCTAssertThrowsError(try EventGridClient(config: plain, credential: token)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument)
        }
        var options = eventGridOptions(emulator)
        options.allowPlainTextForDevelopment = true
        let development = try EventGridClient(config: plain, credential: token, options: options)
        defer { try? development.close() }
        XCTAssertNoThrow(try development.emitEvent(topic: "orders", eventType: "t", subject: "plain", data: .null))
    }

    func testServiceRefusalsKeepTheServicesCodeAndMessage() throws {
        let emulator = try startEventGridEmulator { $0.httpLimits.maxEventGridBodyBytes = 400 }
        let client = try client(emulator)
        let badRequest = try XCTUnwrap(publishError(client, subject: ""))
        XCTAssertEqual(badRequest.code, .badRequest)
        XCTAssertEqual(badRequest.serviceCondition?.errorCode, "BadRequest")
        XCTAssertTrue(badRequest.serviceCondition?.serviceMessage?.contains("'subject' must not be empty") == true,
                      "\(badRequest)")
        let big = try EventGridData(["blob": String(repeating: "x", count: 600)])
        XCTAssertThrowsError(try client.emitEvent(topic: "orders", eventType: "t", subject: "s", data: big)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .requestTooLarge)
        }
        let missing = EventGridConfig(EventGridTopicConfig(
            name: "gone", url: try XCTUnwrap(emulator.emulator.httpBaseURL) + "/eventgrid/gone/api/events"))
        let missingClient = try EventGridClient(config: missing, credential: .key(Secret(emulator.eventGridKey)),
                                                options: eventGridOptions(emulator))
        defer { try? missingClient.close() }
        XCTAssertEqual(publishError(missingClient, topic: "gone")?.code, .resourceNotFound)
    }

    func testArgumentsTheClientRefusesBeforeSending() throws {
        let emulator = try startEventGridEmulator()
        let client = try client(emulator)
        XCTAssertEqual(publishError(client, topic: "not-configured")?.code, .invalidArgument)
        XCTAssertThrowsError(try client.send([EventGridEvent](), toTopic: "orders")) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument)
        }
        let badExtension = CloudEvent(source: "/s", type: "t", extensions: ["Bad_Name": .null])
        XCTAssertThrowsError(try client.send([badExtension], toTopic: "orders")) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try EventGridData(json: Array("{nope".utf8)))
        XCTAssertThrowsError(try EventGridClient(config: EventGridConfig([]), credential: .key(Secret("a2V5"))))
        XCTAssertThrowsError(try EventGridClient(config: EventGridConfig(EventGridTopicConfig(name: "t", url: "ftp://x")),
                                                 credential: .key(Secret("a2V5"))))
        XCTAssertThrowsError(try EventGridClient(config: EventGridConfig(EventGridTopicConfig(name: "t", url: "https://x/api/events")))) {
            XCTAssertTrue("\($0)".contains("no credential"))
        }
        XCTAssertThrowsError(try EventGridClient(
            config: EventGridConfig(EventGridTopicConfig(name: "t", url: "https://x/api/events")),
            credential: .signedWithKey(Secret("not base64!"), validity: .seconds(60)))) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidKey)
            XCTAssertFalse("\(error)".contains("not base64!"))
        }
        XCTAssertEqual(emulator.eventGridEvents("orders").count, 0)
    }

    func testThrottlingIsRetriedThenReportedAsThrottled() throws {
        let (_, always) = try clientOfAFaultyEmulator(maxRetries: 2) { $0.httpThrottleRate = 1 }
        let error = try XCTUnwrap(publishError(always))
        XCTAssertEqual(error.code, .throttled)
        XCTAssertEqual(error.serviceCondition?.httpStatus, 429)
        XCTAssertEqual(error.serviceCondition?.retryAfter, .seconds(1))
        XCTAssertTrue(error.message.contains("after 3 tries"), error.message)
        try assertTwentyPublishesGetThrough { $0.httpThrottleRate = 0.5 }
    }

    func testDroppedConnectionsAreRetriedThenReportedWithTheTransportCode() throws {
        let (_, always) = try clientOfAFaultyEmulator(maxRetries: 2) { $0.httpDropProbability = 1 }
        let error = try XCTUnwrap(publishError(always))
        XCTAssertTrue([.connectionReset, .connectionClosed, .httpTruncated, .tlsProtocolError].contains(error.code), "\(error)")
        XCTAssertTrue(error.message.contains("after 3 tries"), error.message)
        XCTAssertNil(error.serviceCondition)
        try assertTwentyPublishesGetThrough { $0.httpDropProbability = 0.5 }
    }

    private func clientOfAFaultyEmulator(maxRetries: Int, _ faults: @escaping (inout EmulatorFaults) -> Void) throws
        -> (TestEmulator, EventGridClient)
    {
        let emulator = try startEventGridEmulator { faults(&$0.faults) }
        var options = eventGridOptions(emulator)
        options.retry.maxRetries = maxRetries
        return (emulator, try client(emulator, options: options))
    }

    /// With half the requests hit by the fault and 20 retries each, all 20 publishes arrive, each once.
    private func assertTwentyPublishesGetThrough(_ faults: @escaping (inout EmulatorFaults) -> Void) throws {
        let (emulator, client) = try clientOfAFaultyEmulator(maxRetries: 20, faults)
        for index in 0..<20 {
            try client.emitEvent(topic: "orders", eventType: "t", subject: "\(index)", data: .null)
        }
        let subjects = emulator.eventGridEvents("orders").compactMap { $0.object()?["subject"] as? String }
        XCTAssertEqual(subjects.count, 20)
        XCTAssertEqual(Set(subjects).count, 20)
    }

    func testCancelWhileWaitingToRetryDeliversCancelledOnce() throws {
        let (client, clock) = try throttledClientOnAManualClock()
        let box = ResultBox<Void>()
        let handle = client.emitEvent(topic: "orders", eventType: "t", subject: "s", data: .null, completion: box.handler)
        waitUntil("the retry is scheduled") { clock.pendingJobCount == 1 }
        XCTAssertEqual(box.count, 0)
        handle.cancel()
        handle.cancel()
        let (result, _) = box.wait()
        guard case .failure(let error) = result else { return XCTFail("not cancelled: \(String(describing: result))") }
        XCTAssertEqual(error.code, .cancelled)
        XCTAssertEqual(clock.pendingJobCount, 0, "the retry timer is cancelled with the publish")
        XCTAssertEqual(box.count, 1)
    }

    func testTheTimeoutCoversRetries() throws {
        let (client, clock) = try throttledClientOnAManualClock(maxRetries: 10)
        let box = ResultBox<Void>()
        client.emitEvent(topic: "orders", eventType: "t", subject: "s", data: .null, timeout: .seconds(2),
                         completion: box.handler)
        waitUntil("the retry is scheduled") { clock.pendingJobCount == 1 }
        clock.advance(by: .seconds(5))
        let (result, count) = box.wait()
        guard case .failure(let error) = result else { return XCTFail("did not time out: \(String(describing: result))") }
        XCTAssertEqual(error.code, .timedOut)
        XCTAssertEqual(error.serviceCondition?.httpStatus, 429, "the last answer is kept")
        XCTAssertEqual(count, 1)
    }
}
