import Foundation
@testable import PGWorker
import XCTest

/// The cron parser and fire-time computation, without a database.
final class CronExpressionTests: XCTestCase {
    private func values(_ field: CronField, _ range: ClosedRange<Int>) -> [Int] { range.filter(field.contains) }

    private func utc(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        return formatter.date(from: text)!
    }

    private func iso(_ date: Date?) -> String? {
        date.map { ISO8601DateFormatter().string(from: $0) }
    }

    // MARK: - Fields

    func testEveryFieldFormParses() throws {
        let cron = try CronExpression("*/15 0-6/2 1,15,31 JAN-mar,12 mon-FRI")
        XCTAssertEqual(values(cron.seconds, 0...59), [0], "5 fields: second is 0")
        XCTAssertEqual(values(cron.minutes, 0...59), [0, 15, 30, 45])
        XCTAssertEqual(values(cron.hours, 0...23), [0, 2, 4, 6])
        XCTAssertEqual(values(cron.daysOfMonth, 1...31), [1, 15, 31])
        XCTAssertEqual(values(cron.months, 1...12), [1, 2, 3, 12])
        XCTAssertEqual(values(cron.daysOfWeek, 0...6), [1, 2, 3, 4, 5])
        XCTAssertTrue(cron.daysOfMonthRestricted)
        XCTAssertTrue(cron.daysOfWeekRestricted)
    }

    func testSixFieldsPutSecondsFirst() throws {
        let cron = try CronExpression("5/20 * * * * *")
        XCTAssertEqual(values(cron.seconds, 0...59), [5, 25, 45], "a/n runs from a to the field's end")
        XCTAssertEqual(values(cron.minutes, 0...59).count, 60)
    }

    func testSundayIsZeroOrSevenAndWeekdayRangesMayEndAtSeven() throws {
        XCTAssertEqual(values(try CronExpression("0 0 * * 7").daysOfWeek, 0...7), [0])
        XCTAssertEqual(values(try CronExpression("0 0 * * 5-7").daysOfWeek, 0...7), [0, 5, 6])
        XCTAssertEqual(values(try CronExpression("0 0 * * */2").daysOfWeek, 0...7), [0, 2, 4, 6])
        XCTAssertEqual(values(try CronExpression("0 0 * * sun,SAT").daysOfWeek, 0...7), [0, 6])
    }

    /// `a/n` in day-of-week runs from `a` through 7, Sunday at the end of the week (as cronie
    /// reads it): `7/1` is Sunday and fires, `5/1` is Friday to Sunday.
    func testDayOfWeekStepFromAValueRunsThroughSundayAsSeven() throws {
        let sunday = try CronExpression("0 0 * * 7/1")
        XCTAssertEqual(values(sunday.daysOfWeek, 0...7), [0])
        XCTAssertEqual(sunday.nextMatch(after: LocalDateTime(year: 2025, month: 6, day: 2, hour: 0, minute: 0, second: 0)),
                       LocalDateTime(year: 2025, month: 6, day: 8, hour: 0, minute: 0, second: 0), "the next Sunday")
        XCTAssertEqual(values(try CronExpression("0 0 * * 5/1").daysOfWeek, 0...7), [0, 5, 6])
        XCTAssertEqual(values(try CronExpression("0 0 * * 1/2").daysOfWeek, 0...7), [0, 1, 3, 5], "1, 3, 5, 7")
        XCTAssertEqual(values(try CronExpression("0 0 * * 0/2").daysOfWeek, 0...7), [0, 2, 4, 6])
        XCTAssertEqual(values(try CronExpression("0 0 * * */2").daysOfWeek, 0...7), [0, 2, 4, 6], "a star starts at 0")
        XCTAssertEqual(values(try CronExpression("0 0 * * SAT/1").daysOfWeek, 0...7), [0, 6])
    }

    func testAliases() throws {
        let expected = [
            "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
            "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
        ]
        for (alias, fields) in expected {
            let parsed = try CronExpression(alias)
            let plain = try CronExpression(fields)
            XCTAssertEqual(parsed.minutes, plain.minutes, alias)
            XCTAssertEqual(parsed.hours, plain.hours, alias)
            XCTAssertEqual(parsed.daysOfMonth, plain.daysOfMonth, alias)
            XCTAssertEqual(parsed.months, plain.months, alias)
            XCTAssertEqual(parsed.daysOfWeek, plain.daysOfWeek, alias)
            XCTAssertEqual(parsed.source, alias)
        }
        XCTAssertNoThrow(try CronExpression("  @HOURLY  "))
    }

