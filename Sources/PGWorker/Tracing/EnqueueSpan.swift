import Tracing

/// The span of an enqueue from Swift, `send <task>` (kind producer), in the caller's context (a
/// request's span, say), and the trace context to store with the new jobs so their attempts'
/// spans become its children.
enum EnqueueSpan {
    /// Runs `body` in an enqueue span when an instrument is active, passing it the trace context
    /// to store (JSON text) and the span, whose job ids `body` sets; otherwise runs it with nils.
    static func withSpan<Result: Sendable>(
        task: String, queue: String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (_ traceContext: String?, _ span: (any Span)?) async throws -> Result
    ) async throws -> Result {
        guard let tracing = JobTracing.active() else { return try await body(nil, nil) }
        return try await tracing.tracer.withSpan(
            "send \(task)", context: ServiceContext.current ?? .topLevel, ofKind: .producer
        ) { span in
            span.updateAttributes { attributes in
                attributes[JobSpanAttribute.task] = task
                attributes[JobSpanAttribute.queue] = queue
                attributes[JobSpanAttribute.messagingSystem] = "pgworker"
                attributes[JobSpanAttribute.messagingOperation] = "send"
                attributes[JobSpanAttribute.messagingDestination] = queue
            }
            let traceContext = TraceContextCarrier.json(injecting: span.context, with: tracing.instrument)
            return try await body(traceContext, span)
        }
    }

    /// Sets the id of the one job an enqueue added (or found waiting under its key).
    static func setJobID(_ id: Int64, on span: (any Span)?) {
        guard let span else { return }
        span.attributes[JobSpanAttribute.jobID] = id
        span.attributes[JobSpanAttribute.messagingMessageID] = String(id)
    }

    /// Sets how many jobs a batch enqueue added.
    static func setJobCount(_ count: Int, on span: (any Span)?) {
        span?.attributes[JobSpanAttribute.jobCount] = count
    }
}
