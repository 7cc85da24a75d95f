import Foundation
import Logging
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// The emulator's HTTP side: one plain and one HTTPS listener in front of every HTTP service, routing each
/// request to the first service that accepts it, after the shared fault knobs (drop, throttle, refused auth).
final class HTTPFrontDoor: Sendable {
    let context: EmulatorHTTPContext
    let services: [any EmulatorHTTPService]
    private let servers: LockedValue<[HTTPServer]>

    /// The services of the HTTP side, in routing order: the specific routes first, Cosmos (which owns `/`) last.
    static func makeServices(context: EmulatorHTTPContext) throws -> [any EmulatorHTTPService] {
        var services: [any EmulatorHTTPService] = []
        services.append(EmulatorControlService(context: context))
        services.append(try EntraService(context: context))
        services.append(EventGridService(context: context))
        services.append(BlobService(context: context))
        services.append(try CosmosService(context: context))
        return services
    }

    init(context: EmulatorHTTPContext, services: [any EmulatorHTTPService]) {
        self.context = context
        self.services = services
        self.servers = LockedValue([])
    }

    /// Starts a listener; `tls` nil for plain HTTP. Returns its port.
    func listen(host: String, port: UInt16, tls: TLSContext?) throws -> UInt16 {
        var limits = HTTPServer.defaultLimits
        limits.maxBodyBytes = max(0, context.configuration.httpLimits.maxRequestBodyBytes)
        let isSecure = tls != nil
        let box = LockedValue<UInt16>(0)
        let server = try HTTPServer(
            host: host, port: port, tls: tls, limits: limits, idleTimeout: .seconds(120),
            connectionSetupDelay: context.configuration.faults.connectionSetupDelay,
            queue: LibraryQueues.makeQueue(label: "AzureEmulator.http"), handlesOnConnectionQueue: true,  // unused then
            // Requests are read, routed and answered on the loops' poller threads, without a hop per request:
            // the services that may wait (file I/O, token issuing) hand their work to a work queue below.
            eventLoops: POSIX.activeProcessorCount
        ) { [self] request, respond in
            // On the connection's queue: routed here, and answered here by the services whose answer never
            // waits; the others (file I/O, token issuing) are handed to a work queue.
            let emulatorRequest = EmulatorHTTPRequest(head: request.head, body: request.body, isSecure: isSecure,
                                                      localPort: box.load(), remoteAddress: request.remoteAddress)
            let service = services.first(where: { $0.accepts(emulatorRequest) })
            if service?.answersOnConnectionQueue(emulatorRequest) ?? true {
                route(emulatorRequest, to: service, respond: respond)
            } else {
                // A queue of its own per request (not the concurrent default callback queue: EmulatorQueueTests),
                // so a slow blob write holds up nothing else.
                LibraryQueues.makeWorkQueue(label: "AzureEmulator.http").async {
                    self.route(emulatorRequest, to: service, respond: respond)
                }
            }
        }
        box.withLockedValue { $0 = server.port }
        servers.withLockedValue { $0.append(server) }
        return server.port
    }

    /// Answers `request` with `service` (the first that accepts it; nil: a 404), after the fault knobs.
    func route(_ request: EmulatorHTTPRequest, to service: (any EmulatorHTTPService)?,
               respond: @escaping @Sendable (HTTPServerResponse) -> Void) {
        let faults = context.configuration.faults
        if faults.httpDropProbability > 0, Double.random(in: 0..<1) < faults.httpDropProbability {
            context.logger.info("http: dropping the connection of \(request.method) \(request.path) (fault injection)")
            respond(.abort)
            return
        }
        guard let service else {
            respond(HTTPServerResponse(
                status: 404, headers: ["Content-Type": "application/json"],
                body: .bytes(Array(#"{"code":"NotFound","message":"no emulated service serves this path"}"#.utf8))))
            return
        }
        // Emulator-only routes (`/_emulator/…`) are test plumbing: the service faults never touch them.
        let isControl = service is EmulatorControlService || request.pathSegments.first == "_emulator"
        if faults.refuseAuthentication, !isControl {
            respond(service.authenticationRefusedResponse(to: request))
            return
        }
        if faults.httpThrottleRate > 0, !isControl,
           Double.random(in: 0..<1) < faults.httpThrottleRate {
            respond(service.throttledResponse(to: request))
            return
        }
        service.handle(request, respond: respond)
    }

    func close() {
        let all = servers.withLockedValue { servers in
            defer { servers = [] }
            return servers
        }
        for server in all { server.close() }
    }
}

/// Emulator-only routes under `/_emulator/`: `GET /_emulator/health` answers what the emulator serves. Services
/// add their own test routes under `/_emulator/<service>/…` (documented in docs/emulator.md).
final class EmulatorControlService: EmulatorHTTPService {
    let name = "emulator"
    private let context: EmulatorHTTPContext

    init(context: EmulatorHTTPContext) {
        self.context = context
    }

    func accepts(_ request: EmulatorHTTPRequest) -> Bool {
        request.pathSegments.first == "_emulator" && request.pathSegments.count == 2 && request.pathSegments[1] == "health"
    }

    func answersOnConnectionQueue(_ request: EmulatorHTTPRequest) -> Bool { true }

    func handle(_ request: EmulatorHTTPRequest, respond: @escaping @Sendable (HTTPServerResponse) -> Void) {
        guard request.method == "GET" || request.method == "HEAD" else {
            respond(HTTPServerResponse(status: 405, headers: ["Allow": "GET, HEAD"], text: "use GET\n"))
            return
        }
        let configuration = context.configuration
        let body: [String: Any] = [
            "status": "ok",
            "cosmos_containers": configuration.cosmosContainers.map { "\($0.database)/\($0.container)" },
            "blob_containers": configuration.blobContainers,
            "eventgrid_topics": configuration.eventGridTopics,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        respond(HTTPServerResponse(status: 200, headers: ["Content-Type": "application/json"], body: .bytes(Array(data))))
    }
}
