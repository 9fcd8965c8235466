import PostgresClient

/// A job this worker has claimed and must run and complete.
struct ClaimedJob: Sendable {
    let id: Int64
    let task: String
    let queue: String
    let payload: String
    let attempt: Int
    let maxAttempts: Int
    /// Seconds from when the job was due to its claim, by the database's clock (for metrics).
    let waitedSeconds: Double?
    /// The job has a `lock_key`: no other job of the key may run while it does.
    let hasLockKey: Bool

    /// The claimed jobs of a claim's result (columns as in ``JobStatements/claimedColumns``).
    static func all(in result: PostgresResult) throws -> [ClaimedJob] {
        guard let first = result.rows.first else { return [] }
        let columns = try Columns(first.columns)
        return try result.rows.map { try ClaimedJob($0, columns) }
    }

    /// Where each column is, looked up once per result rather than by name for every row.
    private struct Columns {
        let id, task, queue, payload, attempts, maxAttempts, waited, keyed: Int

        init(_ columns: PostgresColumns) throws {
            let index = columns.position(of:)
            id = try index("id")
            task = try index("task")
            queue = try index("queue")
            payload = try index("payload")
            attempts = try index("attempts")
            maxAttempts = try index("max_attempts")
            waited = try index("waited")
            keyed = try index("keyed")
        }
    }

    private init(_ row: PostgresRow, _ columns: Columns) throws {
        id = try row.decode(column: columns.id)
        task = try row.decode(column: columns.task)
        queue = try row.decode(column: columns.queue)
        payload = try row.decode(column: columns.payload)
        attempt = try row.decode(column: columns.attempts)
        maxAttempts = try row.decode(column: columns.maxAttempts)
        waitedSeconds = try row.decodeIfPresent(column: columns.waited)
        hasLockKey = try row.decode(column: columns.keyed)
    }
}

/// How one attempt ended, waiting to be written to the job's row.
struct Completion: Sendable {
    let jobID: Int64
    let succeeded: Bool
    /// The result as JSON text, when succeeded.
    let result: String?
    /// Why it failed, when it did.
    let error: String?
    /// Go to `dead` now rather than retry.
    let discard: Bool

    static func success(_ jobID: Int64, result: String?) -> Completion {
        Completion(jobID: jobID, succeeded: true, result: result, error: nil, discard: false)
    }

    static func failure(_ jobID: Int64, error: String, discard: Bool = false) -> Completion {
        Completion(jobID: jobID, succeeded: false, result: nil, error: error, discard: discard)
    }

    /// The job was cancelled because the worker shut down before it finished; it will retry.
    static func cancelledByShutdown(_ jobID: Int64) -> Completion {
        .failure(jobID, error: "cancelled: the worker shut down before the job finished")
    }
}
