// libFuzzer entry point for AzureAuth's token-response parser (Entra ID, IMDS, App Service, Azure CLI answers);
// built by Fuzz/run.sh.
//
// Each input is parsed three ways: as a whole response body, as the `expires_on` string of an otherwise valid
// body, and as the raw JSON value of `expires_in`. The parser may refuse any of them (that is what it is for);
// it must never trap (issue 13: "1e999", 1e300, "nan" and 23-digit numbers did), never accept a non-positive
// expiry or one beyond the year 9999, and never put the token into an error message.
import Foundation

private let now = 1_800_000_000
private let secret = "fuzz-secret-token-value"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenResponse(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    let bodies: [[UInt8]] = [
        bytes,
        Array("{\"access_token\":\"\(secret)\",\"expires_on\":\"\(escaped)\"}".utf8),
        Array("{\"access_token\":\"\(secret)\",\"expires_in\":\(text)}".utf8),
    ]
    for body in bodies {
        for status in [200, 400] {
            check(TokenResponseParser.parse(TokenHTTPResponse(status: status, body: body), now: now, source: "fuzz"),
                  body: body)
        }
    }
    _ = TokenResponseParser.wholeNumber(text)
    return 0
}

private func check(_ result: Result<AccessToken, AuthError>, body: [UInt8]) {
    switch result {
    case .success(let token):
        precondition(token.expiresOn > 0, "accepted a non-positive expiry: \(token.expiresOn)")
        precondition(token.expiresOn <= TokenResponseParser.latestExpiry, "accepted expiry \(token.expiresOn)")
        if let refreshOn = token.refreshOn { precondition(refreshOn >= now, "refresh before now: \(refreshOn)") }
    case .failure(let error):
        precondition(!error.message.isEmpty, "errors must explain themselves")
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        for key in ["access_token", "accessToken"] {
            if let token = object?[key] as? String, token.count >= 8 {
                precondition(!"\(error)".contains(token), "an error message contains the token")
            }
        }
    }
}
