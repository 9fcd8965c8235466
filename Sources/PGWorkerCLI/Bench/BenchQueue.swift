import Foundation
import PQClient

/// What the benchmark does to `pgworker.jobs` of its own database around each measurement:
/// empty it, fill it, wait for it to drain, and read how fast it drained.
struct BenchQueue: Sendable {
    let connection: PQConnection

    /// Jobs per INSERT statement when filling the queue.
    static let bulkBatch = 1000

    /// Empties the table and checkpoints, so every measurement starts from the same state.
    func reset() async throws {
        try await connection.execute("TRUNCATE pgworker.jobs; DELETE FROM pgworker.workers")
        // CHECKPOINT needs superuser or pg_checkpoint; without it the measurement is just noisier.
        try? await connection.execute("CHECKPOINT")
    }

    /// Enqueues `count` jobs of `task` in one transaction, `bulkBatch` per INSERT statement, and
    /// returns the rate in jobs per second, commit included. Waiting workers see all of them at
    /// once, at the commit (one notification per statement, merged by PostgreSQL).
    ///
    /// Before committing it runs ANALYZE (untimed), which counts the transaction's own new rows,
    /// so every claim is planned with statistics that know the backlog. Without it the plans
    /// depend on whatever the previous measurement left in the statistics, and vary from round
    /// to round (docs/performance.md, "stale statistics").
    @discardableResult
    func insertBulk(task: String, count: Int) async throws -> Double {
        let started = ContinuousClock.now
        let analyzing = try await connection.withTransaction { connection -> Duration in
            var inserted = 0
            while inserted < count {
                let batch = min(Self.bulkBatch, count - inserted)
                let payloads = (inserted..<(inserted + batch)).map { "{\"n\":\($0)}" }
                try connection.queryPrepared(
                    "INSERT INTO pgworker.jobs (task, payload) SELECT $1, p FROM unnest($2::jsonb[]) AS p",
                    [task, payloads])
                inserted += batch
            }
            let analyzeStarted = ContinuousClock.now
            try connection.execute("ANALYZE pgworker.jobs")
            return ContinuousClock.now - analyzeStarted
        }
        return Double(count) / (ContinuousClock.now - started - analyzing).seconds
    }

    /// Waits until `count` workers have registered, and a little longer for their listeners,
    /// which connect right after registration.
    func waitForWorkers(_ count: Int, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let registered: Int = try await connection.query("SELECT count(*) AS n FROM pgworker.workers")
                .rows[0].decode("n")
            if registered >= count {
                try await Task.sleep(for: .milliseconds(300))
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("\(count) worker process(es) did not start within \(timeout)")
    }

    /// Waits until no job is waiting or running. Fails when nothing changed for `stallTimeout`.
    func waitUntilDrained(stallTimeout: Duration = .seconds(60)) async throws {
        var lastPending = Int.max
        var lastProgress = ContinuousClock.now
        while true {
            let pending = try await pendingCount()
            if pending == 0 { return }
            if pending < lastPending {
                lastPending = pending
                lastProgress = .now
            } else if ContinuousClock.now - lastProgress > stallTimeout {
                throw BenchError("no job finished for \(stallTimeout); \(pending) still waiting or running")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Jobs waiting or running (each state counted through its partial index).
    func pendingCount() async throws -> Int {
        try await connection.queryPrepared(
            """
            SELECT (SELECT count(*) FROM pgworker.jobs WHERE state IN ('available', 'retryable'))
                 + (SELECT count(*) FROM pgworker.jobs WHERE state = 'running') AS pending
            """
        ).rows[0].decode("pending")
    }

    /// Jobs in `running` state.
    func runningCount() async throws -> Int {
        try await connection.queryPrepared("SELECT count(*) AS n FROM pgworker.jobs WHERE state = 'running'")
            .rows[0].decode("n")
    }

    /// Finished jobs per second, from the server's own timestamps: succeeded jobs divided by the
    /// time from the first claim to the last completion. Worker start-up and the benchmark's
    /// polling are outside that window.
    func processingRate(expected: Int) async throws -> Double {
        let row = try await connection.query(
            """
            SELECT count(*) AS done,
                   extract(epoch FROM max(finished_at) - min(attempted_at))::float8 AS seconds
            FROM pgworker.jobs WHERE state = 'succeeded'
            """
        ).rows[0]
        let done: Int = try row.decode("done")
        guard done == expected else {
            throw BenchError("expected \(expected) succeeded jobs, found \(done)")
        }
        let seconds: Double = try row.decodeIfPresent("seconds") ?? 0
        return seconds > 0 ? Double(done) / seconds : 0
    }
}

extension BenchQueue {
    /// How often the worker's claim and complete functions have been called in this database so
    /// far (from `pg_stat_user_functions`, which ended sessions have flushed), or nil when function
    /// statistics are off.
    func workerCalls() async throws -> WorkerCalls? {
        let tracking: String = try await connection.query("SELECT current_setting('track_functions') AS t")
            .rows[0].decode("t")
        guard tracking != "none" else { return nil }
        try await connection.execute("SELECT pg_stat_clear_snapshot()")
        let rows = try await connection.query(
            """
            SELECT funcname, calls, total_time FROM pg_stat_user_functions
            WHERE schemaname = 'pgworker' AND funcname IN ('complete_and_claim', 'complete_jobs')
            """
        ).rows
        var calls: [String: (Int, Double)] = [:]
        for row in rows { calls[try row.decode("funcname")] = (try row.decode("calls"), try row.decode("total_time")) }
        // Every turn of the worker is one complete_and_claim call (SQL/functions/complete_and_claim.sql): its claim, and the
        // complete_jobs call nested in it when it has outcomes to write. Claim time is the rest.
        let turns = calls["complete_and_claim"] ?? (0, 0)
        let completions = calls["complete_jobs"] ?? (0, 0)
        return WorkerCalls(claims: turns.0, claimMilliseconds: max(turns.1 - completions.1, 0),
                           completions: completions.0, completionMilliseconds: completions.1)
    }
}

/// Cumulative calls of, and server time spent in, the worker's claim and complete functions.
struct WorkerCalls: Sendable {
    var claims: Int
    var claimMilliseconds: Double
    var completions: Int
    var completionMilliseconds: Double
}

/// A benchmark step that could not be carried out.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration in milliseconds, as a `Double`.
    var milliseconds: Double { seconds * 1000 }
}
