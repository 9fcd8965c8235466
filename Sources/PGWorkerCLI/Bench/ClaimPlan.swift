import PostgresClient

/// Shows the plan of the worker's claim statement on a table holding many finished jobs, to
/// check that it stays an index scan on `jobs_claim_idx` (the partial index of runnable rows).
enum ClaimPlan {
    /// New jobs in the burst case.
    static let burstRows = 20_000

    /// The claim inside `pgworker.complete_and_claim` (its usual turn, SQL/functions/complete_and_claim.sql), with the
    /// function's variables as parameters: worker id, tasks (SQL tasks included), queues, max
    /// jobs, paused queues, capped queues.
    static let claimStatement = """
        WITH picked AS MATERIALIZED (
            SELECT j.id
            FROM pgworker.jobs j
            WHERE j.state IN ('available', 'retryable')
              AND j.run_at <= now()
              AND j.lock_key IS NULL
              AND j.task = ANY ($2)
              AND ($3 IS NULL OR j.queue = ANY ($3))
              AND j.queue <> ALL ($5)
              AND j.queue <> ALL ($6)
            ORDER BY j.priority, j.run_at, j.id
            LIMIT $4
            FOR UPDATE SKIP LOCKED
        )
        UPDATE pgworker.jobs j
        SET state = 'running', attempts = j.attempts + 1, locked_by = $1, locked_at = now(), attempted_at = now()
        FROM picked
        WHERE j.id = picked.id
        RETURNING j.*
        """

    /// Fills the table with `finishedRows` succeeded jobs and `runnableRows` available ones, then
    /// returns the plans (with run times) of the claim statement as PL/pgSQL runs it: a custom
    /// plan for the actual values and the generic plan it may switch to; then the plan for a burst
    /// of `burstRows` new jobs while the statistics still say nothing is runnable. Nothing is
    /// claimed or kept: the EXPLAIN ANALYZEs run in a transaction that is rolled back.
    static func explain(_ connection: PostgresConnection, finishedRows: Int, runnableRows: Int) async throws -> String {
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

        let arguments = "'bench-explain', ARRAY['bench_noop'], NULL, 100, '{}'::text[], '{}'::text[]"
        var report = ""
        try await connection.execute("BEGIN")
        do {
            try await connection.execute(
                "PREPARE bench_claim(text, text[], text[], integer, text[], text[]) AS \(claimStatement)")
            // The worker runs the generic plan with sorting ruled out (complete_and_claim.sql); shown as it runs.
            for (mode, title) in [("force_custom_plan", "custom plan"), ("force_generic_plan", "generic plan, as the worker runs it")] {
                try await connection.execute("SET LOCAL plan_cache_mode = \(mode)")
                try await connection.execute("SET LOCAL enable_sort = \(mode == "force_generic_plan" ? "off" : "on")")
                try await connection.execute("SAVEPOINT explain")
                let plan = try await connection.query(
                    "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) EXECUTE bench_claim(\(arguments))")
                try await connection.execute("ROLLBACK TO SAVEPOINT explain")
                report += "-- \(title), claim 100 of \(runnableRows) runnable among \(finishedRows) finished jobs\n"
                report += plan.rows.compactMap { $0.values.first ?? nil }.joined(separator: "\n") + "\n"
            }
            // A burst after a quiet spell: the statistics still say nothing is runnable (ANALYZE
            // inside this transaction counts the deleted rows as gone), then many jobs arrive.
            try await connection.execute("DELETE FROM pgworker.jobs WHERE state = 'available'")
            try await connection.execute("ANALYZE pgworker.jobs")
            try await connection.query(
                "INSERT INTO pgworker.jobs (task) SELECT $1 FROM generate_series(1, $2)", [task, burstRows])
            try await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            let plan = try await connection.query(
                "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) EXECUTE bench_claim(\(arguments))")
            report += "-- custom plan, claim 100 of a burst of \(burstRows) new jobs; statistics from before the burst "
                + "(no runnable jobs among \(finishedRows) finished)\n"
            report += plan.rows.compactMap { $0.values.first ?? nil }.joined(separator: "\n") + "\n"
        } catch {
            try? await connection.execute("ROLLBACK")
            throw error
        }
        try await connection.execute("ROLLBACK")
        try await connection.execute("TRUNCATE pgworker.jobs")
        return report
    }
}
