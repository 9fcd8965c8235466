import Logging
import PostgresClient
import Synchronization

/// The turn loop's handling of failed statements on the main connection: drops a lost
/// connection (the next turn reconnects), backs off, and notices when the connection is back.
///
/// Only the turn loop drops the main connection, so a reconnect never races a claim; the other
/// users of the main connection (heartbeat, maintenance, cron) report nothing here, and the poll
/// makes the loop notice a dead connection within a poll interval.
final class ConnectionRecovery: Sendable {
    private let state: EngineState
    private let logger: Logger
    private let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10))
    /// The main connection was lost; the next successful turn logs the recovery.
    private let disconnected = Mutex(false)

    init(state: EngineState, logger: Logger) {
        self.state = state
        self.logger = logger
    }

    /// After a failed statement: on a lost connection, drops it and waits with capped exponential
    /// backoff before waking the loop; other errors are logged and retried the same way.
    func recover(from error: any Error, _ main: ManagedConnection) async {
        let lost = await main.invalidate(after: error)
        let alreadyDisconnected = disconnected.withLock { disconnected -> Bool in
            defer { if lost { disconnected = true } }
            return disconnected
        }
        if lost {
            if !alreadyDisconnected {
                WorkerMetrics.connectionLost("main")
                logger.warning("lost the database connection; reconnecting", metadata: ["error": "\(error)"])
            }
        } else {
            logger.error("worker statement failed; retrying", metadata: ["error": "\(error)"])
        }
        try? await Task.sleep(for: backoff.next())
        state.wakeLoop()
    }

    /// After a successful turn: returns true, once, when the connection was just restored (and
    /// logs it).
    func connectionRestored() -> Bool {
        let restored = disconnected.withLock { disconnected -> Bool in
            defer { disconnected = false }
            return disconnected
        }
        if restored {
            backoff.reset()
            logger.notice("database connection restored")
        }
        return restored
    }

    /// The work due after a restored connection failed: ``connectionRestored()`` reports it again.
    func restoreFailed() {
        disconnected.withLock { $0 = true }
    }
}
