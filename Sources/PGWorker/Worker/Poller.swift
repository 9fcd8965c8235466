import Logging

/// The fallback poll: requests a claim every ``WorkerConfiguration/pollInterval`` (jobs whose
/// `run_at` arrived, retries, notifications lost or not listened for). On the same beat it ends
/// the shutdown grace period: once ``WorkerConfiguration/shutdownGracePeriod`` has passed since
/// a stop request, running jobs are cancelled.
struct Poller: Sendable {
    let configuration: WorkerConfiguration
    let state: EngineState
    let shutdown: ShutdownState
    let logger: Logger

    /// Polls until its task is cancelled.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.pollInterval)
            if shutdown.endGracePeriodIfOver(configuration.shutdownGracePeriod) {
                logger.warning("shutdown grace period is over: cancelling running jobs")
            }
            WorkerMetrics.polled()
            state.requestClaim()
        }
    }
}
