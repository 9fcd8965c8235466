import Foundation

/// A typed job: a `Codable` payload that carries its task's name and default options, so the
/// name is written once and a typo does not compile.
///
/// ```swift
/// struct SendReceipt: JobParameters {
///     static let jobName = "send_receipt"
///     static let defaultOptions = JobOptions(queue: "mail", maxAttempts: 5)
///     let orderID: Int
/// }
/// tasks.register(SendReceipt.self) { receipt, job in try await mailer.send(receipt.orderID) }
/// try await JobClient(connection: connection).add(SendReceipt(orderID: 7))
/// ```
/// The string API (`register("send_receipt", ...)`, `add("send_receipt", ...)`) stays for tasks
/// named at run time; command and SQL tasks keep their names in the database.
public protocol JobParameters: Codable, Sendable {
    /// The task's name, the `task` column of its jobs.
    static var jobName: String { get }
    /// Options for jobs enqueued without their own: queue, priority, max attempts, keys.
    static var defaultOptions: JobOptions { get }
    /// How long one run may take before it is cancelled; nil for no limit.
    static var timeout: Duration? { get }
}

extension JobParameters {
    /// The stock options: queue `default`, priority 0, 25 attempts.
    public static var defaultOptions: JobOptions { JobOptions() }
    /// No timeout.
    public static var timeout: Duration? { nil }
}

extension TaskRegistry {
    /// Registers the handler of a typed job, under its ``JobParameters/jobName`` and with its
    /// ``JobParameters/timeout``. The other options are those of the string-named `register`.
    public mutating func register<Job: JobParameters, Result: Encodable & Sendable>(
        _ job: Job.Type,
        retryOnDecodingFailure: Bool = false,
        needsCommittedClaim: Bool = false,
        _ body: @escaping @Sendable (Job, JobContext) async throws -> Result
    ) {
        register(Job.jobName, payload: Job.self, retryOnDecodingFailure: retryOnDecodingFailure,
                 timeout: Job.timeout, needsCommittedClaim: needsCommittedClaim, body)
    }

    /// Registers the handler of a typed job that returns no result.
    public mutating func register<Job: JobParameters>(
        _ job: Job.Type,
        retryOnDecodingFailure: Bool = false,
        needsCommittedClaim: Bool = false,
        _ body: @escaping @Sendable (Job, JobContext) async throws -> Void
    ) {
        register(Job.jobName, payload: Job.self, retryOnDecodingFailure: retryOnDecodingFailure,
                 timeout: Job.timeout, needsCommittedClaim: needsCommittedClaim, body)
    }
}

extension JobClient {
    /// Enqueues a typed job with `options`, or its type's ``JobParameters/defaultOptions``.
    /// Returns the new row (or, with a job key already waiting, that job's row).
    @discardableResult
    public func add<Job: JobParameters>(_ job: Job, options: JobOptions? = nil) async throws -> JobRecord {
        try await add(Job.jobName, json: try Self.json(job), options: options ?? Job.defaultOptions)
    }

    /// Enqueues a typed job and waits for its outcome, as the string-named `addAndWait` does.
    public func addAndWait<Job: JobParameters>(
        _ job: Job, options: JobOptions? = nil, timeout: Duration? = nil
    ) async throws -> JobRecord {
        try await addAndWait(Job.jobName, json: try Self.json(job), options: options ?? Job.defaultOptions, timeout: timeout)
    }

    private static func json<Job: JobParameters>(_ job: Job) throws -> String {
        String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
    }
}
