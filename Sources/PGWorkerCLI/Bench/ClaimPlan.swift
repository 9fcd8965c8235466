import PQClient

/// Shows the plans of the statements inside `pgworker.complete_and_claim`, the function every
/// worker turn calls, on a table holding many finished jobs: the claim must stay an index scan on
/// `jobs_claim_idx` (the partial index of runnable rows) that stops at its LIMIT.
///
/// The plans are the function's own, as a worker runs them (its generic plans, its settings),
/// caught with `auto_explain` for nested statements; nothing is copied from the SQL.
enum ClaimPlan {
    /// New jobs in the burst case.
    static let burstRows = 20_000

    /// One worker turn with nothing to complete, claiming up to 100 `bench_noop` jobs.
    private static let turn = """
        SELECT count(*) FROM pgworker.complete_and_claim('bench-explain', '{}'::bigint[], '{}'::boolean[],
            '{}'::jsonb[], '{}'::text[], '{}'::boolean[], ARRAY['bench_noop'], NULL, 100, false)
        """

    /// Fills the table with `finishedRows` succeeded jobs and `runnableRows` available ones, then
    /// returns the plans of one worker turn's claim; then the same for a burst of `burstRows` new
    /// jobs while the statistics still say nothing is runnable. Nothing is claimed or kept: each
    /// turn runs in a transaction that is rolled back.
    static func explain(_ connection: PQConnection, finishedRows: Int, runnableRows: Int) async throws -> String {
        let task = "bench_noop"
        try await connection.execute("TRUNCATE pgworker.jobs")
        try await connection.query(
            """
            INSERT INTO pgworker.jobs (task, state, attempts, run_at, attempted_at, finished_at, created_at)
            SELECT $1, 'succeeded', 1, t, t, t, t
            FROM (SELECT now() - make_interval(secs => g) AS t FROM generate_series(1, $2) AS g) AS s
            """, [task, finishedRows])
        try await connection.query(
            "INSERT INTO pgworker.jobs (task) SELECT $1 FROM generate_series(1, $2)", [task, runnableRows])
        try await connection.execute("VACUUM ANALYZE pgworker.jobs")

        var report = "-- claim of one worker turn (complete_and_claim's generic plan), 100 of \(runnableRows) runnable among \(finishedRows) finished jobs\n"
        report += try await turnPlans(connection, setUp: nil)
        // A burst after a quiet spell: the statistics still say nothing is runnable, then many
        // jobs arrive (ANALYZE inside the transaction counts the deleted rows as gone).
        report += "-- the same turn for a burst of \(burstRows) new jobs; statistics from before the burst "
            + "(no runnable jobs among \(finishedRows) finished)\n"
        report += try await turnPlans(connection, setUp: """
            DELETE FROM pgworker.jobs WHERE state = 'available';
            ANALYZE pgworker.jobs;
            INSERT INTO pgworker.jobs (task) SELECT '\(task)' FROM generate_series(1, \(burstRows));
            """)
        try await connection.execute("TRUNCATE pgworker.jobs")
        return report
    }

    /// The plans of the claiming statements run by one turn, in a transaction rolled back.
    private static func turnPlans(_ connection: PQConnection, setUp: String?) async throws -> String {
        try await connection.execute("BEGIN")
        do {
            if let setUp { try await connection.execute(setUp) }
            do {
                try await connection.execute("LOAD 'auto_explain'")
            } catch {
                try await connection.execute("ROLLBACK")
                return "(plan not shown: LOAD 'auto_explain' needs a superuser: \(error))\n"
            }
            try await connection.execute("""
                SET LOCAL auto_explain.log_min_duration = 0;
                SET LOCAL auto_explain.log_nested_statements = on;
                SET LOCAL auto_explain.log_analyze = on;
                SET LOCAL auto_explain.log_buffers = on;
                SET LOCAL auto_explain.log_timing = off;
                SET LOCAL auto_explain.log_level = notice;
                SET LOCAL client_min_messages = notice;
                """)
            let (_, notices) = try await connection.collectingNotices { try $0.execute(turn) }
            try await connection.execute("ROLLBACK")
            let claims = notices.filter { $0.contains("FOR UPDATE SKIP LOCKED") }
            guard !claims.isEmpty else { return "(no claim statement ran)\n" }
            return claims.map(planLines).joined(separator: "\n") + "\n"
        } catch {
            try? await connection.execute("ROLLBACK")
            throw error
        }
    }

    /// An auto_explain message without its header and query text: from the plan's root line on.
    private static func planLines(_ message: String) -> String {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
        guard let root = lines.firstIndex(where: { $0.contains("(cost=") || $0.contains("(actual ") }) else { return message }
        return lines[root...].joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
