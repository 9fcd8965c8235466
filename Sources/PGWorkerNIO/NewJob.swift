import Foundation
import PGWorker

/// One job of a batch for ``PostgresNIO/PostgresConnection/addJobs(_:logger:)``: a task, its
/// payload (any `Encodable` value, encoded as JSON) and its options.
///
/// ```swift
/// try await connection.addJobs([
///     NewJob(SendReceipt(orderID: 7)),
///     NewJob(task: "reindex", payload: ["table": "orders"], options: JobOptions(queue: "maintenance")),
/// ])
/// ```
///
/// A batch goes through `pgworker.add_jobs`, whose ``PGWorker/JobOptions/jobKey`` works as mode
/// ``PGWorker/JobKeyMode/skip`` only: other modes throw ``UnsupportedBatchJobKeyMode``; add such
/// jobs one at a time with `addJob`.
public struct NewJob: Sendable {
    /// The task name.
    public var task: String
    /// The payload, encoded as JSON when the batch is sent.
    public var payload: any Encodable & Sendable
    /// Where, when and how the job runs.
    public var options: JobOptions

    /// A typed job, with `options` or else its type's ``PGWorker/JobParameters/defaultOptions``.
    public init<Job: JobParameters>(_ job: Job, options: JobOptions? = nil) {
        self.task = Job.jobName
        self.payload = job
        self.options = options ?? Job.defaultOptions
    }

    /// A job of a task named at run time, with any `Encodable` payload.
    public init(task: String, payload: some Encodable & Sendable, options: JobOptions = JobOptions()) {
        self.task = task
        self.payload = payload
        self.options = options
    }
}

/// A batch held a job whose ``PGWorker/JobOptions/jobKeyMode`` is not ``PGWorker/JobKeyMode/skip``,
/// the only mode `pgworker.add_jobs` has. Nothing was added.
public struct UnsupportedBatchJobKeyMode: Error, Sendable, CustomStringConvertible {
    /// The position of the job in the batch.
    public let index: Int
    /// Its mode.
    public let mode: JobKeyMode

    /// A sentence for logs.
    public var description: String {
        "job \(index) of the batch has job_key_mode \(mode.rawValue); a batch (pgworker.add_jobs) supports only skip: add it with addJob"
    }
}
