/// The protocol every error thrown or delivered by the toolbox conforms to.
///
/// Descriptions are written for the person reading a log: what went wrong, and what to change. They never
/// contain secrets (keys, SAS tokens, bearer tokens, connection strings).
public protocol ToolboxError: Error, CustomStringConvertible, Sendable {}

/// Errors raised by ToolboxCore's own helpers.
public struct CoreError: ToolboxError, Equatable {
    public enum Code: String, Sendable, Equatable {
        /// A blocking wrapper was called on a queue the library delivers on; waiting there would deadlock.
        case blockingCallOnLibraryQueue
        /// The operation was cancelled through its `Cancellable`.
        case cancelled
        /// The operation's deadline passed.
        case timedOut
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func == (lhs: CoreError, rhs: CoreError) -> Bool { lhs.code == rhs.code }
}
