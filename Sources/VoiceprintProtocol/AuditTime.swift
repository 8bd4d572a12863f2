import Foundation

/// Times in the audit trail: ISO-8601 in UTC with a `Z`, to the second or with
/// fractional seconds, the form `date -u +%FT%TZ` prints and scripts compare.
public enum AuditTime {
    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// Accepts `2026-12-01T09:30:00Z`, with fractional seconds, or a date alone (`2026-12-01`, midnight UTC).
    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
