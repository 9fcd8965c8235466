import Synchronization

/// Where a worker is in its graceful stop: running, stopping (no new claims; running jobs get
/// the grace period), or cancelling its running jobs.
final class ShutdownState: Sendable {
    private struct Fields {
        /// When graceful shutdown began.
        var requestedAt: ContinuousClock.Instant?
        /// Running jobs must be cancelled (grace period over, or a second request).
        var cancelRunning = false
    }

    private let fields = Mutex(Fields())

    /// Records a stop request. Returns true when one came before: then running jobs are cancelled.
    func requestStop() -> Bool {
        fields.withLock { fields -> Bool in
            if fields.requestedAt != nil {
                fields.cancelRunning = true
                return true
            }
            fields.requestedAt = .now
            return false
        }
    }

    /// A stop was requested: no new claims.
    var isStopping: Bool { fields.withLock { $0.requestedAt != nil } }

    /// Running jobs must be cancelled now.
    var cancelsRunningJobs: Bool { fields.withLock { $0.cancelRunning } }

    /// Once `gracePeriod` has passed since the stop request, switches to cancelling running jobs.
    /// Returns true the one time it does.
    func endGracePeriodIfOver(_ gracePeriod: Duration) -> Bool {
        fields.withLock { fields -> Bool in
            if let since = fields.requestedAt, !fields.cancelRunning, ContinuousClock.now - since >= gracePeriod {
                fields.cancelRunning = true
                return true
            }
            return false
        }
    }
}
