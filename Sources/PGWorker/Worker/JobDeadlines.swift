import Synchronization

/// Enforces job timeouts with one timer for all running jobs, instead of a sleeping task per job.
///
/// A job with a timeout registers its deadline when it starts (``start(_:timeout:)``). The timer
/// (``run()``, a child task of the worker) sleeps until the earliest deadline; when it passes,
/// every job past its deadline is marked timed out and handed to `expire` (which cancels its
/// task), and the timer sleeps until the next deadline. A deadline earlier than the one the timer
/// sleeps until wakes it to sleep until that one instead. The job asks at its end whether it
/// timed out (``finish(_:)``).
final class JobDeadlines: Sendable {
    private struct State {
        var deadlines: [Int64: ContinuousClock.Instant] = [:]
        var timedOut: Set<Int64> = []
        /// The deadline the timer sleeps until; nil while it waits for a first one.
        var timerAt: ContinuousClock.Instant?
        /// The timer's wait for an earlier deadline, resumed by ``start(_:timeout:)``.
        var rearm: CheckedContinuation<Void, Never>?
        /// An earlier deadline came while the timer was not waiting: it looks again at once.
        var rearmRequested = false
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
        let waitingTimer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.deadlines[jobID] = deadline
            if let at = state.timerAt, at <= deadline { return nil }
            if let rearm = state.rearm {
                state.rearm = nil
                return rearm
            }
            state.rearmRequested = true
            return nil
        }
        waitingTimer?.resume()
    }

    /// A job's handler is done. Returns whether its deadline had passed (it was cancelled for that).
    func finish(_ jobID: Int64) -> Bool {
        state.withLock { state in
            state.deadlines[jobID] = nil
            return state.timedOut.remove(jobID) != nil
        }
    }

    /// The timer: runs until its task is cancelled; no job times out after that.
    func run() async {
        while !Task.isCancelled {
            let next = state.withLock { state -> ContinuousClock.Instant? in
                state.rearmRequested = false
                state.timerAt = state.deadlines.values.min()
                return state.timerAt
            }
            await withTaskGroup(of: Void.self) { group in
                if let next {
                    group.addTask { try? await Task.sleep(until: next, clock: .continuous) }
                }
                group.addTask { await self.waitForEarlierDeadline() }
                await group.next()
                group.cancelAll()
            }
            if Task.isCancelled { return }
            expirePassedDeadlines()
        }
    }

    /// Returns when a deadline earlier than the timer's arrives, or when cancelled.
    private func waitForEarlierDeadline() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rearmRequested || Task.isCancelled { return true }
                    state.rearm = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.rearm = nil }
                return state.rearm
            }?.resume()
        }
    }

    /// Marks every job past its deadline as timed out and hands them to `expire`.
    private func expirePassedDeadlines() {
        let now = ContinuousClock.now
        let expired = state.withLock { state -> [Int64] in
            let expired = state.deadlines.filter { $0.value <= now }.map(\.key)
            for id in expired {
                state.deadlines[id] = nil
                state.timedOut.insert(id)
            }
            return expired
        }
        if !expired.isEmpty { expire(expired) }
    }
}
