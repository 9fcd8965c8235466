import PGWorker

/// The benchmark's handler: does nothing (a no-op job), or sleeps to keep jobs in flight, and
/// can report the moment each job started.
struct BenchHandler: TaskHandler {
    /// How long each job takes; zero for a no-op.
    var duration: Duration = .zero
    /// Called first thing in every job, with the job's id.
    var onStart: (@Sendable (Int64) -> Void)?

    func handle(_ job: JobContext) async throws -> String? {
        onStart?(job.id)
        if duration > .zero { try await Task.sleep(for: duration) }
        return nil
    }
}
