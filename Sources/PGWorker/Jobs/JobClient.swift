import Foundation
import PQClient

/// Enqueues jobs and reads them back, from Swift.
///
/// Enqueueing is an INSERT through `pgworker.add_job`; run it on a connection inside your own
/// transaction (``PQConnection/withTransaction(_:)``) and the job commits or rolls back
/// with your data.
public struct JobClient: Sendable {
    /// The connection statements run on.
    public let connection: PQConnection

    /// Creates a client on an open connection.
    public init(connection: PQConnection) {
        self.connection = connection
    }

    /// Enqueues a job whose payload is `payload` encoded as JSON. Returns the new job's id.
    @discardableResult
    public func add<Payload: Encodable & Sendable>(
        _ task: String, payload: Payload, options: JobOptions = JobOptions()
    ) async throws -> Int64 {
        let json = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
        return try await add(task, json: json, options: options).id
    }

    /// Enqueues a job whose payload is JSON text, checked by PostgreSQL. Returns the new row (or,
    /// with a ``JobOptions/jobKey`` already waiting, that job's row).
    ///
    /// With a tracer active, this runs in a `send <task>` span whose trace context is stored with
    /// the job, so the spans of its attempts join the caller's trace (docs/tracing.md).
    @discardableResult
    public func add(_ task: String, json: String = "{}", options: JobOptions = JobOptions()) async throws -> JobRecord {
        try await EnqueueSpan.withSpan(task: task, queue: options.queue) { traceContext, span in
            let result = try await connection.query(
                """
                SELECT \(JobRecord.columns) FROM pgworker.add_job(
                    task => $1, payload => $2::jsonb, queue => $3, run_at => $4::timestamptz,
                    priority => $5, max_attempts => $6, job_key => $7, job_key_mode => $8, lock_key => $9,
                    trace_context => $10::jsonb)
                """,
                [task, json, options.queue, options.runAt, options.priority, options.maxAttempts,
                 options.jobKey, options.jobKeyMode.rawValue, options.lockKey, traceContext]
            )
            let record = try JobRecord(row: result.rows[0])
            EnqueueSpan.setJobID(record.id, on: span)
            return record
        }
    }

    /// Enqueues many jobs of one task in a single statement (one notification per queue).
    /// Returns their ids in order. ``JobOptions/lockKey`` applies to all; ``JobOptions/jobKey`` is
    /// not used (many jobs cannot share one). With a tracer active, one `send <task>` span
    /// covers them all and each stores its trace context.
    @discardableResult
    public func addMany(_ task: String, jsonPayloads: [String], options: JobOptions = JobOptions()) async throws -> [Int64] {
        try await EnqueueSpan.withSpan(task: task, queue: options.queue) { traceContext, span in
            let result = try await connection.query(
                """
                INSERT INTO pgworker.jobs (task, payload, queue, run_at, priority, max_attempts, lock_key, trace_context)
                SELECT $1, p, $3, coalesce($4::timestamptz, now()), $5, $6, $7, $8::jsonb
                FROM unnest($2::jsonb[]) WITH ORDINALITY AS t(p, n)
                ORDER BY n
                RETURNING id
                """,
                [task, jsonPayloads, options.queue, options.runAt, options.priority, options.maxAttempts,
                 options.lockKey, traceContext]
            )
            EnqueueSpan.setJobCount(result.rows.count, on: span)
            return try result.rows.map { try $0.decode("id") }
        }
    }

    /// Reads one job, or nil if there is none with this id.
    public func job(id: Int64) async throws -> JobRecord? {
        let result = try await connection.query("SELECT \(JobRecord.columns) FROM pgworker.jobs WHERE id = $1", [id])
        return try result.first.map(JobRecord.init(row:))
    }
}
