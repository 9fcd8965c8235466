import Logging
import PQClient
import Synchronization

/// The listener (River's "notifier"): keeps one connection LISTENing on `pgworker_jobs` and
/// `pgworker_cancel`.
///
/// - A new-job notification for a queue this worker serves requests a claim, and the two
///   trailing claims (``TrailingClaims``).
/// - A cancel notification cancels a job running here only once `pgworker.cancel_requests` has a
///   row for it: any role that can connect may NOTIFY, but only `pgworker.cancel_job` writes
///   that row (in the transaction that notifies, so it is visible when the notification arrives).
/// - Every (re)connect requests a sweep, since notifications sent while disconnected are lost
///   (``WorkerMaintenance`` also catches cancels missed meanwhile).
final class Notifier: Sendable {
    private let conninfo: String
    private let queues: [String]?
    private let state: EngineState
    private let shutdown: ShutdownState
    private let trailingClaims: TrailingClaims
    private let runningJobs: RunningJobs
    private let progress: WorkerProgress
    private let logger: Logger
    /// The connection while one is open, so ``interrupt()`` can end its wait.
    private let connection = Mutex<PQConnection?>(nil)

    init(conninfo: String, queues: [String]?, state: EngineState, shutdown: ShutdownState,
         trailingClaims: TrailingClaims, runningJobs: RunningJobs, progress: WorkerProgress, logger: Logger) {
        self.conninfo = conninfo
        self.queues = queues
        self.state = state
        self.shutdown = shutdown
        self.trailingClaims = trailingClaims
        self.runningJobs = runningJobs
        self.progress = progress
        self.logger = logger
    }

    /// Ends the current wait for notifications at once (on stop); safe from any task.
    func interrupt() {
        connection.withLock { $0 }?.interruptWait()
    }

    /// Listens until its task is cancelled or the worker stops; reconnects with backoff.
    func run() async {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10))
        var failing = false
        while !Task.isCancelled && !shutdown.isStopping {
            do {
                let connection = try await PQConnection.connect(conninfo, name: "listener")
                self.connection.withLock { $0 = connection }
                defer { self.connection.withLock { $0 = nil } }
                try await connection.listen("pgworker_jobs")
                try await connection.listen("pgworker_cancel")
                if failing { logger.notice("listening for notifications again") }
                failing = false
                backoff.reset()
                progress.listening()
                state.requestClaim()
                while !Task.isCancelled && !shutdown.isStopping {
                    let notifications = try await withTaskCancellationHandler {
                        try await connection.waitForNotifications(timeout: .seconds(60))
                    } onCancel: {
                        connection.interruptWait()
                    }
                    WorkerMetrics.notificationsReceived(notifications.count)
                    if notifications.contains(where: { $0.channel == "pgworker_jobs" && isRelevant(queue: $0.payload) }) {
                        state.requestClaim()
                        trailingClaims.request()
                    }
                    try await cancelRequestedJobs(notifications.filter { $0.channel == "pgworker_cancel" }, connection)
                }
                await connection.close()
            } catch {
                if Task.isCancelled || shutdown.isStopping { return }
                if !failing {
                    WorkerMetrics.connectionLost("listener")
                    logger.warning("listener lost its connection; polling until it is back", metadata: ["error": "\(error)"])
                }
                failing = true
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Cancels the jobs named by cancel notifications that run here and have a cancel request,
    /// with one query for the whole batch.
    private func cancelRequestedJobs(_ notifications: [PQNotification], _ connection: PQConnection) async throws {
        let named = Set(notifications.compactMap { Int64($0.payload) })
        let candidates = runningJobs.jobIDs.filter(named.contains)
        guard !candidates.isEmpty else { return }
        let requested: [Int64] = try await connection.query(
            "SELECT job_id FROM pgworker.cancel_requests WHERE job_id = ANY ($1::bigint[])", [candidates]
        ).rows.map { try $0.decode("job_id") }
        let cancelled = runningJobs.cancel(requested)
        if !cancelled.isEmpty {
            logger.info("cancelling jobs on request", metadata: ["jobs": "\(cancelled)"])
        }
        if candidates.count > requested.count {
            logger.warning("ignored cancel notifications without a cancel request",
                           metadata: ["jobs": "\(Set(candidates).subtracting(requested).sorted())"])
        }
    }

    private func isRelevant(queue: String) -> Bool {
        guard let queues else { return true }
        return queue.isEmpty || queues.contains(queue)
    }
}
