import Foundation

/// A parsed cron expression: which wall-clock times (seconds, minutes, hours, days, months,
/// weekdays) it matches, independent of any time zone.
///
/// Accepted syntax:
/// - 5 fields `minute hour day-of-month month day-of-week`, or 6 with `second` first;
/// - in each field: `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from `a` to the
///   field's end), and comma-separated lists of these; `?` means `*` in the day fields;
/// - months `JAN`–`DEC` and weekdays `SUN`–`SAT` by name (any case); weekday 0 and 7 are Sunday.
///   In day-of-week `*` is 0–6 and the end of `a/n` is 7, so `*/2` is Sunday, Tuesday, Thursday,
///   Saturday; `1/2` is Monday, Wednesday, Friday, Sunday; `7/1` is Sunday; `5/1` Friday to Sunday;
/// - the aliases `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly`.
///
/// Days follow classic (Vixie) cron: when both day-of-month and day-of-week are restricted (do not
/// start with `*`), a day matches if *either* matches; otherwise both must.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    /// The text it was parsed from, trimmed.
    public let source: String
    let seconds: CronField
    let minutes: CronField
    let hours: CronField
    let daysOfMonth: CronField
    let months: CronField
    let daysOfWeek: CronField
    let daysOfMonthRestricted: Bool
    let daysOfWeekRestricted: Bool

    public var description: String { source }

    /// Parses `text`; throws ``CronParseError`` naming the field and the problem.
    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        source = trimmed
        var fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if fields.count == 1, let first = fields.first, first.hasPrefix("@") {
            guard let expansion = Self.aliases[first.lowercased()] else {
                throw CronParseError(text: trimmed, message: "unknown alias \(first) (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)")
            }
            fields = expansion.split(separator: " ").map(String.init)
        }
        switch fields.count {
        case 5: fields.insert("0", at: 0)
        case 6: break
        default:
            throw CronParseError(text: trimmed, message: "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), found \(fields.count)")
        }
        seconds = try CronField.parse(fields[0], kind: .second, in: trimmed)
        minutes = try CronField.parse(fields[1], kind: .minute, in: trimmed)
        hours = try CronField.parse(fields[2], kind: .hour, in: trimmed)
        daysOfMonth = try CronField.parse(fields[3], kind: .dayOfMonth, in: trimmed)
        months = try CronField.parse(fields[4], kind: .month, in: trimmed)
        daysOfWeek = try CronField.parse(fields[5], kind: .dayOfWeek, in: trimmed)
        daysOfMonthRestricted = !(fields[3].hasPrefix("*") || fields[3].hasPrefix("?"))
        daysOfWeekRestricted = !(fields[5].hasPrefix("*") || fields[5].hasPrefix("?"))
        if daysOfMonthRestricted && !daysOfWeekRestricted {
            // Days of the month alone decide: some chosen day must exist in some chosen month.
            let possible = (1...12).contains { month in
                months.contains(month) && (1...LocalDateTime.maximumDays(inMonth: month)).contains { daysOfMonth.contains($0) }
            }
            if !possible {
                throw CronParseError(text: trimmed, message: "it never fires: no chosen day of the month exists in a chosen month")
            }
        }
    }

    /// The Gregorian calendar's cycle: dates fall on the same weekdays every 400 years.
    static let calendarCycleYears = 400

    /// `text` as schedules store it: trimmed, and an alias in lowercase (`@HOURLY` becomes
    /// `@hourly`, which the `pgworker.schedules` CHECK accepts). Fields are left as written.
    public static func normalized(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.hasPrefix("@") ? trimmed.lowercased() : trimmed
    }

    static let aliases = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Whether the wall-clock time matches.
    func matches(_ time: LocalDateTime) -> Bool {
        seconds.contains(time.second) && minutes.contains(time.minute) && hours.contains(time.hour)
            && months.contains(time.month) && dayMatches(year: time.year, month: time.month, day: time.day)
    }

    func dayMatches(year: Int, month: Int, day: Int) -> Bool {
        let byMonthDay = daysOfMonth.contains(day)
        let byWeekday = daysOfWeek.contains(LocalDateTime.weekday(year: year, month: month, day: day))
        if daysOfMonthRestricted && daysOfWeekRestricted { return byMonthDay || byWeekday }
        return byMonthDay && byWeekday
    }

    /// The first matching wall-clock time strictly after `time`, or nil when there is none at all.
    ///
    /// Matches can be more than a decade apart (December 31st on a Sunday: 2090, then 2102), so
    /// the search runs until it finds one, or has covered 400 years: the Gregorian calendar repeats
    /// every 400 years (146,097 days, a whole number of weeks), so an expression with no match in
    /// 400 consecutive years has none ever.
    func nextMatch(after time: LocalDateTime) -> LocalDateTime? {
        var (year, month, day, hour, minute, second) = (time.year, time.month, time.day, time.hour, time.minute, time.second + 1)
        let lastYear = time.year + Self.calendarCycleYears
        while year <= lastYear {
            // Carry overflowing fields upwards.
            if second > 59 { second = 0; minute += 1 }
            if minute > 59 { minute = 0; hour += 1 }
            if hour > 23 { hour = 0; day += 1 }
            if day > LocalDateTime.days(inMonth: month, year: year) { day = 1; month += 1 }
            if month > 12 { month = 1; year += 1; continue }

            if !months.contains(month) {
                month += 1; day = 1; hour = 0; minute = 0; second = 0
                if month > 12 { month = 1; year += 1 }
                continue
            }
            if !dayMatches(year: year, month: month, day: day) {
                day += 1; hour = 0; minute = 0; second = 0
                continue
            }
            guard let nextHour = hours.first(atOrAfter: hour) else {
                day += 1; hour = 0; minute = 0; second = 0
                continue
            }
            if nextHour != hour { hour = nextHour; minute = 0; second = 0 }
            guard let nextMinute = minutes.first(atOrAfter: minute) else {
                hour += 1; minute = 0; second = 0
                continue
            }
            if nextMinute != minute { minute = nextMinute; second = 0 }
            guard let nextSecond = seconds.first(atOrAfter: second) else {
                minute += 1; second = 0
                continue
            }
            return LocalDateTime(year: year, month: month, day: day, hour: hour, minute: minute, second: nextSecond)
        }
        return nil
    }
}

