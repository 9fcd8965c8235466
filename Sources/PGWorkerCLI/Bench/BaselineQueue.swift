import PQClient

/// The least SQL any PostgreSQL queue must run per job, with no engine around it: claim a batch
/// with `FOR UPDATE SKIP LOCKED` (returning what a handler needs), then mark the batch done in
/// one UPDATE. The benchmark runs it on the same server, table and batch size as the worker and
/// reports the worker's throughput as a ratio of this.
enum BaselineQueue {
    /// Claims up to `$1` runnable jobs of task `$2` for `$3`, in the worker's claim order.
    static let claimSQL = """
        WITH picked AS MATERIALIZED (
            SELECT id FROM pgworker.jobs
            WHERE state IN ('available', 'retryable') AND run_at <= now() AND task = $2
            ORDER BY priority, run_at, id
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE pgworker.jobs j
        SET state = 'running', attempts = j.attempts + 1, locked_by = $3, locked_at = now(), attempted_at = now()
        FROM picked WHERE j.id = picked.id
        RETURNING j.id, j.task, j.payload::text AS payload
        """

    /// Marks a batch succeeded.
    static let completeSQL = """
        UPDATE pgworker.jobs
        SET state = 'succeeded', finished_at = now(), locked_by = NULL, locked_at = NULL
        WHERE id = ANY ($1::bigint[])
        """

    /// Claims and completes batches of `batchSize` on `connections` connections at once, until
    /// no job of `task` is left. Returns the number of jobs each connection processed.
    static func drain(task: String, batchSize: Int, connections: [PQConnection]) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask {
                    try await loop(connection, task: task, batchSize: batchSize, name: "baseline-\(index + 1)")
                }
            }
            return try await group.reduce(0, +)
        }
    }

    private static func loop(_ connection: PQConnection, task: String, batchSize: Int, name: String) async throws -> Int {
        var done = 0
        while true {
            let claimed = try await connection.queryPrepared(claimSQL, [batchSize, task, name])
            if claimed.rows.isEmpty { return done }
            let ids = try claimed.rows.map { row -> Int64 in try row.decode("id") }
            try await connection.queryPrepared(completeSQL, [ids])
            done += ids.count
        }
    }
}
