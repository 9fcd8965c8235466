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

    func validate() throws {
        guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil else {
            throw ValidationError("the payload is not valid JSON: \(payload.prefix(80))")
        }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
    }

    func run() async throws {
        let (connection, _) = try await database.connect()
        let result = try await connection.query(
            """
            SELECT id FROM pgworker.add_job(task => $1, payload => $2::jsonb, queue => $3,
                run_at => $4::timestamptz, priority => $5, max_attempts => $6)
            """,
            [task, payload, queue, runAt, priority, maxAttempts]
        )
        print(try result.rows[0].decode("id", as: Int64.self))
    }
}
