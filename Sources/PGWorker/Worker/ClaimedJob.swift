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

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        task = try row.decode("task")
        queue = try row.decode("queue")
        payload = try row.decode("payload")
        attempt = try row.decode("attempts")
        maxAttempts = try row.decode("max_attempts")
        waitedSeconds = try row.decodeIfPresent("waited")
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
