import PQClient

/// The statements a worker runs, one function each, so the SQL lives in `SQL/` and is planned once
/// per connection.
enum JobStatements {
    /// The columns a claim returns, as ``ClaimedJob`` reads them; `waited` is how long the job
    /// was due before this claim (for the start-latency metric).
    static let claimedColumns = """
        id, task, queue, payload::text AS payload, attempts, max_attempts,
        extract(epoch FROM clock_timestamp() - greatest(run_at, created_at))::float8 AS waited,
        lock_key IS NOT NULL AS keyed, trace_context::text AS trace_context
        """

    /// Claims up to `limit` jobs, within this process's per-queue room (`localRoom`, JSON; nil
    /// for none): a turn with no outcomes to write, so it too moves staged jobs first (SQL/005).
    /// Like ``completeAndClaim(_:workerID:_:tasks:queues:limit:includeSQLTasks:localRoom:)`` it
    /// returns before the claim has committed.
    static func claim(
        _ connection: PQConnection, workerID: String, tasks: [String], queues: [String]?,
        limit: Int, includeSQLTasks: Bool, localRoom: String?
    ) async throws -> [ClaimedJob] {
        try await completeAndClaim(connection, workerID: workerID, [], tasks: tasks, queues: queues,
                                   limit: limit, includeSQLTasks: includeSQLTasks, localRoom: localRoom)
    }

    /// Writes a batch of outcomes and claims up to `limit` jobs, in one call and one transaction
    /// (`pgworker.complete_and_claim`). Returns the claimed jobs before that transaction has
    /// committed: see `PQConnection.confirmCommit()`.
    static func completeAndClaim(
        _ connection: PQConnection, workerID: String, _ batch: [Completion], tasks: [String],
        queues: [String]?, limit: Int, includeSQLTasks: Bool, localRoom: String?
    ) async throws -> [ClaimedJob] {
        let result = try await connection.queryPreparedBeforeCommit(
            """
            SELECT \(claimedColumns)
            FROM pgworker.complete_and_claim($1, $2::bigint[], $3::boolean[], $4::jsonb[], $5::text[], $6::boolean[],
                                             $7::text[], $8::text[], $9, $10, $11::jsonb)
            """,
            [
                workerID,
                batch.map(\.jobID),
                batch.map(\.succeeded),
                PQNullableArray(batch.map(\.result)),
                PQNullableArray(batch.map(\.error)),
                batch.map(\.discard),
                tasks, queues, limit, includeSQLTasks, localRoom,
            ]
        )
        return try ClaimedJob.all(in: result)
    }

    /// Writes a batch of outcomes in one statement. Returns how many rows it changed.
    @discardableResult
    static func complete(_ connection: PQConnection, workerID: String, _ batch: [Completion]) async throws -> Int {
        let result = try await connection.queryPrepared(
            "SELECT count(*) AS updated FROM pgworker.complete_jobs($1, $2::bigint[], $3::boolean[], $4::jsonb[], $5::text[], $6::boolean[])",
            [
                workerID,
                batch.map(\.jobID),
                batch.map(\.succeeded),
                PQNullableArray(batch.map(\.result)),
                PQNullableArray(batch.map(\.error)),
                batch.map(\.discard),
            ]
        )
        return try result.first?.decode("updated", as: Int.self) ?? 0
    }

    static func register(_ connection: PQConnection, workerID: String, host: String, pid: Int32,
                         tasks: [String], queues: [String]?, handlesSQLTasks: Bool) async throws {
        try await connection.queryPrepared(
            "SELECT pgworker.register_worker($1, $2, $3, $4::text[], $5::text[], $6)",
            [workerID, host, pid, tasks, queues, handlesSQLTasks]
        )
    }

    /// Writes the claim-turn latency of the last heartbeat interval to the worker's row.
    static func reportClaimTurns(_ connection: PQConnection, workerID: String, turns: Int,
                                 p99Milliseconds: Double?) async throws {
        try await connection.queryPrepared(
            "UPDATE pgworker.workers SET claim_turns = $2, claim_turn_p99_ms = $3 WHERE id = $1",
            [workerID, turns, p99Milliseconds])
    }

    static func deregister(_ connection: PQConnection, workerID: String) async throws {
        try await connection.query("DELETE FROM pgworker.workers WHERE id = $1", [workerID])
    }

    /// Gives back this worker's running jobs except `keeping`, without counting their attempt.
    @discardableResult
    static func release(_ connection: PQConnection, workerID: String, keeping: [Int64]) async throws -> [Int64] {
        let result = try await connection.query(
            "SELECT pgworker.release_jobs($1, NULL, $2::bigint[]) AS id", [workerID, keeping])
        return try result.rows.map { try $0.decode("id") }
    }

    static func rescue(_ connection: PQConnection, staleAfter: Duration) async throws -> [Int64] {
        let result = try await connection.queryPrepared(
            "SELECT id FROM pgworker.rescue_stale_jobs(make_interval(secs => $1))",
            [Double(staleAfter.components.seconds) + Double(staleAfter.components.attoseconds) / 1e18]
        )
        return try result.rows.map { try $0.decode("id") }
    }

    /// Runs a claimed SQL-task job and records its outcome, in one transaction.
    static func runSQLJob(_ connection: PQConnection, jobID: Int64, workerID: String) async throws -> String? {
        let result = try await connection.queryPrepared("SELECT pgworker.run_sql_job($1, $2) AS state", [jobID, workerID])
        return try result.first?.decodeIfPresent("state", as: String.self)
    }
}
