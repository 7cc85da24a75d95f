#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Date formats the signing schemes use, computed from UNIX seconds with `gmtime_r` (no shared formatters).
public enum UTCDate {
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The current wall-clock time in UNIX seconds.
    public static func nowUnixSeconds() -> Int {
        Int(time(nil))
    }

    /// `2030-01-01T01:00:00Z`, the ISO 8601 form SAS tokens use.
    public static func iso8601(_ unixSeconds: Int) -> String {
        let t = components(unixSeconds)
        return "\(t.tm_year + 1900)-\(pad(t.tm_mon + 1))-\(pad(t.tm_mday))T\(pad(t.tm_hour)):\(pad(t.tm_min)):"
            + "\(pad(t.tm_sec))Z"
    }

    /// `Tue, 01 Jan 2030 00:00:00 GMT`, the RFC 1123 form of `x-ms-date`.
    public static func rfc1123(_ unixSeconds: Int) -> String {
        let t = components(unixSeconds)
        return "\(weekdays[Int(t.tm_wday)]), \(pad(t.tm_mday)) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) "
            + "\(pad(t.tm_hour)):\(pad(t.tm_min)):\(pad(t.tm_sec)) GMT"
    }

    /// UNIX seconds of an ISO 8601 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.fff]Z`, or nil.
    public static func parseISO8601(_ text: String) -> Int? {
        let digits = text.split(whereSeparator: { "-T:Z.".contains($0) }).map { Int($0) }
        guard digits.count >= 6, text.hasSuffix("Z"), let year = digits[0], let month = digits[1],
            let day = digits[2], let hour = digits[3], let minute = digits[4], let second = digits[5]
        else { return nil }
        return unixSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// UNIX seconds of a UTC calendar time, or nil when a field is out of range (values from tokens, SAS queries
    /// and headers are refused, never narrowed into a trap).
    public static func unixSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int? {
        // Values come from tokens and SAS queries: out-of-range fields are refused, never narrowed into a trap.
        guard (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour),
            (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        return Int(timegm(&t))
    }

    private static func components(_ unixSeconds: Int) -> tm {
        var time = time_t(unixSeconds)
        var result = tm()
        gmtime_r(&time, &result)
        return result
    }

    private static func pad(_ value: Int32) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}
