import ArgumentParser
import AzureAuth

/// `--credential default`: Entra ID bearer tokens from `DefaultAzureCredential` (the `AZURE_*` variables), the
/// choice beside a key that `cosmos`, `bench cosmos` and `eventgrid publish` offer.
struct DefaultCredentialOption: ParsableArguments {
    @Option(help: "'default': DefaultAzureCredential (Entra ID bearer tokens) instead of a key.")
    var credential: String?

    func validate() throws {
        if let credential, credential != "default" {
            throw ValidationError("--credential takes 'default' (DefaultAzureCredential)")
        }
    }

    /// `DefaultAzureCredential`, its token requests trusting `caFile` (`--ca-file`) as well as the system store.
    static func make(caFile: String?) throws -> DefaultAzureCredential {
        DefaultAzureCredential(transport: try AuthCommandTransport.make(caFile: caFile))
    }
}
