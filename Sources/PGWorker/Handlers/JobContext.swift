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
    /// The worker's logger, without the job's metadata (added by ``logger`` on use).
    private let baseLogger: Logger

    /// Creates a context; workers do this for each attempt. `logger` is the worker's logger; the
    /// context adds the job's metadata.
    public init(id: Int64, task: String, queue: String, payload: String, attempt: Int, maxAttempts: Int, logger: Logger) {
        self.id = id
        self.task = task
        self.queue = queue
        self.payload = payload
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.baseLogger = logger
    }

    /// A logger with the job's id, task, queue and attempt as metadata.
    ///
    /// Built when asked for: setting metadata on swift-log's stream handler re-renders it, which
    /// for a no-op job cost more than claiming and completing it.
    public var logger: Logger {
        var logger = baseLogger
        logger.handler.metadata.merge(metadata) { $1 }
        return logger
    }

    /// The job's id, task, queue and attempt, as log metadata.
    public var metadata: Logger.Metadata {
        ["job": .stringConvertible(id), "task": .string(task), "queue": .string(queue), "attempt": .stringConvertible(attempt)]
    }

    /// True when this is the job's last allowed attempt.
    public var isLastAttempt: Bool { attempt >= maxAttempts }
}
