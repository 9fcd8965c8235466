import Foundation
import PGWorker
import PostgresNIO

/// The job that ``PostgresNIO/PostgresConnection/addJob(_:options:logger:)`` (or one of its
/// siblings) added, as its row read back in the same statement.
///
/// With a ``PGWorker/JobOptions/jobKey`` whose job was already waiting, this is that waiting job:
/// compare ``payload`` or ``id`` to tell.
public struct AddedJob: Sendable, Hashable {
    /// The job's id (`pgworker.jobs.id`).
    public var id: Int64
    /// Its task name.
    public var task: String
    /// Its queue.
    public var queue: String
    /// Its payload as PostgreSQL's `jsonb` prints it.
    public var payload: String
    /// Its state; `available` for a new job.
    public var state: JobState
    /// Lower runs first.
    public var priority: Int
    /// Attempts allowed before the job is dead.
    public var maxAttempts: Int
    /// When it may run.
    public var runAt: Date
    /// Its job key, if any.
    public var jobKey: String?
    /// Its lock key, if any.
    public var lockKey: String?

    /// The columns ``init(row:)`` decodes, in order.
    static let columns = "id, task, queue, payload::text, state, priority, max_attempts, run_at, job_key, lock_key"

    /// Decodes a row of ``columns``.
    init(row: PostgresRow) throws {
        let (id, task, queue, payload, state, priority, maxAttempts, runAt, jobKey, lockKey) = try row.decode(
            (Int64, String, String, String, String, Int, Int, Date, String?, String?).self)
        guard let jobState = JobState(rawValue: state) else {
            throw UnknownJobState(state: state)
        }
        self.id = id
        self.task = task
        self.queue = queue
        self.payload = payload
        self.state = jobState
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.runAt = runAt
        self.jobKey = jobKey
        self.lockKey = lockKey
    }
}

/// A row of `pgworker.jobs` held a state this version of pgworker does not know (a newer schema).
public struct UnknownJobState: Error, Sendable, CustomStringConvertible {
    /// The state as the row held it.
    public let state: String

    /// A sentence for logs.
    public var description: String { "unknown job state \"\(state)\" in pgworker.jobs" }
}
