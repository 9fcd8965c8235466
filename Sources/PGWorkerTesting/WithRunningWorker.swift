import Logging
import PGWorker

/// Runs `body` with a worker that is running and ready, and always stops the worker afterwards.
///
/// The worker is started in a child task, and `body` runs once ``Worker/waitUntilReady()`` has
/// returned: the worker is registered and LISTENing, so a job enqueued in `body` wakes it. When
/// `body` returns or throws, the worker is stopped gracefully (unless `body` stopped it already)
/// and awaited, so nothing of it outlives the call.
///
/// - Parameters:
///   - conninfo: the database, as for ``Worker/init(conninfo:tasks:configuration:logger:)``.
///   - tasks: the handlers the worker runs.
///   - configuration: how it runs.
///   - logger: where it logs.
///   - body: the code to run while the worker runs.
/// - Returns: what `body` returns.
/// - Throws: what `body` throws; otherwise the error that stopped the worker from starting (an
///   unmigrated database, say) or ending cleanly.
public func withRunningWorker<Result>(
    conninfo: String, tasks: TaskRegistry, configuration: WorkerConfiguration = WorkerConfiguration(),
    logger: Logger = Logger(label: "pgworker-testing"),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (Worker) async throws -> Result
) async throws -> Result {
    let worker = Worker(conninfo: conninfo, tasks: tasks, configuration: configuration, logger: logger)
    return try await withRunningWorker(worker, isolation: isolation, body)
}

/// Runs `body` with `worker` running and ready, and always stops it afterwards; see
/// ``withRunningWorker(conninfo:tasks:configuration:logger:isolation:_:)``. A worker runs once:
/// pass one that has not run.
public func withRunningWorker<Result>(
    _ worker: Worker, isolation: isolated (any Actor)? = #isolation,
    _ body: (Worker) async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
        group.addTask { try await worker.run() }
        do {
            try await worker.waitUntilReady()
        } catch {
            // The worker ended before it was ready: its own error says why.
            worker.stopIfRunning()
            try await group.waitForAll()
            throw error
        }
        let result: Result
        do {
            result = try await body(worker)
        } catch {
            worker.stopIfRunning()
            try? await group.waitForAll()
            throw error
        }
        worker.stopIfRunning()
        try await group.waitForAll()
        return result
    }
}

extension Worker {
    /// Stops gracefully unless a stop was already requested (a second ``stop()`` would cancel the
    /// running jobs).
    fileprivate func stopIfRunning() {
        if !isStopping { stop() }
    }
}
