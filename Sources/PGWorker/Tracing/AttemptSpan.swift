import Tracing

/// The span of one attempt of a job, `process <task>` (kind consumer): a child of the trace
/// context stored when the job was enqueued, if any. The handler runs inside its context, so
/// the handler's own spans nest under it and a command gets it as `TRACEPARENT`.
struct AttemptSpan {
    let span: any Span

    /// Starts the span of `job`'s attempt.
    init(_ job: ClaimedJob, tracing: JobTracing) {
        let parent = job.traceContext.map { TraceContextCarrier.context(extracting: $0, with: tracing.instrument) }
            ?? .topLevel
        span = tracing.tracer.startSpan("process \(job.task)", context: parent, ofKind: .consumer)
        span.updateAttributes { attributes in
            attributes[JobSpanAttribute.jobID] = job.id
            attributes[JobSpanAttribute.task] = job.task
            attributes[JobSpanAttribute.queue] = job.queue
            attributes[JobSpanAttribute.attempt] = job.attempt
            attributes[JobSpanAttribute.maxAttempts] = job.maxAttempts
            attributes[JobSpanAttribute.messagingSystem] = "pgworker"
            attributes[JobSpanAttribute.messagingOperation] = "process"
            attributes[JobSpanAttribute.messagingDestination] = job.queue
            attributes[JobSpanAttribute.messagingMessageID] = String(job.id)
        }
    }

    /// The context the handler runs in.
    var context: ServiceContext { span.context }

    /// Records how the attempt ended (and why it failed), and ends the span.
    func end(_ outcome: AttemptOutcome, error: String?) {
        span.attributes[JobSpanAttribute.outcome] = outcome.rawValue
        if outcome != .succeeded {
            let message = error ?? outcome.rawValue
            span.recordError(JobAttemptError(message: message, outcome: outcome))
            span.setStatus(SpanStatus(code: .error, message: message))
        }
        span.end()
    }
}

/// The error an attempt's span records when the attempt did not succeed: the message the job's
/// row gets as `last_error`.
struct JobAttemptError: Error, CustomStringConvertible {
    let message: String
    let outcome: AttemptOutcome

    var description: String { message }
}
