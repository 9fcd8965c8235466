/// A wall-clock date and time in the proleptic Gregorian calendar, with no time zone: what a
/// clock on the wall shows. Cron expressions match these.
struct LocalDateTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int

    var description: String {
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(hour)):\(two(minute)):\(two(second))"
    }

    static func < (lhs: LocalDateTime, rhs: LocalDateTime) -> Bool {
        lhs.secondsAsIfUTC < rhs.secondsAsIfUTC
    }

    /// Seconds since 1970-01-01 00:00:00 if this wall time were UTC.
    var secondsAsIfUTC: Int64 {
        Int64(Self.daysFromCivil(year: year, month: month, day: day)) * 86_400
            + Int64(hour * 3600 + minute * 60 + second)
    }

    /// The wall time `seconds` after 1970-01-01 00:00:00.
    init(secondsAsIfUTC seconds: Int64) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = Int(seconds - days * 86_400)
        (year, month, day) = Self.civilFromDays(Int(days))
        hour = rest / 3600
        minute = rest % 3600 / 60
        second = rest % 60
    }

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func days(inMonth month: Int, year: Int) -> Int {
        month == 2 ? (isLeapYear(year) ? 29 : 28) : maximumDays(inMonth: month)
    }

    /// Days in `month` in a leap year.
    static func maximumDays(inMonth month: Int) -> Int {
        switch month {
        case 2: 29
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// 0 = Sunday ... 6 = Saturday.
    static func weekday(year: Int, month: Int, day: Int) -> Int {
        let days = daysFromCivil(year: year, month: month, day: day)
        // 1970-01-01 was a Thursday (4).
        return ((days % 7) + 7 + 4) % 7
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
