import AzureAuth
import ToolboxCore

/// The continuation tokens a multi-page query has followed (SHA-256 of each: tokens are opaque and may be long), so
/// that a service answering a page with a token already followed — A, B, A … — is refused instead of being read
/// forever. A token equal to the one just sent is caught per page already; this catches the longer cycles.
package struct CosmosContinuationLog: Sendable {
    private var seen: Set<[UInt8]> = []

    package init(start: String?) {
        if let start { seen.insert(AuthCrypto.sha256(Array(start.utf8))) }
    }

    /// Records `next`, the continuation of page `page` (1-based); `.invalidResponse` when it was followed before.
    package mutating func follow(_ next: String?, page: Int, what: String) throws(ToolboxError) {
        guard let next else { return }
        guard seen.insert(AuthCrypto.sha256(Array(next.utf8))).inserted else {
            let shown = next.count > 40 ? String(next.prefix(40)) + "…" : next
            throw ToolboxError(.invalidResponse, "\(what): page \(page) named continuation '\(shown)', which this "
                + "query had already followed; following it again would repeat pages forever")
        }
    }
}
