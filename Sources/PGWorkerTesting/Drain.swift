import PGWorker

extension Worker {
    /// Runs what is due now, then returns: takes claim turns, waiting for the jobs they started,
    /// until a claim turn finds no job due, no job running and every outcome written.
    ///
    /// A job whose retry or `run_at` lies in the future is not waited for. Jobs enqueued while
    /// draining run too if they are due before the last turn. The worker must be running (see
    /// ``withRunningWorker(conninfo:tasks:configuration:logger:isolation:_:)``).
    ///
    /// - Parameter timeout: how long draining may take before it throws ``DrainTimedOut``.
    /// - Returns: the report of the last, empty, claim turn.
    @discardableResult
    public func drain(timeout: Duration = .seconds(30)) async throws -> ClaimTurnReport {
        try await withThrowingTaskGroup(of: ClaimTurnReport?.self) { group in
            group.addTask {
                while true {
                    let turn = try await self.claimTurn()
                    if turn.foundNothingToDo { return turn }
                    if turn.runningJobs > 0 { try await self.waitUntilNoJobsRun() }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let report = try await group.next()! else { throw DrainTimedOut(timeout: timeout) }
            return report
        }
    }
}

/// ``Worker/drain(timeout:)`` did not finish in time: jobs kept running or kept coming.
public struct DrainTimedOut: Error, Sendable, CustomStringConvertible {
    /// The timeout that passed.
    public let timeout: Duration

    /// A sentence for test failures.
    public var description: String { "the worker did not drain its queue within \(timeout)" }
}