    func testFullRangesOfEveryField() throws {
        let cron = try CronExpression("0-59 0-59 0-23 1-31 1-12 0-6")
        XCTAssertEqual(values(cron.seconds, 0...59).count, 60)
        XCTAssertEqual(values(cron.minutes, 0...59).count, 60)
        XCTAssertEqual(values(cron.hours, 0...23).count, 24)
        XCTAssertEqual(values(cron.daysOfMonth, 1...31).count, 31)
        XCTAssertEqual(values(cron.months, 1...12).count, 12)
        XCTAssertEqual(values(cron.daysOfWeek, 0...6).count, 7)
    }

    func testInvalidExpressionsAreRejectedWithTheFieldNamed() {
        let cases: [(String, String)] = [
            ("", "expected 5 fields"),
            ("* * * *", "expected 5 fields"),
            ("* * * * * * *", "expected 5 fields"),
            ("60 * * * *", "minute field \"60\": 60 is out of range 0-59"),
            ("* 24 * * *", "hour field \"24\": 24 is out of range 0-23"),
            ("* * 0 * *", "day-of-month field \"0\": 0 is out of range 1-31"),
            ("* * 32 * *", "day-of-month field"),
            ("* * * 13 *", "month field"),
            ("* * * * 8", "day-of-week field"),
            ("60 * * * * *", "second field"),
            ("5-1 * * * *", "range 5-1 runs backwards"),
            ("*/0 * * * *", "step \"0\" must be a whole number of at least 1"),
            ("*/x * * * *", "step \"x\""),
            ("*/61 * * * *", "step 61 is larger"),
            ("1/2/3 * * * *", "more than one '/'"),
            ("1,,2 * * * *", "empty list item"),
            ("1-2-3 * * * *", "is not a value or a range"),
            ("a * * * *", "\"a\" is not a number"),
            ("* * * FOO *", "\"FOO\" is not a number or a name (JAN"),
            ("* * * * FOO", "or a name (SUN"),
            ("- * * * *", "a value is missing"),
            ("-5 * * * *", "a value is missing"),
            ("? * * * *", "minute field"),
            ("@reboot", "unknown alias @reboot"),
            ("@every 5m", "expected 5 fields"),
            ("0 0 30 2 *", "never fires"),
            ("0 0 31 4,6,9,11 *", "never fires"),
        ]
        for (text, fragment) in cases {
            XCTAssertThrowsError(try CronExpression(text), text) { error in
                let message = String(describing: error)
                XCTAssertTrue(message.contains(fragment), "\(text): \(message) should contain \(fragment)")
            }
        }
    }

    func testFebruaryTwentyNinthAndBothDayFieldsAreFine() throws {
        XCTAssertNoThrow(try CronExpression("0 0 29 2 *"))
        XCTAssertNoThrow(try CronExpression("0 0 30 2 MON"), "either day field may match")
        XCTAssertNoThrow(try CronExpression("0 0 ? * MON"))
    }

    // MARK: - Matching wall times

    func testNextMatchWalksFieldsAndCarries() throws {
        let cron = try CronExpression("30 23 31 12 *")
        let start = LocalDateTime(year: 2025, month: 6, day: 1, hour: 0, minute: 0, second: 0)
        XCTAssertEqual(cron.nextMatch(after: start), LocalDateTime(year: 2025, month: 12, day: 31, hour: 23, minute: 30, second: 0))
        let after = LocalDateTime(year: 2025, month: 12, day: 31, hour: 23, minute: 30, second: 0)
        XCTAssertEqual(cron.nextMatch(after: after), LocalDateTime(year: 2026, month: 12, day: 31, hour: 23, minute: 30, second: 0))
    }

