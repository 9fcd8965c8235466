import Logging

/// What a handler knows about the attempt it is running.
public struct JobContext: Sendable {
    /// The job's id.
    public let id: Int64
    /// The task name.
    public let task: String
    /// The queue.
    public let queue: String
    /// The payload as JSON text.
    public let payload: String
    /// This attempt's number, starting at 1.
    public let attempt: Int
    /// Attempts allowed in all.
    public let maxAttempts: Int
    /// A logger with the job's id, task, queue and attempt as metadata.
    public let logger: Logger

    /// Creates a context; workers do this for each attempt.
    public init(id: Int64, task: String, queue: String, payload: String, attempt: Int, maxAttempts: Int, logger: Logger) {
        self.id = id
        self.task = task
        self.queue = queue
        self.payload = payload
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.logger = logger
    }

    /// True when this is the job's last allowed attempt.
    public var isLastAttempt: Bool { attempt >= maxAttempts }
}
