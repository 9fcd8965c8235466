import Foundation

/// A cron expression read as wall-clock times in one time zone: computes the instants it fires.
///
/// Daylight-saving rule (any UTC-offset change, in fact):
/// - a wall time that does not exist that day (spring forward: 02:30 when clocks jump from 02:00 to
///   03:00) fires once, at the first valid instant after it — the moment of the jump (03:00);
/// - a wall time that happens twice (fall back: 01:30 when clocks go from 02:00 back to 01:00)
///   fires once, at its first occurrence; the repeated hour does not fire again.
/// So a daily 02:30 job runs exactly once on both change days, and every schedule's fire times
/// strictly increase. Fire times are whole seconds.
public struct CronSchedule: Sendable {
    /// The expression.
    public let expression: CronExpression
    /// The zone whose wall clock the expression is read in.
    public let timeZone: TimeZone

    /// Parses `cron` for the IANA zone `timeZone`; throws ``CronParseError`` or
    /// ``UnknownTimeZoneError``.
    public init(_ cron: String, timeZone: String = "UTC") throws {
        guard let zone = TimeZone(identifier: timeZone) else { throw UnknownTimeZoneError(name: timeZone) }
        self.init(expression: try CronExpression(cron), timeZone: zone)
    }

    /// A schedule for a parsed expression in a zone.
    public init(expression: CronExpression, timeZone: TimeZone) {
        self.expression = expression
        self.timeZone = timeZone
    }

    /// The first fire time strictly after `date`, or nil if it never fires again.
    public func nextFire(after date: Date) -> Date? {
        let after = Int64(date.timeIntervalSince1970.rounded(.down))
        var wall = LocalDateTime(secondsAsIfUTC: after + Int64(offset(at: after)))
        // Wall times whose instant is not after `date` (the repeated hour) are passed over.
        for _ in 0..<100_000 {
            guard let next = expression.nextMatch(after: wall) else { return nil }
            let instant = firstInstant(of: next)
            if Double(instant) > date.timeIntervalSince1970 {
                return Date(timeIntervalSince1970: Double(instant))
            }
            wall = next
        }
        return nil
    }

    /// Fire times in `(after, through]`, oldest first; at most `limit` of them, the latest ones,
    /// however far back they are.
    ///
    /// `start` bounds the search: the scheduler passes the schedule's last tick (or the time it was
    /// defined), so a backfill reaches back to there and no further.
    public func fires(after start: Date, through end: Date, limit: Int) -> [Date] {
        guard limit > 0, start < end else { return [] }
        // Look back from `end` in windows growing eightfold, so a schedule firing every second
        // stops after a few seconds' walk, and one firing once in years widens the window until it
        // holds `limit` fires or reaches `start` (a few dozen windows even from year 1).
        var window: TimeInterval = 64
        while true {
            let from = max(start, end.addingTimeInterval(-window))
            var found: [Date] = []
            var cursor = from
            while let next = nextFire(after: cursor), next <= end {
                found.append(next)
                if found.count > limit { found.removeFirst(found.count - limit) }
                cursor = next
            }
            if found.count >= limit || from == start {
                return found
            }
            window *= 8
        }
    }

    /// The UTC offset in seconds at an instant.
    func offset(at instant: Int64) -> Int {
        timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
    }

    /// The instant a wall time first occurs; for a wall time skipped by a forward jump, the
    /// instant of the jump.
    func firstInstant(of wall: LocalDateTime) -> Int64 {
        let asUTC = wall.secondsAsIfUTC
        let candidates = Set([offset(at: asUTC - 86_400), offset(at: asUTC), offset(at: asUTC + 86_400)])
        let valid = candidates.map { asUTC - Int64($0) }.filter { offset(at: $0) == Int(asUTC - $0) }
        if let first = valid.min() { return first }
        // Skipped: find the jump between the instant read with the later (larger) offset, which is
        // still before the jump, and the one read with the earlier offset, which is after it.
        var low = asUTC - Int64(candidates.max()!)
        var high = asUTC - Int64(candidates.min()!)
        let after = offset(at: high)
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if offset(at: middle) == after { high = middle } else { low = middle }
        }
        return high
    }
}

/// A time zone name that is not a known IANA zone.
public struct UnknownTimeZoneError: Error, Equatable, CustomStringConvertible {
    /// The name.
    public var name: String

    public var description: String { "unknown time zone \"\(name)\"; use an IANA name such as Europe/Berlin or UTC" }
}
