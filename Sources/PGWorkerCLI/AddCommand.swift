import ArgumentParser
import Foundation
import PGWorker
import PostgresClient

/// `pgworker add`: enqueues one job.
struct AddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Enqueue a job. Prints its id.",
        discussion: "Example: pgworker add send_email '{\"to\": \"a@example.com\"}' --queue mail"
    )

    @OptionGroup var database: DatabaseOptions

    @Argument(help: "The task name.")
    var task: String

    @Argument(help: "The payload, as JSON (default {}).")
    var payload: String = "{}"

    @Option(help: "The queue.")
    var queue: String = "default"

    @Option(help: "Run at or after this time (any PostgreSQL timestamptz input, e.g. 2030-01-01T09:00:00Z).")
    var runAt: String?

    @Option(help: "Priority; lower numbers run first.")
    var priority: Int = 0

    @Option(help: "Attempts before the job is dead.")
    var maxAttempts: Int = 25

    @Option(help: "A unique key: while a job with this key waits, adding another follows --job-key-mode.")
    var jobKey: String?

    @Option(help: "skip (keep the waiting job), replace (new payload and run_at), preserve_run_at (new payload) or skip_waiting_or_running (a running job counts too).")
    var jobKeyMode: String = "skip"

    @Option(help: "Jobs with the same lock key never run at the same time, and run in order.")
    var lockKey: String?

    func validate() throws {
        guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil else {
            throw ValidationError("the payload is not valid JSON: \(payload.prefix(80))")
        }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard ["skip", "replace", "preserve_run_at", "skip_waiting_or_running"].contains(jobKeyMode) else {
            throw ValidationError("--job-key-mode must be skip, replace, preserve_run_at or skip_waiting_or_running")
        }
    }

    func run() async throws {
        let (connection, _) = try await database.connect()
        let result = try await connection.query(
            """
            SELECT id FROM pgworker.add_job(task => $1, payload => $2::jsonb, queue => $3,
                run_at => $4::timestamptz, priority => $5, max_attempts => $6,
                job_key => $7, job_key_mode => $8, lock_key => $9)
            """,
            [task, payload, queue, runAt, priority, maxAttempts, jobKey, jobKeyMode, lockKey]
        )
        print(try result.rows[0].decode("id", as: Int64.self))
    }
}
