import ToolboxCore

/// Every error the emulator throws or delivers: a code to match on and a message saying what to change.
///
/// ```swift
/// do { _ = try Emulator.start(configuration) }
/// catch let error as EmulatorError where error.code == .listenFailed { ... }
/// ```
///
/// Messages never contain the namespace key or tokens.
public struct EmulatorError: ToolboxError, Equatable {
    /// What kind of failure this is.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A listener could not be bound (port in use, not a numeric address).
        public static let listenFailed = Code(rawValue: "listenFailed")
        /// The configuration cannot be used (bad entity name, partition count, missing certificate file).
        public static let invalidConfiguration = Code(rawValue: "invalidConfiguration")
        /// A TLS certificate could not be loaded or generated.
        public static let tlsFailed = Code(rawValue: "tlsFailed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func == (lhs: EmulatorError, rhs: EmulatorError) -> Bool { lhs.code == rhs.code }
}
