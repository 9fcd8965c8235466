import Synchronization

/// Enforces job timeouts with one timer for all running jobs, instead of a sleeping task per job.
///
/// A job with a timeout registers its deadline when it starts (``start(_:timeout:)``). One timer
/// task sleeps until the earliest deadline; when it fires, every job past its deadline is marked
/// timed out and handed to `expire` (which cancels its task), and the timer is set for the next
/// deadline. A deadline earlier than the timer's replaces the timer. The job asks at its end
/// whether it timed out (``finish(_:)``).
final class JobDeadlines: Sendable {
    private struct State {
        var deadlines: [Int64: ContinuousClock.Instant] = [:]
        var timedOut: Set<Int64> = []
        /// The pending timer and when it fires.
        var timer: (at: ContinuousClock.Instant, task: Task<Void, Never>)?
        var stopped = false
    }

    private let state = Mutex(State())
    private let expire: @Sendable ([Int64]) -> Void

    /// - Parameter expire: called with the jobs whose deadline passed, to cancel them.
    init(expire: @escaping @Sendable ([Int64]) -> Void) {
        self.expire = expire
    }

    /// A job with a timeout is starting.
    func start(_ jobID: Int64, timeout: Duration) {
        let deadline = ContinuousClock.now + timeout
        state.withLock { state in
            state.deadlines[jobID] = deadline
            if let timer = state.timer, timer.at <= deadline { return }
            schedule(at: deadline, &state)
        }
    }

    /// A job's handler is done. Returns whether its deadline had passed (it was cancelled for that).
    func finish(_ jobID: Int64) -> Bool {
        state.withLock { state in
            state.deadlines[jobID] = nil
            return state.timedOut.remove(jobID) != nil
        }
    }

    /// Cancels the timer; no job times out after this.
    func stop() {
        state.withLock { state in
            state.stopped = true
            state.timer?.task.cancel()
            state.timer = nil
        }
    }

    /// Replaces the timer with one firing at `deadline`.
    private func schedule(at deadline: ContinuousClock.Instant, _ state: inout State) {
        guard !state.stopped else { return }
        state.timer?.task.cancel()
        let task = Task { [self] in
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
            } catch {
                return  // replaced or stopped
            }
            fire(at: deadline)
        }
        state.timer = (deadline, task)
    }

    private func fire(at deadline: ContinuousClock.Instant) {
        let now = ContinuousClock.now
        let expired = state.withLock { state -> [Int64] in
            guard let timer = state.timer, timer.at == deadline else { return [] }
            state.timer = nil
            let expired = state.deadlines.filter { $0.value <= now }.map(\.key)
            for id in expired {
                state.deadlines[id] = nil
                state.timedOut.insert(id)
            }
            if let next = state.deadlines.values.min() { schedule(at: next, &state) }
            return expired
        }
        if !expired.isEmpty { expire(expired) }
    }
}
