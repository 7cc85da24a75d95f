import ToolboxCore

/// The emulator raises `ToolboxError`s with the codes below (or `.listenFailed`, `.invalidConfiguration`); the
/// old name stays for code written against it.
///
/// ```swift
/// do { _ = try Emulator.start(configuration) }
/// catch let error as ToolboxError where error.code == .listenFailed { ... }
/// ```
///
/// Messages never contain the namespace key or tokens.
public typealias EmulatorError = ToolboxError

extension ToolboxError.Code {
    /// A TLS certificate could not be loaded or generated.
    public static let tlsFailed = Self("tlsFailed")
}
