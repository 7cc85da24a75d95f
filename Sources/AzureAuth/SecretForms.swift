/// The forms in which a credential sent on the wire may come back in a peer's answer, for `Redaction`: the value
/// as sent, percent-decoded, a bearer token without its scheme, and every `sig=` parameter's value (a SAS
/// signature, a Cosmos token's JWT) raw and decoded.
package enum SecretForms {
    package static func of(_ values: [String]) -> [String] {
        var forms: [String] = []
        for value in values where !value.isEmpty {
            let decoded = PercentEncoding.unquote(value)
            for text in [value, decoded] {
                forms.append(text)
                if text.hasPrefix("Bearer ") { forms.append(String(text.dropFirst("Bearer ".count))) }
                if text.hasPrefix("SharedAccessSignature ") {
                    forms.append(String(text.dropFirst("SharedAccessSignature ".count)))
                }
                // Storage's `SharedKey account:SIGNATURE`: its AuthenticationFailed detail quotes the bare MAC.
                if text.hasPrefix("SharedKey "), let colon = text.lastIndex(of: ":") {
                    forms.append(String(text[text.index(after: colon)...]))
                }
                for parameter in text.split(whereSeparator: { $0 == "&" || $0 == "?" || $0 == " " }) {
                    let pair = parameter.split(separator: "=", maxSplits: 1)
                    if pair.count == 2, pair[0].lowercased() == "sig" {
                        forms.append(String(pair[1]))
                        forms.append(PercentEncoding.unquote(String(pair[1])))
                    }
                }
            }
        }
        return forms
    }
}