    func testEverySecondAdvancesOneSecondAcrossAYearBoundary() throws {
        let cron = try CronExpression("* * * * * *")
        let start = LocalDateTime(year: 2025, month: 12, day: 31, hour: 23, minute: 59, second: 59)
        XCTAssertEqual(cron.nextMatch(after: start), LocalDateTime(year: 2026, month: 1, day: 1, hour: 0, minute: 0, second: 0))
    }

    func testLeapDayIsFoundYearsAhead() throws {
        let cron = try CronExpression("0 12 29 2 *")
        let start = LocalDateTime(year: 2097, month: 3, day: 1, hour: 0, minute: 0, second: 0)
        // 2100 is not a leap year.
        XCTAssertEqual(cron.nextMatch(after: start), LocalDateTime(year: 2104, month: 2, day: 29, hour: 12, minute: 0, second: 0))
    }

    /// December 31st on a Sunday: 2034, then 2045, eleven years on. The search does not stop
    /// after ten years (it used to return nil, and the schedule never fired again).
    func testNextMatchMoreThanTenYearsAheadIsFound() throws {
        let cron = try CronExpression("0 0 31 12 */7")
        let after2034 = LocalDateTime(year: 2034, month: 12, day: 31, hour: 0, minute: 0, second: 0)
        XCTAssertEqual(LocalDateTime.weekday(year: 2034, month: 12, day: 31), 0)
        XCTAssertEqual(cron.nextMatch(after: after2034), LocalDateTime(year: 2045, month: 12, day: 31, hour: 0, minute: 0, second: 0))
        let schedule = try CronSchedule("0 0 31 12 */7")
        XCTAssertEqual(iso(schedule.nextFire(after: utc("2034-12-31T00:00:00Z"))), "2045-12-31T00:00:00Z")
        // Every later fire too, across a century (2100 is not a leap year).
        var time = after2034
        var years: [Int] = []
        while let next = cron.nextMatch(after: time), next.year <= 2110 {
            years.append(next.year)
            time = next
        }
        let expected = (2035...2110).filter { LocalDateTime.weekday(year: $0, month: 12, day: 31) == 0 }
        XCTAssertEqual(years, expected)
    }

    func testDayOfMonthOrDayOfWeekWhenBothAreRestricted() throws {
        // The 13th, or any Friday.
        let cron = try CronExpression("0 0 13 * FRI")
        var time = LocalDateTime(year: 2025, month: 6, day: 1, hour: 0, minute: 0, second: 0)
        var days: [Int] = []
        for _ in 0..<5 {
            time = cron.nextMatch(after: time)!
            days.append(time.day)
        }
        XCTAssertEqual(days, [6, 13, 20, 27, 4], "June 2025: Fridays 6, 13, 20, 27; the 13th; then July 4")
    }

    func testDayOfWeekAloneWhenDayOfMonthIsStar() throws {
        let cron = try CronExpression("0 9 * * 1")
        let next = cron.nextMatch(after: LocalDateTime(year: 2025, month: 6, day: 3, hour: 0, minute: 0, second: 0))
        XCTAssertEqual(next, LocalDateTime(year: 2025, month: 6, day: 9, hour: 9, minute: 0, second: 0), "next Monday")
        // A day-of-month with a star and a step still counts as unrestricted (Vixie cron).
        let stepped = try CronExpression("0 9 */2 * 1")
        XCTAssertFalse(stepped.daysOfMonthRestricted)
        XCTAssertEqual(stepped.nextMatch(after: LocalDateTime(year: 2025, month: 6, day: 10, hour: 0, minute: 0, second: 0)),
                       LocalDateTime(year: 2025, month: 6, day: 23, hour: 9, minute: 0, second: 0), "odd days that are Mondays (not the 16th)")
    }

    func testNextMatchAgreesWithBruteForce() throws {
        let expressions = ["*/7 3-5 * * *", "0 0 1,15 * MON", "15 10 * 2 *", "0 */6 * * SAT,SUN", "10-20/5 * * * *",
                           "0 0 L * *".replacingOccurrences(of: "L", with: "31"), "5 4 * * *", "0 22 * * 1-5"]
        for text in expressions {
            let cron = try CronExpression(text)
            var brute = LocalDateTime(year: 2024, month: 2, day: 27, hour: 0, minute: 0, second: 0).secondsAsIfUTC
            var fast = LocalDateTime(secondsAsIfUTC: brute)
            for _ in 0..<20 {
                fast = cron.nextMatch(after: fast)!
                repeat { brute += 60 } while !cron.matches(LocalDateTime(secondsAsIfUTC: brute))
                XCTAssertEqual(fast, LocalDateTime(secondsAsIfUTC: brute), text)
            }
        }
    }

