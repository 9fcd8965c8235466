/// Runs the jobs of one task.
///
/// Most code registers a closure with ``TaskRegistry/register(_:payload:retryOnDecodingFailure:timeout:_:)``;
/// implement this protocol for handlers that work on the raw JSON, like ``CommandTask``.
public protocol TaskHandler: Sendable {
    /// Runs one attempt. Returns the result as JSON text (or nil for none); throws to fail the
    /// attempt (see ``JobFailure``). Cancellation means the worker is shutting down or the job
    /// timed out: stop soon.
    func handle(_ job: JobContext) async throws -> String?

    /// Whether a job may start only once the transaction that claimed it has committed.
    ///
    /// By default (false) a worker starts a job as soon as its claim has run, while the server
    /// is still committing it -- a WAL flush, under a millisecond -- so short jobs overlap that
    /// wait. For that moment other sessions still see the job as `available`; its outcome is
    /// written only after the claim committed, and if the commit fails the job runs again. Return
    /// true when the handler looks its job up from another connection: ``CommandTask`` does,
    /// since its program may, and SQL tasks always do. Jobs with a lock key or of a queue with a
    /// running limit always wait for the commit, whatever this says.
    var needsCommittedClaim: Bool { get }

    /// Called once when a worker that runs this handler begins to stop (``Worker/stop()`` or a
    /// graceful shutdown), while its running jobs still have their grace period: jobs that wait
    /// inside the handler and have not started may be given back now, by throwing from
    /// ``handle(_:)`` (``PersistentCommandTask`` does, for jobs waiting for a copy of its program).
    func workerStopping()

    /// Called once when a worker that runs this handler stops, after its last job ended: release
    /// what the handler holds across jobs (``PersistentCommandTask`` stops its programs).
    func workerStopped() async
}

extension TaskHandler {
    /// False: the job may start while its claim is committing (see the requirement).
    public var needsCommittedClaim: Bool { false }

    /// Does nothing.
    public func workerStopping() {}

    /// Does nothing.
    public func workerStopped() async {}
}
