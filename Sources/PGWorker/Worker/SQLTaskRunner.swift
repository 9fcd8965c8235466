import Logging
import PostgresClient

/// Runs jobs of SQL tasks (functions registered in `pgworker.sql_tasks`) on a pool connection.
///
/// The database runs the function and records the outcome in one transaction
/// (`pgworker.run_sql_job`), so the function's effects and the job's `succeeded` state commit
/// together, or neither does.
struct SQLTaskRunner: Sendable {
    let pool: ConnectionPool
    let workerID: String

    /// Runs one claimed job. Returns a completion only when the database could not record the
    /// outcome itself: the connection died, or the statement was cancelled (shutdown).
    func run(_ job: ClaimedJob, logger: Logger) async -> Completion? {
        let workerID = self.workerID
        do {
            let state = try await pool.withConnection { managed in
                do {
                    let connection = try await managed.connection()
                    return try await withTaskCancellationHandler {
                        try await JobStatements.runSQLJob(connection, jobID: job.id, workerID: workerID)
                    } onCancel: {
                        connection.cancelRunningQuery()
                    }
                } catch {
                    await managed.invalidate(after: error)
                    throw error
                }
            }
            WorkerMetrics.sqlJobRecorded(job, state: state)
            logger.debug("SQL task recorded its outcome", metadata: ["state": .string(state ?? "not held")])
            return nil
        } catch let error as PostgresError where error.sqlState == "57014" {
            return .cancelledByShutdown(job.id)
        } catch {
            return .failure(job.id, error: "SQL task could not run: \(error)")
        }
    }
}
