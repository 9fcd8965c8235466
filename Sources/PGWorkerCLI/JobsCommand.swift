import ArgumentParser
import Foundation
import PGWorker
import PQClient

/// `pgworker jobs`: look at and operate on jobs.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List, show, cancel, retry, reschedule and delete jobs.",
        subcommands: [List.self, Show.self, Cancel.self, Retry.self, Reschedule.self, Delete.self]
    )

    /// `pgworker jobs list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs, newest first.")

        @OptionGroup var database: DatabaseOptions

        @Option(help: "Only jobs in this state (available, running, succeeded, retryable, dead, cancelled).")
        var state: JobState?

        @Option(help: "Only jobs of this task.")
        var task: String?

        @Option(help: "Only jobs in this queue.")
        var queue: String?

        @Option(help: "At most this many jobs.")
        var limit: Int = 50

        func validate() throws {
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            let rows = try await connection.query(
                """
                SELECT id, task, queue, state, attempts, max_attempts, priority,
                       to_char(run_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS run_at, last_error,
                       round(progress * 100)::int AS percent, progress_message
                FROM pgworker.jobs
                WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR task = $2)
                  AND ($3::text IS NULL OR queue = $3)
                ORDER BY id DESC LIMIT $4
                """, [state?.rawValue, task, queue, limit]).rows
            guard !rows.isEmpty else {
                print("(no jobs)")
                return
            }
            var table = [["id", "task", "queue", "state", "attempts", "priority", "run at", "progress", "last error"]]
            for row in rows {
                // "40% copying files", "-" when the job reported none.
                var progress: String?
                if let percent = try row.decodeIfPresent("percent", as: Int.self) {
                    let message = try row.decodeIfPresent("progress_message", as: String.self)
                    progress = "\(percent)%" + (message.map { " " + $0 } ?? "")
                }
                table.append([
                    String(try row.decode("id", as: Int64.self)), try row.decode("task"), try row.decode("queue"),
                    try row.decode("state"),
                    "\(try row.decode("attempts", as: Int.self))/\(try row.decode("max_attempts", as: Int.self))",
                    String(try row.decode("priority", as: Int.self)), try row.decode("run_at"),
                    TextColumns.clip(progress, 40),
                    TextColumns.clip(try row.decodeIfPresent("last_error", as: String.self)),
                ])
            }
            print(TextColumns.render(table))
        }
    }

    /// `pgworker jobs show`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show every field of one job.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The job id.")
        var id: Int64

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            let rows = try await connection.query(
                """
                SELECT id::text, task, queue, state, priority::text, attempts::text, max_attempts::text,
                       run_at::text, job_key, lock_key, locked_by, locked_at::text, created_at::text,
                       attempted_at::text, finished_at::text, progress::text, progress_message, progress_at::text,
                       jsonb_pretty(payload) AS payload,
                       jsonb_pretty(result) AS result, last_error, jsonb_pretty(errors) AS errors
                FROM pgworker.jobs WHERE id = $1
                """, [id]).rows
            guard let row = rows.first else { throw CLIError("no job with id \(id)") }
            let width = row.columns.names.map(\.count).max() ?? 0
            for (index, name) in row.columns.names.enumerated() {
                let value = row.values[index] ?? "-"
                let indented = value.replacingOccurrences(of: "\n", with: "\n" + String(repeating: " ", count: width + 2))
                print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + indented)
            }
        }
    }

    /// `pgworker jobs cancel`.
    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel",
            abstract: "Cancel a job: a waiting one at once; a running one is stopped by its worker and recorded cancelled.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The job id.")
        var id: Int64

        @Option(help: "Why; recorded in last_error.")
        var reason: String?

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            let state = try await connection.query("SELECT pgworker.cancel_job($1, $2) AS state", [id, reason])
                .rows[0].decodeIfPresent("state", as: String.self)
            switch state {
            case nil: throw CLIError("no job with id \(id)")
            case "cancelled": print("job \(id) cancelled")
            case "cancelling": print("job \(id) is running; its worker was told to stop it")
            case let other?: throw CLIError("job \(id) already finished (\(other)); nothing to cancel")
            }
        }
    }

    /// `pgworker jobs retry`.
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry",
            abstract: "Run a dead or cancelled job again now, or every dead job of a task and/or queue.",
            discussion: "Examples: pgworker jobs retry 42; pgworker jobs retry --all-dead --task send_email")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The job id.")
        var id: Int64?

        @Flag(help: "Retry every dead job (narrow with --task and --queue).")
        var allDead = false

        @Option(help: "With --all-dead: only this task.")
        var task: String?

        @Option(help: "With --all-dead: only this queue.")
        var queue: String?

        func validate() throws {
            guard (id != nil) != allDead else { throw ValidationError("give either a job id or --all-dead") }
            if id != nil, task != nil || queue != nil {
                throw ValidationError("--task and --queue go with --all-dead, not with a job id")
            }
        }

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            if let id {
                let retried = try await connection.query("SELECT id FROM pgworker.retry_job($1)", [id]).rows
                guard retried.isEmpty else {
                    print("job \(id) will run again now")
                    return
                }
                let state = try await connection.query("SELECT state FROM pgworker.jobs WHERE id = $1", [id]).first?
                    .decode("state", as: String.self)
                throw CLIError(state.map { "job \(id) is \($0); only dead or cancelled jobs are retried" } ?? "no job with id \(id)")
            }
            let count: Int = try await connection.query(
                "SELECT pgworker.retry_dead_jobs(task => $1, queue => $2) AS n", [task, queue]).rows[0].decode("n")
            print("\(count) dead job\(count == 1 ? "" : "s") will run again now")
        }
    }

    /// `pgworker jobs reschedule`.
    struct Reschedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reschedule", abstract: "Move a waiting job to another time.",
            discussion: "Examples: pgworker jobs reschedule 42 '2030-01-01 09:00+01'; pgworker jobs reschedule 42 --in '10 minutes'")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The job id.")
        var id: Int64

        @Argument(help: "The new run_at (any PostgreSQL timestamptz input).")
        var at: String?

        @Option(name: .customLong("in"), help: "Or: a PostgreSQL interval from now, e.g. '10 minutes'.")
        var after: String?

        func validate() throws {
            guard (at != nil) != (after != nil) else { throw ValidationError("give either a time or --in INTERVAL") }
        }

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            let rows = try await connection.query(
                """
                SELECT run_at::text AS run_at
                FROM pgworker.reschedule_job($1, coalesce($2::timestamptz, now() + $3::interval))
                """, [id, at, after]).rows
            guard let row = rows.first else {
                let state = try await connection.query("SELECT state FROM pgworker.jobs WHERE id = $1", [id]).first?
                    .decode("state", as: String.self)
                throw CLIError(state.map { "job \(id) is \($0); only waiting jobs are rescheduled" } ?? "no job with id \(id)")
            }
            print("job \(id) runs at \(try row.decode("run_at", as: String.self))")
        }
    }

    /// `pgworker jobs delete`.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete", abstract: "Delete a job that is not running (cancel a running one first).")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The job id.")
        var id: Int64

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            let deleted: Bool = try await connection.query("SELECT pgworker.delete_job($1) AS deleted", [id]).rows[0].decode("deleted")
            guard deleted else { throw CLIError("no job with id \(id)") }
            print("job \(id) deleted")
        }
    }
}

extension JobState: ExpressibleByArgument {}
