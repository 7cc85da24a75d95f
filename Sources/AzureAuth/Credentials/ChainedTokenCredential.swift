import Dispatch
import ToolboxCore

/// Tries credentials in order and uses the first that returns a token.
///
/// ```swift
/// let chain = ChainedTokenCredential([EnvironmentCredential(transport: t), AzureCLICredential()])
/// ```
///
/// A member failing with `AuthError.Code.credentialUnavailable` passes the request to the next one; any other
/// failure ends the chain (a real authentication error must not be masked by a later credential). The final
/// error lists every attempted member and why it failed. Once a member succeeds, later requests go to it first
/// when `rememberSuccessful` is set (as DefaultAzureCredential does).
public final class ChainedTokenCredential: TokenCredential, DeliveringTokenCredential, CustomStringConvertible {
    public let credentialName: String
    public let credentials: [any TokenCredential]
    private let rememberSuccessful: Bool
    private let successful = LockedValue<Int?>(nil)

    public init(_ credentials: [any TokenCredential], name: String = "ChainedTokenCredential",
                rememberSuccessful: Bool = false) {
        self.credentials = credentials
        self.credentialName = name
        self.rememberSuccessful = rememberSuccessful
    }

    /// The member that answered last, when `rememberSuccessful` is set.
    public var selectedCredential: (any TokenCredential)? {
        successful.load().map { credentials[$0] }
    }

    func token(for scopes: [String], options: TokenRequestOptions, delivery: TokenDelivery) {
        if let index = successful.load() {
            credentials[index].token(for: scopes, options: options, queue: Self.chainQueue) { result in
                delivery.deliver(result)
            }
            return
        }
        attempt(0, scopes: scopes, options: options, failures: [], delivery: delivery)
    }

    /// A fresh serial queue per use, never a shared `.concurrent` one: see `LibraryQueues.makeWorkQueue`.
    private static var chainQueue: DispatchQueue { LibraryQueues.makeWorkQueue(label: "AzureAuth.chain") }

    private func attempt(
        _ index: Int, scopes: [String], options: TokenRequestOptions, failures: [(String, AuthError)],
        delivery: TokenDelivery
    ) {
        guard index < credentials.count, !delivery.isCompleted else {
            if !delivery.isCompleted { delivery.deliver(.failure(chainError(failures, stopped: false))) }
            return
        }
        let member = credentials[index]
        member.token(for: scopes, options: options, queue: Self.chainQueue) { [self] result in
            switch result {
            case .success(let token):
                if rememberSuccessful { successful.withLockedValue { $0 = index } }
                delivery.deliver(.success(token))
            case .failure(let error) where error.code == .credentialUnavailable:
                attempt(index + 1, scopes: scopes, options: options,
                    failures: failures + [(member.credentialName, error)], delivery: delivery)
            case .failure(let error):
                delivery.deliver(.failure(chainError(failures + [(member.credentialName, error)], stopped: true)))
            }
        }
    }

    private func chainError(_ failures: [(String, AuthError)], stopped: Bool) -> AuthError {
        let lines = failures.map { "\n\t\($0.0): \($0.1.message)" }.joined()
        if stopped, let last = failures.last {
            return AuthError(last.1.code, "\(credentialName) stopped at \(last.0), which failed with an error that "
                + "is not 'unavailable'. Attempted credentials:\(lines)")
        }
        return AuthError(.credentialUnavailable, "\(credentialName) failed to retrieve a token from the included "
            + "credentials. Attempted credentials:\(lines)")
    }

    public var description: String {
        "\(credentialName)(\(credentials.map(\.credentialName).joined(separator: ", ")))"
    }
}
