import Foundation

/// How to enqueue a job. Every field has the same default as `pgworker.add_job`.
public struct JobOptions: Sendable {
    /// The queue; workers may be limited to some queues.
    public var queue: String
    /// Not before this time; `nil` means now.
    public var runAt: Date?
    /// Lower runs first.
    public var priority: Int
    /// Attempts before the job is dead.
    public var maxAttempts: Int
    /// Makes the job unique among waiting jobs; see ``jobKeyMode``.
    public var jobKey: String?
    /// What adding does when a job with ``jobKey`` is already waiting.
    public var jobKeyMode: JobKeyMode
    /// Jobs with the same lock key never run at the same time, and run in order.
    public var lockKey: String?

    /// Creates options; all arguments are optional.
    public init(queue: String = "default", runAt: Date? = nil, priority: Int = 0, maxAttempts: Int = 25,
                jobKey: String? = nil, jobKeyMode: JobKeyMode = .skip, lockKey: String? = nil) {
        self.queue = queue
        self.runAt = runAt
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.jobKey = jobKey
        self.jobKeyMode = jobKeyMode
        self.lockKey = lockKey
    }
}

/// What adding a job does when a job with the same key is already waiting (`available` or
/// `retryable`). The raw values are `pgworker.add_job`'s `job_key_mode` values.
public enum JobKeyMode: String, Sendable {
    /// Keep the waiting job unchanged and return it.
    case skip
    /// Give the waiting job the new payload and run_at (debounce).
    case replace
    /// Give the waiting job the new payload, keep its run_at (throttle).
    case preserveRunAt = "preserve_run_at"
    /// Like ``skip``, but a running job with the key also counts: it is returned and nothing is
    /// added. (Otherwise a running job does not hold its key.)
    case skipWaitingOrRunning = "skip_waiting_or_running"
}
