import PQClient

extension JobClient {
    /// The channel a job someone waits on notifies when it finishes; the payload is the job's id.
    public static let jobFinishedChannel = "pgworker_job_finished"

    /// Enqueues a job (as ``add(_:json:options:)``, in a traced span when a tracer is active) and
    /// waits for its outcome, without polling:
    /// returns the job's row once it succeeded, died or was cancelled; read ``JobRecord/state``,
    /// ``JobRecord/result`` and ``JobRecord/lastError``. Any worker, in any process, may run it.
    ///
    /// Only this job notifies (channel ``jobFinishedChannel``): the job is marked
    /// (`pgworker.watch_job`) in the transaction that enqueues it, after this connection
    /// LISTENs, so no finish goes unseen. The row is also read again every `recheckInterval`, in
    /// case a notification was lost. Throws ``JobWaitError`` when `timeout` passes first (the job
    /// stays enqueued) or the job is deleted. Call it outside a transaction; the connection
    /// stops LISTENing afterwards, and other channels' notifications that arrive meanwhile are
    /// dropped, so use a connection of its own when you LISTEN on it yourself.
    public func addAndWait(
        _ task: String, json: String = "{}", options: JobOptions = JobOptions(),
        timeout: Duration? = nil, recheckInterval: Duration = .seconds(5)
    ) async throws -> JobRecord {
        try await listening {
            // The enqueue span ends once the job is committed, not when it finishes.
            let id: Int64 = try await EnqueueSpan.withSpan(task: task, queue: options.queue) { traceContext, span in
                let id: Int64 = try await connection.withTransaction { connection in
                    let id: Int64 = try connection.query(
                        """
                        SELECT id FROM pgworker.add_job(
                            task => $1, payload => $2::jsonb, queue => $3, run_at => $4::timestamptz,
                            priority => $5, max_attempts => $6, job_key => $7, job_key_mode => $8, lock_key => $9,
                            trace_context => $10::jsonb)
                        """,
                        [task, json, options.queue, options.runAt, options.priority, options.maxAttempts,
                         options.jobKey, options.jobKeyMode.rawValue, options.lockKey, traceContext]
                    ).rows[0].decode("id")
                    try connection.query("SELECT pgworker.watch_job($1)", [id])
                    return id
                }
                EnqueueSpan.setJobID(id, on: span)
                return id
            }
            return try await waitForListenedJob(id, timeout: timeout, recheckInterval: recheckInterval)
        }
    }

    /// Waits for a job enqueued earlier (by anyone) to finish, as
    /// ``addAndWait(_:json:options:timeout:recheckInterval:)`` does: returns its row once it
    /// succeeded, died or was cancelled; throws ``JobWaitError`` on timeout or when there is no
    /// such job. Needs the right to call `pgworker.watch_job` (the app role has it).
    public func waitForJob(id: Int64, timeout: Duration? = nil, recheckInterval: Duration = .seconds(5)) async throws -> JobRecord {
        try await listening {
            _ = try await connection.query("SELECT pgworker.watch_job($1)", [id])
            return try await waitForListenedJob(id, timeout: timeout, recheckInterval: recheckInterval)
        }
    }

    /// Runs `body` while the connection LISTENs on ``jobFinishedChannel``.
    private func listening<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await connection.listen(Self.jobFinishedChannel)
        do {
            let value = try await body()
            try await connection.execute("UNLISTEN \(Self.jobFinishedChannel)")
            return value
        } catch {
            try? await connection.execute("UNLISTEN \(Self.jobFinishedChannel)")
            throw error
        }
    }

    /// Reads the row, and while it is not final waits for its job's notification, reading it
    /// again when that comes, every `recheckInterval`, and once more at the deadline.
    private func waitForListenedJob(_ id: Int64, timeout: Duration?, recheckInterval: Duration) async throws -> JobRecord {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let payload = String(id)
        while true {
            guard let record = try await job(id: id) else { throw JobWaitError.noSuchJob(id: id) }
            if record.state.isFinal { return record }
            if let deadline, deadline <= .now { throw JobWaitError.timedOut(id: id, state: record.state) }
            let recheck = min(ContinuousClock.now + recheckInterval, deadline ?? .now + recheckInterval)
            // Other jobs' notifications (other waiters share the channel) do not cost a read.
            while ContinuousClock.now < recheck {
                try Task.checkCancellation()
                let notifications = try await connection.waitForNotifications(timeout: recheck - .now)
                if notifications.contains(where: { $0.channel == Self.jobFinishedChannel && $0.payload == payload }) { break }
            }
        }
    }
}

/// Why waiting for a job's outcome (``JobClient/addAndWait(_:json:options:timeout:recheckInterval:)``)
/// ended without one.
public enum JobWaitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The timeout passed; the job (still in `state`) stays enqueued and may finish later.
    case timedOut(id: Int64, state: JobState)
    /// There is no job with this id (it was deleted).
    case noSuchJob(id: Int64)

    /// A sentence for messages.
    public var description: String {
        switch self {
        case .timedOut(let id, let state): return "job \(id) did not finish in time; it is \(state.rawValue)"
        case .noSuchJob(let id): return "there is no job \(id) (it was deleted)"
        }
    }
}