    func testCivilDateArithmetic() {
        XCTAssertEqual(LocalDateTime.weekday(year: 1970, month: 1, day: 1), 4)
        XCTAssertEqual(LocalDateTime.weekday(year: 2000, month: 2, day: 29), 2)
        XCTAssertEqual(LocalDateTime.weekday(year: 2025, month: 3, day: 9), 0)
        for seconds: Int64 in [-86_401, -1, 0, 951_782_400, 4_102_444_799] {
            XCTAssertEqual(LocalDateTime(secondsAsIfUTC: seconds).secondsAsIfUTC, seconds)
        }
        XCTAssertEqual(LocalDateTime(secondsAsIfUTC: 951_782_400).description, "2000-02-29 00:00:00")
    }

    // MARK: - Time zones

    func testFireTimesInUTC() throws {
        let schedule = try CronSchedule("*/15 * * * *")
        XCTAssertEqual(iso(schedule.nextFire(after: utc("2025-06-01T10:07:30Z"))), "2025-06-01T10:15:00Z")
        XCTAssertEqual(iso(schedule.nextFire(after: utc("2025-06-01T10:15:00Z"))), "2025-06-01T10:30:00Z", "strictly after")
        let everySecond = try CronSchedule("* * * * * *")
        XCTAssertEqual(iso(everySecond.nextFire(after: Date(timeIntervalSince1970: 100.5))), "1970-01-01T00:01:41Z")
    }

    func testWallTimeInAZone() throws {
        let schedule = try CronSchedule("0 9 * * *", timeZone: "Europe/Berlin")
        XCTAssertEqual(iso(schedule.nextFire(after: utc("2025-01-10T00:00:00Z"))), "2025-01-10T08:00:00Z", "CET is +1")
        XCTAssertEqual(iso(schedule.nextFire(after: utc("2025-07-10T00:00:00Z"))), "2025-07-10T07:00:00Z", "CEST is +2")
    }

    func testSpringForwardSkippedWallTimeFiresOnceAtTheJump() throws {
        // New York, 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00Z).
        let daily = try CronSchedule("30 2 * * *", timeZone: "America/New_York")
        let fires = daily.fires(after: utc("2025-03-07T12:00:00Z"), through: utc("2025-03-11T12:00:00Z"), limit: 10)
        XCTAssertEqual(fires.map { iso($0)! }, [
            "2025-03-08T07:30:00Z", // 02:30 EST
            "2025-03-09T07:00:00Z", // 02:30 does not exist: fires at the jump, 03:00 EDT
            "2025-03-10T06:30:00Z", // 02:30 EDT
            "2025-03-11T06:30:00Z",
        ])
        // Every 15 minutes: the four skipped wall times collapse into one fire at 03:00, not five.
        let quarter = try CronSchedule("*/15 * * * *", timeZone: "America/New_York")
        let around = quarter.fires(after: utc("2025-03-09T06:40:00Z"), through: utc("2025-03-09T07:20:00Z"), limit: 10)
        XCTAssertEqual(around.map { iso($0)! }, ["2025-03-09T06:45:00Z", "2025-03-09T07:00:00Z", "2025-03-09T07:15:00Z"])
    }

