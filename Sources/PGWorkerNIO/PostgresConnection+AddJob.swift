import Foundation
import Logging
import PGWorker
import PostgresNIO

/// Enqueueing pgworker jobs on a postgres-nio connection, inside the caller's own transaction.
///
/// Each call is one statement, `pgworker.add_job` or `pgworker.add_jobs`, with every value bound.
/// Run it on the connection that `PostgresClient.withTransaction` lends, and the job commits or
/// rolls back with the rest of the transaction:
///
/// ```swift
/// try await client.withTransaction(logger: logger) { connection in
///     try await connection.query("INSERT INTO orders (id) VALUES (\(orderID))", logger: logger)
///     try await connection.addJob(SendReceipt(orderID: orderID))
/// }
/// ```
///
/// Outside a transaction block each call commits at once. The role needs `pgworker_app`
/// (docs/security.md).
extension PostgresConnection {
    /// Enqueues a typed job with `options`, or else its type's ``PGWorker/JobParameters/defaultOptions``.
    ///
    /// - Returns: the added job (or, when ``PGWorker/JobOptions/jobKey`` matched a waiting job,
    ///   that job, as ``PGWorker/JobOptions/jobKeyMode`` left it).
    @discardableResult
    public func addJob<Job: JobParameters>(
        _ job: Job, options: JobOptions? = nil, logger: Logger? = nil
    ) async throws -> AddedJob {
        try await addJob(Job.jobName, json: Self.json(job), options: options ?? Job.defaultOptions, logger: logger)
    }

    /// Enqueues a job of a task named at run time, with any `Encodable` payload encoded as JSON.
    @discardableResult
    public func addJob(
        _ task: String, payload: some Encodable & Sendable, options: JobOptions = JobOptions(), logger: Logger? = nil
    ) async throws -> AddedJob {
        try await addJob(task, json: Self.json(payload), options: options, logger: logger)
    }

    /// Enqueues a job whose payload is JSON text, checked by PostgreSQL.
    @discardableResult
    public func addJob(
        _ task: String, json: String = "{}", options: JobOptions = JobOptions(), logger: Logger? = nil
    ) async throws -> AddedJob {
        try await EnqueueTracing.withSpan(task: task, queue: options.queue, jobIDs: { [$0.id] }) { traceContext in
            let query: PostgresQuery = """
                SELECT \(unescaped: AddedJob.columns) FROM pgworker.add_job(
                    task => \(task)::text, payload => \(json)::jsonb, queue => \(options.queue)::text,
                    run_at => \(options.runAt)::timestamptz, priority => \(options.priority)::integer,
                    max_attempts => \(options.maxAttempts)::integer, job_key => \(options.jobKey)::text,
                    job_key_mode => \(options.jobKeyMode.rawValue)::text, lock_key => \(options.lockKey)::text,
                    trace_context => \(traceContext)::jsonb)
                """
            let rows = try await self.query(query, logger: logger ?? pgworkerNIOSilentLogger).collect()
            return try AddedJob(row: rows[0])
        }
    }

    /// Enqueues many jobs in one statement (`pgworker.add_jobs`: one notification per queue).
    ///
    /// A ``PGWorker/JobOptions/jobKey`` works as mode ``PGWorker/JobKeyMode/skip``: a job whose key
    /// is already waiting, or appears earlier in `jobs`, is not added. Another mode throws
    /// ``UnsupportedBatchJobKeyMode`` before anything is sent.
    ///
    /// - Returns: the added jobs in the order of `jobs`, then the waiting jobs that keys matched.
    @discardableResult
    public func addJobs(_ jobs: [NewJob], logger: Logger? = nil) async throws -> [AddedJob] {
        if jobs.isEmpty { return [] }
        let tasks = Set(jobs.map(\.task)), queues = Set(jobs.map(\.options.queue))
        return try await EnqueueTracing.withSpan(
            task: tasks.count == 1 ? jobs[0].task : "batch", queue: queues.count == 1 ? jobs[0].options.queue : "several",
            jobIDs: { $0.map(\.id) }
        ) { traceContext in
            let batch = try BatchSpec.json(jobs, traceContext: traceContext)
            let query: PostgresQuery = "SELECT \(unescaped: AddedJob.columns) FROM pgworker.add_jobs(\(batch)::jsonb)"
            let rows = try await self.query(query, logger: logger ?? pgworkerNIOSilentLogger).collect()
            return try rows.map(AddedJob.init(row:))
        }
    }

    /// Enqueues many typed jobs of one type in one statement, all with `options` or else the
    /// type's ``PGWorker/JobParameters/defaultOptions``. See ``addJobs(_:logger:)``; a job key in
    /// `options` would make them one job: give each its own key with ``NewJob``.
    @discardableResult
    public func addJobs<Job: JobParameters>(
        _ jobs: [Job], options: JobOptions? = nil, logger: Logger? = nil
    ) async throws -> [AddedJob] {
        try await addJobs(jobs.map { NewJob($0, options: options) }, logger: logger)
    }

    private static func json(_ payload: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
    }
}

/// The logger of calls given none: postgres-nio wants one for every query.
let pgworkerNIOSilentLogger = Logger(label: "pgworker.nio", factory: { _ in SwiftLogNoOpLogHandler() })
