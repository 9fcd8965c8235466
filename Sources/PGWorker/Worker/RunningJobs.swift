import Synchronization

/// The jobs this worker is running, each in one task of its own, so that one job can be
/// cancelled (`pgworker.cancel_job`, a timeout) without touching the others.
///
/// Cancelling a job cancels its task: a Swift handler sees `Task.isCancelled` or a
/// `CancellationError`, a command gets SIGTERM (then SIGKILL), a SQL task's statement is
/// cancelled. The failed attempt the worker then records becomes `cancelled` in the database.
///
/// The tasks are unstructured, so the worker cancels and awaits them itself when it stops
/// (``cancelAll()``, ``waitForAll()``); that keeps a job at one task instead of a task-group
/// child plus a cancellable task inside it.
final class RunningJobs: Sendable {
    private struct State {
        var tasks: [Int64: Task<Void, Never>] = [:]
        /// Jobs whose task ended before ``start(_:_:)`` registered it (see there).
        var endedEarly: Set<Int64> = []
    }

    private let state = Mutex(State())

    /// Starts one task per job running `body`, and registers the tasks.
    ///
    /// `body` must call ``ended(_:)`` last. A task may get there before its registration (it
    /// runs at once on another thread); `ended` then leaves a note that makes the registration
    /// skip it, so no finished task stays registered.
    func start(_ jobs: [ClaimedJob], _ body: @escaping @Sendable (ClaimedJob) async -> Void) {
        guard !jobs.isEmpty else { return }
        let tasks = jobs.map { job in (job.id, Task { await body(job) }) }
        state.withLock { state in
            for (id, task) in tasks where state.endedEarly.remove(id) == nil {
                state.tasks[id] = task
            }
        }
    }

    /// Unregisters a job whose work is done.
    func ended(_ jobID: Int64) {
        state.withLock { state in
            if state.tasks.removeValue(forKey: jobID) == nil { state.endedEarly.insert(jobID) }
        }
    }

    /// The ids of the jobs running now.
    var jobIDs: [Int64] { state.withLock { Array($0.tasks.keys) } }

    /// Cancels those of `jobIDs` that run here. Returns the ids it cancelled.
    @discardableResult
    func cancel(_ jobIDs: [Int64]) -> [Int64] {
        guard !jobIDs.isEmpty else { return [] }
        let found = state.withLock { state in jobIDs.compactMap { id in state.tasks[id].map { (id, $0) } } }
        for (_, task) in found { task.cancel() }
        return found.map(\.0)
    }

    /// Cancels every running job.
    func cancelAll() {
        for task in state.withLock({ Array($0.tasks.values) }) { task.cancel() }
    }

    /// Returns once every job task has ended. Call it after the last ``start(_:_:)``.
    func waitForAll() async {
        for task in state.withLock({ Array($0.tasks.values) }) { await task.value }
    }
}
