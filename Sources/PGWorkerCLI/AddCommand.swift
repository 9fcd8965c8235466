import ArgumentParser
import Foundation
import PGWorker
import PQClient

/// `pgworker add`: enqueues one job.
struct AddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Enqueue a job. Prints its id, or with --wait its result.",
        discussion: """
            Example: pgworker add send_email '{"to": "a@example.com"}' --queue mail

            With --wait, waits (without polling) until a worker, in any process, has finished the \
            job: prints its result as JSON (null for none) and exits 0 when it succeeded; prints \
            the error to stderr and exits 1 when it died or was cancelled; exits 124 when \
            --timeout passes first (the job stays enqueued).
            """
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

    @Flag(help: "Wait for the job to finish; print its result, or its error and exit non-zero.")
    var wait = false

    @Option(help: "With --wait: give up after this many seconds (exit 124; the job stays enqueued).")
    var timeout: Double?

    func validate() throws {
        if timeout != nil && !wait { throw ValidationError("--timeout goes with --wait") }
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be more than 0 seconds") }
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
        let id = try result.rows[0].decode("id", as: Int64.self)
        if wait {
            try await waitAndReport(connection, id: id)
        } else {
            print(id)
        }
    }

    /// Waits for job `id` (enqueued just now) to finish, as `JobClient.waitForJob` does: the
    /// LISTEN comes before the first read of the row, so a job that finished meanwhile is seen.
    private func waitAndReport(_ connection: PQConnection, id: Int64) async throws {
        let record: JobRecord
        do {
            record = try await JobClient(connection: connection).waitForJob(
                id: id, timeout: timeout.map { .milliseconds(Int64($0 * 1000)) })
        } catch let error as JobWaitError {
            FileHandle.standardError.write(Data("pgworker: \(error)\n".utf8))
            throw ExitCode(124)
        }
        guard record.state == .succeeded else {
            FileHandle.standardError.write(Data("pgworker: job \(id) \(record.state.rawValue): \(record.lastError ?? "")\n".utf8))
            throw ExitCode(1)
        }
        print(record.result ?? "null")
    }
}