    func testFallBackRepeatedWallTimeFiresOnceAtFirstOccurrence() throws {
        // New York, 2025-11-02: 02:00 EDT (06:00Z) falls back to 01:00 EST; 01:xx happens twice.
        let daily = try CronSchedule("30 1 * * *", timeZone: "America/New_York")
        let fires = daily.fires(after: utc("2025-11-01T12:00:00Z"), through: utc("2025-11-03T12:00:00Z"), limit: 10)
        XCTAssertEqual(fires.map { iso($0)! }, ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"], "01:30 EDT only, not 01:30 EST")
        // Asked from inside the repeated hour (01:10 EST), the next fire is not back in EDT.
        XCTAssertEqual(iso(daily.nextFire(after: utc("2025-11-02T06:10:00Z"))), "2025-11-03T06:30:00Z")
        let hourly = try CronSchedule("0 * * * *", timeZone: "America/New_York")
        let hours = hourly.fires(after: utc("2025-11-02T03:30:00Z"), through: utc("2025-11-02T08:30:00Z"), limit: 10)
        XCTAssertEqual(hours.map { iso($0)! }, [
            "2025-11-02T04:00:00Z", // 00:00 EDT
            "2025-11-02T05:00:00Z", // 01:00 EDT; 01:00 EST (06:00Z) is the repeat and does not fire
            "2025-11-02T07:00:00Z", // 02:00 EST
            "2025-11-02T08:00:00Z",
        ])
    }

    func testHalfHourZoneAndSouthernHemisphere() throws {
        // Lord Howe Island moves by 30 minutes; Sydney springs forward in October.
        let howe = try CronSchedule("15 2 * * *", timeZone: "Australia/Lord_Howe")
        let fires = howe.fires(after: utc("2025-10-03T00:00:00Z"), through: utc("2025-10-06T00:00:00Z"), limit: 10)
        XCTAssertEqual(fires.count, 3, "\(fires.map { iso($0)! })")
        // 2025-10-05: 02:00 +10:30 jumps to 02:30 +11:00 (15:30Z on the 4th); 02:15 fires at the jump.
        XCTAssertTrue(fires.map { iso($0)! }.contains("2025-10-04T15:30:00Z"), "\(fires.map { iso($0)! })")
    }

    func testFiresReturnsTheLatestWithinALimit() throws {
        let schedule = try CronSchedule("* * * * * *")
        let start = utc("2025-01-01T00:00:00Z")
        let fires = schedule.fires(after: start, through: start.addingTimeInterval(3600), limit: 3)
        XCTAssertEqual(fires.map { iso($0)! }, ["2025-01-01T00:59:58Z", "2025-01-01T00:59:59Z", "2025-01-01T01:00:00Z"])
        let yearly = try CronSchedule("@yearly")
        let years = yearly.fires(after: utc("2020-06-01T00:00:00Z"), through: utc("2025-06-01T00:00:00Z"), limit: 2)
        XCTAssertEqual(years.map { iso($0)! }, ["2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"])
    }

    /// The latest N fires are found however far back they are: leap days 9 years back, and
    /// Sunday December 31sts 11 years apart (the search used to give up about 4 years back).
    func testFiresFindsTheLatestFiresYearsBack() throws {
        let leapDay = try CronSchedule("0 12 29 2 *")
        let leapDays = leapDay.fires(after: utc("2000-01-01T00:00:00Z"), through: utc("2025-06-01T00:00:00Z"), limit: 3)
        XCTAssertEqual(leapDays.map { iso($0)! }, ["2016-02-29T12:00:00Z", "2020-02-29T12:00:00Z", "2024-02-29T12:00:00Z"])
        let rare = try CronSchedule("0 0 31 12 */7")
        let sundays = rare.fires(after: utc("2000-01-01T00:00:00Z"), through: utc("2056-06-01T00:00:00Z"), limit: 3)
        XCTAssertEqual(sundays.map { iso($0)! }, ["2034-12-31T00:00:00Z", "2045-12-31T00:00:00Z", "2051-12-31T00:00:00Z"])
        // Fewer than the limit since `start`: all of them, and nothing before `start`.
        let few = leapDay.fires(after: utc("2011-01-01T00:00:00Z"), through: utc("2025-06-01T00:00:00Z"), limit: 10)
        XCTAssertEqual(few.map { iso($0)! }, ["2012-02-29T12:00:00Z", "2016-02-29T12:00:00Z", "2020-02-29T12:00:00Z", "2024-02-29T12:00:00Z"])
    }

    func testUnknownTimeZoneIsRejected() {
        XCTAssertThrowsError(try CronSchedule("* * * * *", timeZone: "Mars/Olympus")) { error in
            XCTAssertEqual(error as? UnknownTimeZoneError, UnknownTimeZoneError(name: "Mars/Olympus"))
        }
    }
}
