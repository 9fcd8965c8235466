import Logging
import PQClient
import Synchronization

/// The turn loop's handling of failed statements on the main connection: drops a lost
/// connection (the next turn reconnects), backs off, and notices when the connection is back, so
/// that the loop then re-registers and gives back jobs it holds unknowingly.
///
/// Maintenance and cron also drop the main connection when they see it lost (it is dead for
/// every user; `ManagedConnection` reopens it on the next use), and the heartbeat leaves that to
/// them and to the loop. None of them reports here: a claim reply can only be lost on the loop's
/// own statement, and the loop sees that statement fail.
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
