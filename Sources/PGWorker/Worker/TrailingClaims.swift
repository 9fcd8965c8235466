import Synchronization

/// Claims again shortly after a new-job notification: 15 ms and 250 ms later.
///
/// An enqueuer skips notifying while another transaction is about to notify the same queue
/// (SQL/001), so jobs committed just after that notification bring none of their own; these two
/// looks catch them without waiting for the poll. At most one pair is waiting for its first look
/// at a time; each pair runs as a child task of ``run()``.
final class TrailingClaims: Sendable {
    let state: EngineState
    private let pending = Mutex(false)
    private let requests: AsyncStream<Void>
    private let schedule: AsyncStream<Void>.Continuation

    init(state: EngineState) {
        self.state = state
        (requests, schedule) = AsyncStream.makeStream(of: Void.self)
    }

    /// Schedules the two looks, unless a pair is already waiting for its first.
    func request() {
        let first = pending.withLock { pending in
            defer { pending = true }
            return !pending
        }
        if first { schedule.yield() }
    }

    /// Runs the scheduled looks until its task is cancelled.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await _ in requests {
                group.addTask { [self] in
                    try? await Task.sleep(for: .milliseconds(15))
                    self.pending.withLock { $0 = false }
                    if Task.isCancelled { return }
                    state.requestClaim()
                    try? await Task.sleep(for: .milliseconds(235))
                    if Task.isCancelled { return }
                    state.requestClaim()
                }
            }
            group.cancelAll()
        }
    }
}
