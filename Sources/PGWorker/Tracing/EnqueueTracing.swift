import Tracing

/// The enqueue span for code that enqueues through its own client rather than ``JobClient``
/// (the `PGWorkerNIO` product does): a `send <task>` producer span in the caller's context, and
/// the trace context to store with the jobs (`add_job`'s `trace_context`, an `add_jobs` item's
/// `"trace_context"`), so their attempts' spans become its children.
public enum EnqueueTracing {
    /// Runs `enqueue` in an enqueue span when a tracer is active, passing it the trace context
    /// to store as JSON text (nil with no tracer: store nothing). `jobIDs` names the jobs the
    /// result holds, recorded on the span.
    public static func withSpan<Result: Sendable>(
        task: String, queue: String,
        isolation: isolated (any Actor)? = #isolation,
        jobIDs: (Result) -> [Int64],
        _ enqueue: (_ traceContext: String?) async throws -> Result
    ) async throws -> Result {
        try await EnqueueSpan.withSpan(task: task, queue: queue) { traceContext, span in
            let result = try await enqueue(traceContext)
            let ids = jobIDs(result)
            if ids.count == 1 {
                EnqueueSpan.setJobID(ids[0], on: span)
            } else {
                EnqueueSpan.setJobCount(ids.count, on: span)
            }
            return result
        }
    }
}
