import Synchronization

/// The jobs this worker is running, each in a task of its own so that one job can be cancelled
/// (`pgworker.cancel_job`) without touching the others.
///
/// Cancelling a job cancels its task: a Swift handler sees `Task.isCancelled` or a
/// `CancellationError`, a command gets SIGTERM (then SIGKILL), a SQL task's statement is
/// cancelled. The failed attempt the worker then records becomes `cancelled` in the database.
final class RunningJobs: Sendable {
    private let cancellers = Mutex<[Int64: @Sendable () -> Void]>([:])

    /// Runs `body` for `jobID` in a cancellable task and returns its result. Cancelling the
    /// caller (worker shutdown) cancels it too.
    func run<Result: Sendable>(_ jobID: Int64, _ body: @escaping @Sendable () async -> Result) async -> Result {
        let task = Task { await body() }
        cancellers.withLock { $0[jobID] = { task.cancel() } }
        defer { cancellers.withLock { _ = $0.removeValue(forKey: jobID) } }
        return await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// The ids of the jobs running now.
    var jobIDs: [Int64] { cancellers.withLock { Array($0.keys) } }

    /// Cancels those of `jobIDs` that run here. Returns the ids it cancelled.
    @discardableResult
    func cancel(_ jobIDs: [Int64]) -> [Int64] {
        let found = cancellers.withLock { cancellers in jobIDs.compactMap { id in cancellers[id].map { (id, $0) } } }
        for (_, cancel) in found { cancel() }
        return found.map(\.0)
    }
}
