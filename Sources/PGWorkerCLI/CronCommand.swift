import ArgumentParser
import Foundation
import PGWorker
import PQClient

/// `pgworker cron`: cron schedules kept in the database.
struct CronCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cron",
        abstract: "Add, list and remove cron schedules (kept in pgworker.schedules; every worker runs them, each tick once).",
        subcommands: [Add.self, List.self, Remove.self]
    )

    /// `pgworker cron add`.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Create or replace a schedule.",
            discussion: """
                CRON has 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, or is an \
                alias: @yearly @annually @monthly @weekly @daily @midnight @hourly. Times are wall-clock times in \
                --timezone: a time skipped by a daylight-saving jump fires at the jump; a repeated time fires once, \
                the first time. Example: pgworker cron add nightly '30 2 * * *' report --timezone Europe/Berlin

                No overlap, instead of `flock` in a crontab line: --lock-key K runs the ticks' jobs one at a \
                time (a tick due while the previous one runs waits for it); --skip-if-busy skips a tick while a job \
                with the schedule's lock key (K, or cron:NAME) is still waiting or running, like `flock -n`.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The schedule's name (adding an existing name replaces it).")
        var name: String

        @Argument(help: "The cron expression (quote it).")
        var cron: String

        @Argument(help: "The task each tick enqueues.")
        var task: String

        @Argument(help: "The payload, as JSON (default {}).")
        var payload: String = "{}"

        @Option(help: "The queue.")
        var queue: String = "default"

        @Option(help: "An IANA time zone, e.g. Europe/Berlin.")
        var timezone: String = "UTC"

        @Option(help: "After downtime, enqueue up to this many missed ticks (default 0: skip them).")
        var backfill: Int = 0

        @Option(help: "Priority; lower numbers run first.")
        var priority: Int = 0

        @Option(help: "Attempts before a tick's job is dead.")
        var maxAttempts: Int = 25

        @Option(help: "A lock key every tick's job carries: no two of them run at the same time (like flock).")
        var lockKey: String?

        @Flag(help: "Skip a tick while a job with the schedule's lock key (--lock-key, or cron:NAME) is waiting or running (like flock -n).")
        var skipIfBusy = false

        func validate() throws {
            do {
                _ = try CronSchedule(cron, timeZone: timezone)
            } catch {
                throw ValidationError(String(describing: error))
            }
            guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil else {
                throw ValidationError("the payload is not valid JSON: \(payload.prefix(80))")
            }
            guard (0...1000).contains(backfill) else { throw ValidationError("--backfill must be between 0 and 1000") }
            guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
            if let lockKey, !(1...200).contains(lockKey.count) {
                throw ValidationError("--lock-key must be 1 to 200 characters long")
            }
        }

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            // Aliases in any case (@HOURLY, @Daily) are stored in lowercase.
            let cron = CronExpression.normalized(self.cron)
            try await connection.query(
                """
                SELECT pgworker.schedule($1, $2, $3, payload => $4::jsonb, queue => $5, timezone => $6,
                                         backfill => $7, priority => $8, max_attempts => $9,
                                         lock_key => $10, skip_if_busy => $11)
                """,
                [name, cron, task, payload, queue, timezone, backfill, priority, maxAttempts, lockKey, skipIfBusy])
            let schedule = try CronSchedule(cron, timeZone: timezone)
            var upcoming: [Date] = []
            var cursor = Date()
            while upcoming.count < 3, let next = schedule.nextFire(after: cursor) {
                upcoming.append(next)
                cursor = next
            }
            print("schedule \(name): \(cron) (\(timezone)) enqueues \(task)")
            if let overlap = List.overlap(lockKey: lockKey, skipIfBusy: skipIfBusy, name: name) {
                print("overlap: \(overlap)")
            }
            print("next: " + upcoming.map { Self.format($0, in: schedule.timeZone) }.joined(separator: ", "))
        }

        static func format(_ date: Date, in zone: TimeZone) -> String {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = zone
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss zzz"
            return formatter.string(from: date)
        }
    }

    /// `pgworker cron list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List schedules with their last and next fire times.")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            let rows = try await connection.query(
                """
                SELECT name, cron, timezone, task, queue, backfill, enabled, lock_key, skip_if_busy,
                       to_char(last_fire_at AT TIME ZONE timezone, 'YYYY-MM-DD HH24:MI:SS') AS last_fire,
                       extract(epoch FROM next_fire_at)::float8 AS next_fire
                FROM pgworker.schedule_status ORDER BY name
                """).rows
            guard !rows.isEmpty else {
                print("(no schedules)")
                return
            }
            var table = [["name", "cron", "timezone", "task", "queue", "backfill", "overlap", "last tick", "next tick"]]
            for row in rows {
                let cron: String = try row.decode("cron"), zone: String = try row.decode("timezone")
                let enabled: Bool = try row.decode("enabled")
                var next = "-"
                if !enabled {
                    next = "(disabled)"
                } else if let schedule = try? CronSchedule(cron, timeZone: zone) {
                    // Computed here, so a schedule no worker has seen yet shows one too.
                    next = schedule.nextFire(after: Date()).map { Add.format($0, in: schedule.timeZone) } ?? "never"
                } else {
                    next = "(invalid expression)"
                }
                let name: String = try row.decode("name")
                let overlap = Self.overlap(lockKey: try row.decodeIfPresent("lock_key"), skipIfBusy: try row.decode("skip_if_busy"),
                                           name: name)
                table.append([name, cron, zone, try row.decode("task"), try row.decode("queue"),
                              String(try row.decode("backfill", as: Int.self)), overlap ?? "-",
                              try row.decodeIfPresent("last_fire", as: String.self) ?? "-", next])
            }
            print(TextColumns.render(table))
        }

        /// How a schedule's ticks avoid overlapping, or nil when they may: "wait on K" (a lock key),
        /// "skip on K" (skip a tick while K is busy).
        static func overlap(lockKey: String?, skipIfBusy: Bool, name: String) -> String? {
            if skipIfBusy { return "skip on \(lockKey ?? "cron:\(name)")" }
            return lockKey.map { "wait on \($0)" }
        }
    }

    /// `pgworker cron remove`.
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove", abstract: "Remove a schedule (jobs it already enqueued stay).")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The schedule's name.")
        var name: String

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            let removed: Bool = try await connection.query("SELECT pgworker.unschedule($1) AS removed", [name])
                .rows[0].decode("removed")
            guard removed else { throw CLIError("no schedule named \(name)") }
            print("removed schedule \(name)")
        }
    }
}

/// A failure the CLI reports as one line on stderr, with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
