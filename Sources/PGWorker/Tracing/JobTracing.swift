import Tracing

/// The instrument and tracer pgworker reports to: those active where they are read (a tracer
/// bound with `withTracer`, else the one bootstrapped in `InstrumentationSystem`), or nil when
/// there is none, so untraced work costs one check.
struct JobTracing: Sendable {
    /// Injects and extracts trace contexts (a tracer, or any propagating instrument).
    let instrument: any Instrument
    /// Makes the spans; a `NoOpTracer` when the instrument only propagates.
    let tracer: any Tracer

    /// The active instrument and tracer, or nil when no instrument is active.
    static func active() -> JobTracing? {
        let instrument = InstrumentationSystem.instrument
        if instrument is NoOpInstrument || instrument is NoOpTracer { return nil }
        return JobTracing(instrument: instrument, tracer: InstrumentationSystem.tracer)
    }
}

/// The names of the attributes pgworker puts on its spans. The `messaging.*` ones follow
/// OpenTelemetry's messaging conventions, so tracing back ends show jobs as messages.
enum JobSpanAttribute {
    /// The job's id (`pgworker.jobs.id`).
    static let jobID = "pgworker.job.id"
    /// The job's task.
    static let task = "pgworker.job.task"
    /// The job's queue.
    static let queue = "pgworker.job.queue"
    /// The attempt this span is (1 for the first run).
    static let attempt = "pgworker.job.attempt"
    /// The job's maximum number of attempts.
    static let maxAttempts = "pgworker.job.max_attempts"
    /// How the attempt ended: an ``AttemptOutcome``.
    static let outcome = "pgworker.job.outcome"
    /// How many jobs one enqueue added (`addMany`).
    static let jobCount = "pgworker.job.count"
    /// Always `pgworker`.
    static let messagingSystem = "messaging.system"
    /// `send` when enqueueing, `process` when running.
    static let messagingOperation = "messaging.operation.type"
    /// The queue.
    static let messagingDestination = "messaging.destination.name"
    /// The job's id, as text.
    static let messagingMessageID = "messaging.message.id"
}
