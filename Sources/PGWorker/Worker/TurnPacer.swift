/// Decides when the turn loop takes a turn, so that one turn writes and claims a whole batch.
///
/// A turn is due when there is an outcome to write or room to claim into, and either no job is
/// running, the worker is stopping, half the slots or more are free to claim into, or
/// ``batchingDelay`` has passed since the loop learnt of the
/// first outcome or free slot: while jobs still run, a turn waits for them, since claiming the
/// whole free capacity costs the database little more than claiming one job (a round trip and a
/// commit each). The batching timer is a child task of the worker (``runBatchingTimer()``).
struct TurnPacer: Sendable {
    /// The longest a turn waits for running jobs.
    static let batchingDelay: Duration = .milliseconds(2)

    let state: EngineState
    let shutdown: ShutdownState
    let concurrency: Int
    private let timerRequests: AsyncStream<ContinuousClock.Instant>
    private let armTimer: AsyncStream<ContinuousClock.Instant>.Continuation

    init(state: EngineState, shutdown: ShutdownState, concurrency: Int) {
        self.state = state
        self.shutdown = shutdown
        self.concurrency = concurrency
        (timerRequests, armTimer) = AsyncStream.makeStream(of: ContinuousClock.Instant.self)
    }

    /// Whether the loop should take a turn now; arms the batching timer when it should wait.
    func isTurnDue() -> Bool {
        switch state.pacing(concurrency: concurrency, stopping: shutdown.isStopping, batchingDelay: Self.batchingDelay) {
        case .idle:
            return false
        case .due:
            return true
        case .waitForBatch(let timer):
            if let timer { armTimer.yield(timer) }
            return false
        }
    }

    /// Wakes the loop at each batching deadline. Runs until its task is cancelled.
    func runBatchingTimer() async {
        for await deadline in timerRequests {
            try? await Task.sleep(until: deadline, clock: .continuous)
            if Task.isCancelled { return }
            state.wakeLoop()
        }
    }
}
