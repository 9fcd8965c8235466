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

    /// Creates options; all arguments are optional.
    public init(queue: String = "default", runAt: Date? = nil, priority: Int = 0, maxAttempts: Int = 25) {
        self.queue = queue
        self.runAt = runAt
        self.priority = priority
        self.maxAttempts = maxAttempts
    }
}
