import Dispatch
import Foundation
import ToolboxCore

/// Gets tokens from the Azure CLI: runs `az account get-access-token` for the signed-in account.
///
/// ```swift
/// let credential = AzureCLICredential()
/// let token = try credential.token(for: ["https://storage.azure.com/.default"])
/// ```
///
/// `az` is found on the `PATH` of `environment` and run in `/bin` with stdin closed and
/// `AZURE_CORE_NO_COLOR=true`, killed after `processTimeout`. Like azure-identity, this credential does
/// not cache: every call runs `az` (clients cache through their own token policies).
public struct AzureCLICredential: TokenCredential, DeliveringTokenCredential, CustomStringConvertible {
    public let credentialName = "AzureCLICredential"
    public let tenantID: String?
    public let subscription: String?
    public let processTimeout: Duration
    /// Tenants other than `tenantID` that `TokenRequestOptions.tenantID` may name (`*`: any).
    public let additionallyAllowedTenants: [String]
    private let environment: [String: String]

    public init(
        tenantID: String? = nil, subscription: String? = nil, processTimeout: Duration = .seconds(10),
        additionallyAllowedTenants: [String]? = nil,
        environment: [String: String] = AzureEnvironmentVariable.processEnvironment
    ) {
        self.tenantID = tenantID
        self.subscription = subscription
        self.processTimeout = processTimeout
        self.additionallyAllowedTenants = additionallyAllowedTenants
            ?? TenantPolicy.allowedFromEnvironment(environment)
        self.environment = environment
    }

    func token(for scopes: [String], options: TokenRequestOptions, delivery: TokenDelivery) {
        let resource: String
        switch ScopeResource.resource(for: scopes, credential: credentialName) {
        case .success(let value): resource = value
        case .failure(let error):
            delivery.deliver(.failure(error))
            return
        }
        var arguments = ["account", "get-access-token", "--output", "json", "--resource", resource]
        let tenantID: String?
        switch TenantPolicy.resolve(
            configured: self.tenantID, requested: options.tenantID, allowed: additionallyAllowedTenants,
            environment: environment, credential: credentialName)
        {
        case .success(let resolved): tenantID = resolved
        case .failure(let error):
            delivery.deliver(.failure(error))
            return
        }
        if let tenantID {
            do throws(AuthError) {
                try EntraTokenEndpoint.validateTenant(tenantID)
            } catch {
                delivery.deliver(.failure(error))
                return
            }
            arguments += ["--tenant", tenantID]
        }
        if let subscription {
            let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_. ".utf8)
            guard subscription.utf8.allSatisfy({ allowed.contains($0) }) else {
                delivery.deliver(.failure(AuthError(.invalidArgument, "the subscription '\(subscription)' may "
                    + "contain only letters, digits, spaces and '-_.'")))
                return
            }
            arguments += ["--subscription", subscription]
        }
        guard let az = ProcessRunner.locate("az", environment: environment) else {
            delivery.deliver(.failure(AuthError(.credentialUnavailable, "AzureCLICredential is unavailable: Azure "
                + "CLI ('az') not found on PATH; install it or use another credential")))
            return
        }
        var childEnvironment = environment
        childEnvironment["AZURE_CORE_NO_COLOR"] = "true"
        let timeout = min(max(processTimeout.toolboxSeconds, 0), max(options.deadline.secondsRemaining, 0))
        ProcessRunner.run(
            executable: az, arguments: arguments, environment: childEnvironment, workingDirectory: "/bin",
            timeout: timeout
        ) { result in
            delivery.deliver(result.flatMap(Self.parse))
        }
    }

    /// Maps `az`'s exit status and output to a token or an error (never echoing stdout, which holds the token).
    static func parse(_ output: ProcessOutput) -> Result<AccessToken, AuthError> {
        let stderr = String(decoding: output.stderr, as: UTF8.self).trimmingWhitespace()
        guard output.status == 0 else {
            if output.status == 127 || stderr.contains("not found") && stderr.contains("az") {
                return .failure(AuthError(.credentialUnavailable, "AzureCLICredential is unavailable: Azure CLI "
                    + "not found on PATH"))
            }
            if (stderr.contains("az login") || stderr.contains("az account set")) && !stderr.contains("AADSTS") {
                return .failure(AuthError(.credentialUnavailable, "AzureCLICredential is unavailable: please run "
                    + "'az login' to set up an account"))
            }
            return .failure(AuthError(.authenticationFailed, "'az account get-access-token' exited with status "
                + "\(output.status): \(String(stderr.prefix(400)))"))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(output.stdout))) as? [String: Any],
            let token = object["accessToken"] as? String, !token.isEmpty
        else {
            return .failure(AuthError(.authenticationFailed, "'az account get-access-token' printed output "
                + "without 'accessToken' (\(output.stdout.count) bytes); update the Azure CLI"))
        }
        let accepted = 1...TokenResponseParser.latestExpiry
        do {
            if let expiresOn = try TokenResponseParser.seconds(
                object["expires_on"], field: "expires_on", source: "'az account get-access-token'", in: accepted,
                token: token)
            {
                return .success(AccessToken(token: Secret(token), expiresOn: expiresOn))
            }
        } catch let error as AuthError {
            return .failure(error)
        } catch {
            return .failure(AuthError(.authenticationFailed, "\(error)"))
        }
        if let text = object["expiresOn"] as? String, let expiresOn = parseLocalTime(text), accepted.contains(expiresOn) {
            return .success(AccessToken(token: Secret(token), expiresOn: expiresOn))
        }
        return .failure(AuthError(.authenticationFailed, "'az account get-access-token' printed no usable "
            + "'expires_on' or 'expiresOn'"))
    }

    /// `2026-11-25 21:22:17.000000`, a naive local time, as UNIX seconds.
    static func parseLocalTime(_ text: String) -> Int? {
        let parts = text.split(whereSeparator: { "-: .".contains($0) }).compactMap { Int($0) }
        guard parts.count >= 6 else { return nil }
        // Each field must be plausible before it goes into an Int32 (a 12-digit "year" must not trap).
        guard (1970...9999).contains(parts[0]), (1...12).contains(parts[1]), (1...31).contains(parts[2]),
            (0...23).contains(parts[3]), (0...59).contains(parts[4]), (0...60).contains(parts[5])
        else { return nil }
        var t = tm()
        t.tm_year = Int32(truncatingIfNeeded: parts[0] - 1900)
        t.tm_mon = Int32(truncatingIfNeeded: parts[1] - 1)
        t.tm_mday = Int32(truncatingIfNeeded: parts[2])
        t.tm_hour = Int32(truncatingIfNeeded: parts[3])
        t.tm_min = Int32(truncatingIfNeeded: parts[4])
        t.tm_sec = Int32(truncatingIfNeeded: parts[5])
        t.tm_isdst = -1
        let seconds = mktime(&t)
        return seconds == -1 ? nil : Int(seconds)
    }

    public var description: String {
        "AzureCLICredential(tenantID: \(tenantID ?? "default"), timeout: \(processTimeout))"
    }
}
