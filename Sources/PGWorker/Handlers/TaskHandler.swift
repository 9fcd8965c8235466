/// Runs the jobs of one task.
///
/// Most code registers a closure with ``TaskRegistry/register(_:payload:retryOnDecodingFailure:timeout:_:)``;
/// implement this protocol for handlers that work on the raw JSON, like ``CommandTask``.
public protocol TaskHandler: Sendable {
    /// Runs one attempt. Returns the result as JSON text (or nil for none); throws to fail the
    /// attempt (see ``JobFailure``). Cancellation means the worker is shutting down or the job
    /// timed out: stop soon.
    func handle(_ job: JobContext) async throws -> String?
}
