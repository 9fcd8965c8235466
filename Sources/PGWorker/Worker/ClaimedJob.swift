import PQClient

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
    /// The trace context stored when the job was enqueued (JSON text), if any: the parent of
    /// the attempt's span.
    let traceContext: String?

    /// A claimed job from its values, as the engine's unit tests build them.
    init(id: Int64, task: String, queue: String, payload: String, attempt: Int, maxAttempts: Int,
         waitedSeconds: Double?, hasLockKey: Bool, traceContext: String? = nil) {
        self.id = id
        self.task = task
        self.queue = queue
        self.payload = payload
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.waitedSeconds = waitedSeconds
        self.hasLockKey = hasLockKey
        self.traceContext = traceContext
    }

    /// The claimed jobs of a claim's result (columns as in ``JobStatements/claimedColumns``).
    static func all(in result: PQResult) throws -> [ClaimedJob] {
        guard let first = result.rows.first else { return [] }
        let columns = try Columns(first.columns)
        return try result.rows.map { try ClaimedJob($0, columns) }
    }

    /// Where each column is, looked up once per result rather than by name for every row.
    private struct Columns {
        let id, task, queue, payload, attempts, maxAttempts, waited, keyed, traceContext: Int

        init(_ columns: PQColumns) throws {
            let index = columns.position(of:)
            id = try index("id")
            task = try index("task")
            queue = try index("queue")
            payload = try index("payload")
            attempts = try index("attempts")
            maxAttempts = try index("max_attempts")
            waited = try index("waited")
            keyed = try index("keyed")
            traceContext = try index("trace_context")
        }
    }

    private init(_ row: PQRow, _ columns: Columns) throws {
        id = try row.decode(column: columns.id)
        task = try row.decode(column: columns.task)
        queue = try row.decode(column: columns.queue)
        payload = try row.decode(column: columns.payload)
        attempt = try row.decode(column: columns.attempts)
        maxAttempts = try row.decode(column: columns.maxAttempts)
        waitedSeconds = try row.decodeIfPresent(column: columns.waited)
        hasLockKey = try row.decode(column: columns.keyed)
        traceContext = try row.decodeIfPresent(column: columns.traceContext)
    }
}
