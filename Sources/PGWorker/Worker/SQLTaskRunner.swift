import Logging
import PQClient

/// Runs one job of a SQL task (a function or procedure registered in `pgworker.sql_tasks`) on a
/// pool connection; ``SQLTaskBatcher`` decides when, and runs many function jobs at once.
///
/// - A **function** runs inside `pgworker.run_sql_job`, which also records the outcome, in one
///   transaction: the function's effects and the job's `succeeded` state commit together, or
///   neither does (exactly-once effects).
/// - A **procedure** is CALLed outside a transaction block, so it may COMMIT; its outcome is
///   recorded afterwards like a Swift handler's. A worker that dies in between leaves the job to
///   be rescued and run again: at-least-once.
///
/// A task's `timeout` becomes the `statement_timeout` of the call; a job that hits it fails with
/// a timeout error (and a function's effects roll back).
///
/// After each job the connection's session is reset (`DISCARD ALL`): a task that changed a
/// setting or its role, created a temporary table, took a session advisory lock or LISTENed
/// must not pass that on to the next job.
enum SQLTaskRunner {
    /// How one SQL-task job ran.
    struct Run: Sendable {
        /// The outcome for the engine loop to record: procedures, timeouts, a lost connection,
        /// or a statement cancelled by shutdown; nil when `run_sql_job(s)` recorded it itself.
        var completion: Completion?
        /// The state `run_sql_job(s)` recorded (nil when it did not, or the job was not held).
        var recordedState: String?
        /// The task's timeout stopped it.
        var timedOut = false
    }

    /// Runs one claimed job on `managed` (a pool connection) and resets the session after it.
    static func run(_ job: ClaimedJob, on managed: ManagedConnection, workerID: String, logger: Logger) async -> Run {
        do {
            let connection: PQConnection
            let outcome: Run
            do {
                connection = try await managed.connection()
                outcome = try await withTaskCancellationHandler {
                    try await Self.run(job, on: connection, workerID: workerID, logger: logger)
                } onCancel: {
                    connection.cancelRunningQuery()
                }
            } catch {
                if !(await managed.invalidate(after: error)) { await Self.resetSession(managed, logger: logger) }
                throw error
            }
            await Self.resetSession(managed, logger: logger)
            return outcome
        } catch let error as PQError where error.sqlState == "57014" && Task.isCancelled {
            return Run(completion: .cancelledByShutdown(job.id))
        } catch {
            return Run(completion: .failure(job.id, error: "SQL task could not run: \(error)"))
        }
    }

    /// Undoes whatever the task changed in its session (settings, `role`, temporary tables,
    /// session advisory locks, LISTENs), so the next job on this pooled connection starts clean;
    /// a connection that cannot be reset is closed (the next job opens a new one).
    static func resetSession(_ managed: ManagedConnection, logger: Logger) async {
        do {
            try await managed.connection().resetSession(keepingCachedPlans: true)
        } catch {
            logger.warning("could not reset a SQL-task connection; closing it", metadata: ["error": "\(error)"])
            await managed.close()
        }
    }

    private static func run(_ job: ClaimedJob, on connection: PQConnection, workerID: String,
                            logger: Logger) async throws -> Run {
        let plan = try await SQLTaskPlan.load(connection, task: job.task)
        if let plan, plan.kind == .procedure {
            return try await callProcedure(job, plan, on: connection)
        }
        let state: String?
        if let timeout = plan?.timeoutMilliseconds {
            do {
                state = try await connection.withTransaction { connection in
                    // Takes effect from the next statement on: the timer starts with each statement.
                    try connection.query("SELECT set_config('statement_timeout', $1, true)", [String(timeout)])
                    return try connection.queryPrepared("SELECT pgworker.run_sql_job($1, $2) AS state", [job.id, workerID])
                        .first?.decodeIfPresent("state", as: String.self)
                }
            } catch let error as PQError where error.sqlState == "57014" && !Task.isCancelled {
                return Run(completion: .failure(job.id, error: timeoutMessage(timeout, rolledBack: true)), timedOut: true)
            }
        } else {
            // No timeout, or no longer registered (run_sql_job records that).
            state = try await JobStatements.runSQLJob(connection, jobID: job.id, workerID: workerID)
        }
        WorkerMetrics.sqlJobRecorded(job, state: state)
        logger.debug("SQL task recorded its outcome", metadata: ["state": .string(state ?? "not held")])
        return Run(completion: nil, recordedState: state)
    }

    /// CALLs a procedure outside a transaction block, with the task's timeout for this call only.
    private static func callProcedure(_ job: ClaimedJob, _ plan: SQLTaskPlan,
                                      on connection: PQConnection) async throws -> Run {
        let timeout = plan.timeoutMilliseconds
        guard let call = plan.callStatement else {
            return Run(completion: .failure(job.id, error: "pgworker could not build the CALL statement for task \(job.task)"))
        }
        // The procedure finds its job in pgworker.job_id (pgworker.report_progress checks it);
        // the session reset after the job clears it. One statement with the timeout, if any.
        try await connection.execute("SET pgworker.job_id = '\(job.id)'"
            + (timeout.map { "; SET statement_timeout = \($0)" } ?? ""))
        do {
            try await connection.query(call, [job.payload])
            if timeout != nil { try await connection.execute("RESET statement_timeout") }
            return Run(completion: .success(job.id, result: nil))
        } catch let error as PQError where !error.isConnectionLoss {
            if timeout != nil { try await connection.execute("RESET statement_timeout") }
            if error.sqlState == "57014", !Task.isCancelled, let timeout {
                return Run(completion: .failure(job.id, error: timeoutMessage(timeout, rolledBack: false)), timedOut: true)
            }
            if error.sqlState == "57014", Task.isCancelled { throw error }
            return Run(completion: .failure(job.id, error: error.description))
        }
    }

    private static func timeoutMessage(_ milliseconds: Int, rolledBack: Bool) -> String {
        "timed out: the SQL task ran longer than its timeout of \(milliseconds) ms (statement_timeout, SQLSTATE 57014)"
            + (rolledBack ? "; its effects were rolled back" : "; work it committed before that stays committed")
    }
}
