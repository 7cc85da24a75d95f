/// A secret value (key, token, password) that never prints itself.
///
/// `description`, `debugDescription` and string interpolation all show `<redacted>`, so a secret that ends up in
/// a log line, an error or a `dump` leaks nothing. Read the value deliberately through `exposedValue`.
public struct Secret<Value: Sendable>: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The secret itself; name the read so it is easy to audit.
    public let exposedValue: Value

    public init(_ value: Value) { self.exposedValue = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

extension Secret: Equatable where Value: Equatable {}
extension Secret: Hashable where Value: Hashable {}
