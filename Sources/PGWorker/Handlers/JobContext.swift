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
    /// Where progress reports go; nil outside a worker (reports are then dropped).
    private let progressSink: (@Sendable (Int64, Double, String?) -> Void)?
    /// Set by the worker for handlers whose job may wait inside the handler before it really
    /// starts (``PersistentCommandTask``: until a copy of its program takes the job). Called then,
    /// it starts the attempt's timeout and the clock of its logged duration.
    var startsRunning: (@Sendable () -> Void)?

    /// Creates a context; workers do this for each attempt. `logger` is the worker's logger; the
    /// context adds the job's metadata.
    public init(id: Int64, task: String, queue: String, payload: String, attempt: Int, maxAttempts: Int, logger: Logger) {
        self.init(id: id, task: task, queue: queue, payload: payload, attempt: attempt, maxAttempts: maxAttempts,
                  logger: logger, progress: nil)
    }

    /// Creates a context whose ``reportProgress(_:message:)`` calls `progress` with the job's id,
    /// the fraction (0...1) and the message.
    public init(id: Int64, task: String, queue: String, payload: String, attempt: Int, maxAttempts: Int, logger: Logger,
                progress: (@Sendable (Int64, Double, String?) -> Void)?) {
        self.progressSink = progress
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

    /// Reports how far this attempt has got: `fraction` from 0 to 1 (clamped; NaN is ignored)
    /// and an optional short message (cut to 200 characters). The latest report is stored on the
    /// job's row (`progress`, `progress_message`, `progress_at`) and shown by `pgworker jobs`
    /// and the dashboard.
    ///
    /// Cheap enough to call in a tight loop: it only replaces a value in memory; the worker writes
    /// the latest one every ``WorkerConfiguration/progressInterval`` and when the job ends.
    public func reportProgress(_ fraction: Double, message: String? = nil) {
        guard !fraction.isNaN else { return }
        progressSink?(id, min(1, max(0, fraction)), progressMessage(message))
    }
}
