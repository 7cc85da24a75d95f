import ConnectionPooling
import Dispatch
import ToolboxCore

/// Opens and closes the HTTP/1.1 connections of one endpoint for its `ConnectionPool`.
struct HTTPConnector: Connector {
    typealias Connection = HTTPClientConnection

    let endpoint: HTTPEndpoint
    let tls: TLSContext?
    /// The name to verify the certificate against, when not the endpoint's host.
    let serverNameOverride: String?
    let connectTimeout: Double
    let limits: HTTPParserLimits
    let userAgent: String
    /// Counts every connection opened, across all endpoints of the client.
    let opened: LockedValue<Int>

    func create(deadline: Deadline, completion: @escaping @Sendable (Result<HTTPClientConnection, any Error>) -> Void) {
        let endpoint = self.endpoint
        let limits = self.limits
        let userAgent = self.userAgent
        let opened = self.opened
        TCPConnection.connect(
            host: endpoint.host, port: endpoint.port, tls: endpoint.isTLS ? tls : nil,
            serverName: serverNameOverride,
            deadline: min(deadline, .after(seconds: connectTimeout))
        ) { result in
            switch result {
            case .success(let tcp):
                opened.withLockedValue { $0 += 1 }
                completion(.success(HTTPClientConnection(tcp: tcp, endpoint: endpoint, limits: limits, userAgent: userAgent)))
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }

    /// HTTP has no handshake beyond TCP and TLS: the first request proves the connection.
    func ready(_ connection: HTTPClientConnection, deadline: Deadline,
               completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        completion(.success(()))
    }

    func close(_ connection: HTTPClientConnection, completion: @escaping @Sendable () -> Void) {
        connection.tcp.close(mode: .graceful, completion: completion)
    }
}
