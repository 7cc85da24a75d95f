import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// Fetches the source of Put Blob From URL with ToolboxTransport's `HTTPClient` (trusting the emulator's CA),
/// cutting the body into blocks as it arrives, so a large source is never one contiguous copy.
///
/// Only loopback sources are fetched (`127.0.0.0/8`, `::1`, `localhost`): the emulator must not become a way
/// to reach other hosts.
final class BlobURLCopier: Sendable {
    /// What a successful fetch produced.
    struct Fetched: Sendable {
        var blocks: [BlobBlock]
        var size: Int
        var contentType: String?
    }

    static let blockSize = 4 << 20

    private let client: LockedValue<HTTPClient?>
    private let caFile: String?

    init(caFile: String?) {
        self.caFile = caFile
        client = LockedValue(nil)
    }

    deinit {
        if let client = client.load() { client.shutdown(queue: LibraryQueues.ignoredCompletions) {} }
    }

    private func httpClient() throws -> HTTPClient {
        try client.withLockedValue { client in
            if let client { return client }
            var configuration = HTTPClientConfiguration()
            if let caFile { configuration.tls = TLSClientConfiguration(trustRoots: .file(caFile)) }
            configuration.maxConnectionsPerEndpoint = 8
            let made = try HTTPClient(configuration: configuration)
            client = made
            return made
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "::1" { return true }
        let octets = lowered.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// GETs `url` (with `authorization` as its `Authorization` header when given), keeping at most `maxBytes`.
    func fetch(_ url: String, authorization: String?, maxBytes: Int,
               completion: @escaping @Sendable (Result<Fetched, BlobError>) -> Void) {
        let request: HTTPRequest
        do {
            request = try HTTPRequest(url: url)
        } catch {
            return completion(.failure(BlobError(400, "InvalidHeaderValue", "x-ms-copy-source is not an absolute http(s) URL.")))
        }
        guard Self.isLoopback(request.endpoint.host) else {
            return completion(.failure(BlobError(400, "CannotVerifyCopySource",
                                                 "The emulator copies only from loopback URLs (127.0.0.1, ::1, localhost).")))
        }
        var sourceRequest = request
        if let authorization { sourceRequest.headers.add(name: "Authorization", value: authorization) }
        let client: HTTPClient
        do {
            client = try httpClient()
        } catch {
            return completion(.failure(BlobError(500, "InternalError", "The emulator could not set up its HTTP client: \(error)")))
        }
        let collector = Collector(maxBytes: maxBytes)
        let handle = client.stream(sourceRequest, deadline: .after(seconds: 300),
                                   queue: LibraryQueues.makeWorkQueue(label: "AzureEmulator.blob-copy")) { head in
            collector.head(head)
        } onBody: { bytes in
            if !collector.append(bytes) { collector.cancel() }
        } completion: { result in
            completion(collector.finish(result))
        }
        collector.setHandle(handle)
    }

    /// The fetch's state, touched from the client's serial delivery queue and from `fetch`.
    private final class Collector: Sendable {
        struct State {
            var status = 0
            var contentType: String?
            var blocks: [BlobBlock] = []
            var current: [UInt8] = []
            var size = 0
            var tooLarge = false
            var handle: (any Cancellable)?
            var cancelled = false
        }

        let maxBytes: Int
        private let state = LockedValue(State())

        init(maxBytes: Int) { self.maxBytes = maxBytes }

        func head(_ head: HTTPResponseHead) {
            state.withLockedValue {
                $0.status = head.status
                $0.contentType = head.headers.first(name: "Content-Type")
            }
        }

        /// False when the source is larger than allowed (the fetch is then cancelled).
        func append(_ bytes: [UInt8]) -> Bool {
            state.withLockedValue { state in
                guard (200..<300).contains(state.status), !state.tooLarge else { return true }
                let (sum, overflow) = state.size.addingReportingOverflow(bytes.count)
                if overflow || sum > maxBytes {
                    state.tooLarge = true
                    state.blocks = []
                    state.current = []
                    return false
                }
                state.size = sum
                state.current += bytes
                if state.current.count >= BlobURLCopier.blockSize {
                    state.blocks.append(BlobBlock(id: "", bytes: state.current))
                    state.current = []
                }
                return true
            }
        }

        func setHandle(_ handle: any Cancellable) {
            let cancelNow = state.withLockedValue { state in
                state.handle = handle
                return state.cancelled
            }
            if cancelNow { handle.cancel() }
        }

        func cancel() {
            let handle = state.withLockedValue { state in
                state.cancelled = true
                return state.handle
            }
            handle?.cancel()
        }

        func finish(_ result: Result<HTTPResponseHead, TransportError>) -> Result<Fetched, BlobError> {
            state.withLockedValue { state in
                if state.tooLarge {
                    return .failure(BlobError(413, "RequestBodyTooLarge", "The copy source is larger than the \(maxBytes) "
                        + "bytes the emulator can take now (httpLimits.maxBlobBytes, or what is left of maxBlobStoreBytes)."))
                }
                if case .failure(let error) = result {
                    return .failure(BlobError(409, "CannotVerifyCopySource", "The copy source could not be read: \(error)"))
                }
                guard (200..<300).contains(state.status) else {
                    var error = BlobError((400..<500).contains(state.status) ? state.status : 409, "CannotVerifyCopySource",
                                          "The copy source answered HTTP \(state.status).")
                    error.headers["x-ms-copy-source-status-code"] = String(state.status)
                    return .failure(error)
                }
                if !state.current.isEmpty { state.blocks.append(BlobBlock(id: "", bytes: state.current)) }
                let fetched = Fetched(blocks: state.blocks, size: state.size, contentType: state.contentType)
                state.blocks = []
                state.current = []
                return .success(fetched)
            }
        }
    }
}

extension BlobService {
    /// Put Blob From URL: the service reads `x-ms-copy-source` itself, then stores it as the blob.
    func putBlobFromURL(_ container: String, _ blob: String, _ request: EmulatorHTTPRequest, _ responder: BlobResponder,
                        respond: @escaping @Sendable (HTTPServerResponse) -> Void) {
        guard request.header("x-ms-blob-type") == "BlockBlob" else {
            return respond(responder.error(BlobError(400, "MissingRequiredHeader",
                                                     "Put Blob From URL needs x-ms-blob-type: BlockBlob.")))
        }
        guard request.body.isEmpty else {
            return respond(responder.error(BlobError(400, "InvalidHeaderValue", "Put Blob From URL takes no request body (Content-Length: 0).")))
        }
        let source = request.header("x-ms-copy-source") ?? ""
        let requested: BlobContentSettings
        switch Self.contentSettings(request, standardHeadersToo: false) {
        case .success(let settings): requested = settings
        case .failure(let error): return respond(responder.error(error))
        }
        let metadata: [(name: String, value: String)]
        switch Self.metadata(request) {
        case .success(let pairs): metadata = pairs
        case .failure(let error): return respond(responder.error(error))
        }
        // Conditions are checked before the fetch (cheap refusal) and again, atomically, when storing.
        let conditions = Self.conditions(request)
        if case .failure(let error) = store.putBlobPrecheck(container, blob, conditions: conditions) {
            return respond(responder.error(error))
        }
        let sentContentType = request.header("x-ms-blob-content-type")
        // Bounded by the room the store has left too: the fetched bytes are held whole until stored, and a source
        // of shared blocks (one block committed many times) is materialised byte for byte.
        let room = store.room(replacing: blob, in: container)
        copier.fetch(source, authorization: request.header("x-ms-copy-source-authorization"),
                     maxBytes: min(store.maxBlobBytes, room)) { [store] result in
            switch result {
            case .failure(let error):
                respond(responder.error(error))
            case .success(let fetched):
                var content = requested
                if sentContentType == nil, let type = fetched.contentType { content.contentType = type }
                switch store.putBlob(container, blob, blocks: fetched.blocks, content: content, metadata: metadata, conditions: conditions) {
                case .success(let stored): respond(responder.respond(201, Self.writeHeaders(stored)))
                case .failure(let error): respond(responder.error(error))
                }
            }
        }
    }
}
