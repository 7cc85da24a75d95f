import AzureAuth
import AzureEmulator
import Dispatch
import ToolboxCore

/// A `TokenCredential` whose tokens come from an emulator's own issuer, so credential-based clients (CBS `jwt`)
/// run end to end against the emulator exactly as they would with Entra ID against Azure.
///
/// ```swift
/// let credential = EmulatorTokenCredential(emulator: emulator)
/// let producer = try ManagedEventHubProducer(fullyQualifiedNamespace: emulator.fullyQualifiedNamespace,
///                                            eventHubName: "eh1", credential: credential,
///                                            options: .with { $0.allowPlainTextForDevelopment = true })
/// ```
public final class EmulatorTokenCredential: TokenCredential, Sendable {
    public let credentialName = "EmulatorTokenCredential"
    private let emulator: Emulator
    private let lifetime: Int
    private let limit: Int?
    private let requests = LockedValue(0)

    /// - parameters:
    ///   - lifetime: seconds each token lives (short values exercise refresh on the live connection).
    ///   - limit: hand out this many tokens, then fail every request with `.authenticationFailed` (a credential
    ///     whose refresh stops working: the emulator then detaches links once the last token lapses).
    public init(emulator: Emulator, lifetime: Int = 3600, limit: Int? = nil) {
        self.emulator = emulator
        self.lifetime = lifetime
        self.limit = limit
    }

    /// How many tokens were handed out.
    public var tokensIssued: Int { requests.load() }

    @discardableResult
    public func token(for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
                      completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void) -> any Cancellable {
        let issued: Int = requests.withLockedValue { $0 += 1; return $0 }
        if let limit, issued > limit {
            queue.async { completion(.failure(AuthError(.authenticationFailed, "EmulatorTokenCredential: no more tokens (limit \(limit))"))) }
            return CompletedOperation()
        }
        let token = emulator.issueToken(forScope: scopes.first ?? "https://eventhubs.azure.net//.default",
                                        lifetime: lifetime)
        queue.async { completion(.success(token)) }
        return CompletedOperation()
    }
}
