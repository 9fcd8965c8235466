import PQClient

/// A row of `pgworker.jobs`, as read back by clients, the CLI and tests.
public struct JobRecord: Sendable {
    /// The job's id.
    public var id: Int64
    /// The task name that selects the handler.
    public var task: String
    /// The queue it is in.
    public var queue: String
    /// The payload, as JSON text.
    public var payload: String
    /// Lower runs first.
    public var priority: Int
    /// Where it is in its life.
    public var state: JobState
    /// Attempts started so far.
    public var attempts: Int
    /// Attempts allowed before the job is dead.
    public var maxAttempts: Int
    /// The error of the last failed attempt.
    public var lastError: String?
    /// The handler's result, as JSON text, once succeeded.
    public var result: String?
    /// When it may run (next), as PostgreSQL prints it.
    public var runAt: String
    /// The worker holding it while running.
    public var lockedBy: String?
    /// The latest progress its handler reported, from 0 to 1 (nil when it reported none).
    public var progress: Double?
    /// The message of the latest progress report.
    public var progressMessage: String?

    /// The columns ``init(row:)`` reads.
    static let columns = "id, task, queue, payload::text AS payload, priority, state, attempts, max_attempts, last_error, result::text AS result, run_at::text AS run_at, locked_by, progress, progress_message"

    init(row: PQRow) throws {
        id = try row.decode("id")
        task = try row.decode("task")
        queue = try row.decode("queue")
        payload = try row.decode("payload")
        priority = try row.decode("priority")
        let stateText: String = try row.decode("state")
        guard let state = JobState(rawValue: stateText) else {
            throw PQError(kind: .decoding, message: "unknown job state \"\(stateText)\"")
        }
        self.state = state
        attempts = try row.decode("attempts")
        maxAttempts = try row.decode("max_attempts")
        lastError = try row.decodeIfPresent("last_error")
        result = try row.decodeIfPresent("result")
        runAt = try row.decode("run_at")
        lockedBy = try row.decodeIfPresent("locked_by")
        progress = try row.decodeIfPresent("progress")
        progressMessage = try row.decodeIfPresent("progress_message")
    }
}