/// Why a cron expression was rejected.
public struct CronParseError: Error, Equatable, CustomStringConvertible {
    /// The expression.
    public var text: String
    /// What is wrong with it.
    public var message: String

    public var description: String { "invalid cron expression \"\(text)\": \(message)" }
}

/// The set of values one cron field allows, as a bit set.
struct CronField: Sendable, Equatable {
    enum Kind {
        case second, minute, hour, dayOfMonth, month, dayOfWeek

        var name: String {
            switch self {
            case .second: "second"
            case .minute: "minute"
            case .hour: "hour"
            case .dayOfMonth: "day-of-month"
            case .month: "month"
            case .dayOfWeek: "day-of-week"
            }
        }

        /// The values a field may name; day-of-week accepts 7 for Sunday.
        var range: ClosedRange<Int> {
            switch self {
            case .second, .minute: 0...59
            case .hour: 0...23
            case .dayOfMonth: 1...31
            case .month: 1...12
            case .dayOfWeek: 0...7
            }
        }

        var names: [String] {
            switch self {
            case .month: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
            case .dayOfWeek: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
            default: []
            }
        }

        /// The value of the first name (JAN = 1, SUN = 0).
        var firstNameValue: Int { self == .month ? 1 : 0 }
    }

    private(set) var bits: UInt64 = 0

    var isEmpty: Bool { bits == 0 }

    func contains(_ value: Int) -> Bool { value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0 }

    /// The smallest allowed value at or after `value`.
    func first(atOrAfter value: Int) -> Int? {
        guard value < 64 else { return nil }
        let remaining = bits & ~((UInt64(1) << UInt64(max(value, 0))) &- 1)
        return remaining == 0 ? nil : remaining.trailingZeroBitCount
    }

    static func parse(_ text: String, kind: Kind, in expression: String) throws -> CronField {
        func fail(_ message: String) -> CronParseError {
            CronParseError(text: expression, message: "\(kind.name) field \"\(text)\": \(message)")
        }
        var field = CronField()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("empty list item") }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw fail("more than one '/' in \"\(item)\"") }
            var step = 1
            if parts.count == 2 {
                guard let parsed = Int(parts[1]), parsed >= 1 else { throw fail("step \"\(parts[1])\" must be a whole number of at least 1") }
                guard parsed <= kind.range.upperBound else { throw fail("step \(parsed) is larger than the field's range") }
                step = parsed
            }
            let base = parts[0]
            var low: Int, high: Int
            if base == "*" || (base == "?" && (kind == .dayOfMonth || kind == .dayOfWeek)) {
                low = kind.range.lowerBound
                high = kind == .dayOfWeek ? 6 : kind.range.upperBound
            } else {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw fail("\"\(base)\" is not a value or a range a-b") }
                low = try value(bounds[0], kind: kind, fail: fail)
                if bounds.count == 2 {
                    high = try value(bounds[1], kind: kind, fail: fail)
                    guard low <= high else { throw fail("range \(base) runs backwards") }
                } else {
                    // `a/n` runs to the field's end; in day-of-week that is 7 (Sunday), so `7/1`
                    // is Sunday and `5/1` is Friday to Sunday.
                    high = parts.count == 2 ? kind.range.upperBound : low
                }
            }
            for value in stride(from: low, through: high, by: step) {
                let normalized = kind == .dayOfWeek && value == 7 ? 0 : value
                field.bits |= 1 << UInt64(normalized)
            }
        }
        // Every item names at least its first value, so this only guards future syntax.
        guard !field.isEmpty else { throw fail("it matches no value") }
        return field
    }

    private static func value(_ text: Substring, kind: Kind, fail: (String) -> CronParseError) throws -> Int {
        if let number = Int(text), text.allSatisfy(\.isNumber) {
            guard kind.range.contains(number) else {
                throw fail("\(number) is out of range \(kind.range.lowerBound)-\(kind.range.upperBound)")
            }
            return number
        }
        if let index = kind.names.firstIndex(of: text.uppercased()) {
            return index + kind.firstNameValue
        }
        if text.isEmpty { throw fail("a value is missing") }
        throw fail("\"\(text)\" is not a number\(kind.names.isEmpty ? "" : " or a name (\(kind.names.joined(separator: " ")))")")
    }
}
