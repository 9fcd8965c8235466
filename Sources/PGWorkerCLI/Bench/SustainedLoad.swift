import Foundation
import PGWorker
import PQClient

/// The parts of a sustained run: producers inserting at a fixed offered rate, the bare SQL
/// consumer to compare with, a transaction that pins a snapshot, and the sampler that reports.
enum SustainedLoad {
    /// The task every sustained job has.
    static let task = "bench_sustained"

    /// Inserts `rate` jobs per second in transactions of `batch` rows, spread over `connections`,
    /// until cancelled. Each producer keeps to its own schedule; one that falls behind inserts
    /// back to back without sleeping (the offered rate is then not met, and the report says so).
    static func produce(connections: [PQConnection], rate: Int, batch: Int) async throws {
        let perProducer = Double(rate) / Double(connections.count)
        let interval = Duration.seconds(Double(batch) / perProducer)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask {
                    // Staggered starts, so the producers' transactions do not arrive together.
                    var next = ContinuousClock.now + interval * (Double(index) / Double(connections.count))
                    while !Task.isCancelled {
                        try await Task.sleep(until: next)
                        try await connection.queryPrepared(
                            "INSERT INTO pgworker.jobs (task) SELECT $1 FROM generate_series(1, $2)", [task, batch])
                        next += interval
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The bare SQL consumer (``BaselineQueue``'s two statements, one transaction per batch),
    /// claiming and completing until cancelled; it waits 1 ms when nothing is runnable. Its claims'
    /// round trips go to `claimTimes`, as a worker's go to its own (written at every heartbeat).
    static func consume(_ connection: PQConnection, batch: Int, claimTimes: ClaimTurnTimes) async throws {
        // A prepared statement switches to a generic plan after five runs, and a generic plan
        // guesses the LIMIT and sorts every runnable row: as the backlog grew, each claim got
        // slower (383 jobs/s at 2,000 offered). Custom plans see LIMIT 100 and walk the index.
        try await connection.execute("SET plan_cache_mode = force_custom_plan")
        while !Task.isCancelled {
            let sent = ContinuousClock.now
            let claimed = try await connection.queryPrepared(BaselineQueue.claimSQL, [batch, task, "bare-sql"])
            claimTimes.record(ContinuousClock.now - sent)
            if claimed.rows.isEmpty {
                try await Task.sleep(for: .milliseconds(1))
                continue
            }
            let ids = try claimed.rows.map { row -> Int64 in try row.decode("id") }
            try await connection.queryPrepared(BaselineQueue.completeSQL, [ids])
        }
    }

    /// One report line's figures.
    struct Sample: Sendable {
        /// The server's clock when the sample was read, in seconds since 1970.
        var serverTime: Double
        /// Jobs finished per second since the previous sample.
        var donePerSecond: Double
        /// Runnable jobs waiting.
        var backlog: Int
        /// `pgworker.jobs` with its indexes and TOAST, in bytes.
        var tableBytes: Int
        /// `jobs_claim_idx` in bytes.
        var claimIndexBytes: Int
        /// Dead rows of `pgworker.jobs` as the statistics last counted them.
        var deadRows: Int
        /// The slowest worker's claim-turn p99 over its last heartbeat interval, in milliseconds.
        var workerClaimP99: Double?
    }

    /// The server's clock, in seconds since 1970: the sampler measures with the same clock that
    /// stamps `finished_at`.
    static func serverTime(_ connection: PQConnection) async throws -> Double {
        try await connection.query("SELECT extract(epoch FROM clock_timestamp())::float8 AS t").rows[0].decode("t")
    }

    /// Reads one sample; finished jobs are counted from their `finished_at`, since `since` (server
    /// time).
    static func sample(_ connection: PQConnection, since: Double) async throws -> Sample {
        let row = try await connection.query("""
            WITH clock AS (SELECT clock_timestamp() AS now)
            SELECT extract(epoch FROM clock.now)::float8 AS now,
                   (SELECT count(*) FROM pgworker.jobs
                    WHERE state IN ('succeeded', 'dead', 'cancelled')
                      AND finished_at > to_timestamp($1) AND finished_at <= clock.now) AS done,
                   (SELECT count(*) FROM pgworker.jobs WHERE state IN ('available', 'retryable')) AS backlog,
                   pg_total_relation_size('pgworker.jobs') AS table_bytes,
                   pg_relation_size('pgworker.jobs_claim_idx') AS index_bytes,
                   coalesce((SELECT n_dead_tup FROM pg_stat_all_tables WHERE relid = 'pgworker.jobs'::regclass), 0) AS dead,
                   (SELECT max(claim_turn_p99_ms) FROM pgworker.workers) AS claim_p99
            FROM clock
            """, [since]).rows[0]
        let now: Double = try row.decode("now")
        let done: Int = try row.decode("done")
        return Sample(serverTime: now, donePerSecond: Double(done) / max(now - since, 0.001),
                      backlog: try row.decode("backlog"), tableBytes: try row.decode("table_bytes"),
                      claimIndexBytes: try row.decode("index_bytes"), deadRows: try row.decode("dead"),
                      workerClaimP99: try row.decodeIfPresent("claim_p99"))
    }
}
