import ArgumentParser

extension Duration {
    /// A `--timeout`-style flag's value: the CLI takes numeric seconds (users' scripts rely on it) and the
    /// library takes `Duration`, so the conversion happens here, at the edge, checked — `nan`, `inf`, a negative
    /// number or more than a day is a usage error naming the flag, never a trap in `Duration.seconds(_:)`.
    init(cliSeconds seconds: Double, flag: String) throws(ValidationError) {
        guard seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw ValidationError("\(flag) must be in (0, 86400] seconds (got \(seconds))")
        }
        self = .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }
}
