import Logging
import PQClient
import Synchronization

/// Writes the progress that running Swift and command handlers report
/// (``JobContext/reportProgress(_:message:)``) to their jobs' rows, coalesced.
///
/// A report only replaces the job's pending value in memory. Every
/// ``WorkerConfiguration/progressInterval`` the pending values of all jobs are written in one
/// statement, so a handler that reports a thousand times a second costs one row update per
/// interval, and a worker whose jobs report nothing never writes (nor sends anything). When a job
/// ends with a value still pending, ``finish(_:)`` writes it before the outcome is queued, so the
/// row keeps the last report. Writes are serialized: a later write never lands before an earlier
/// one. Progress is best effort: a write that fails is logged and dropped.
final class JobProgressWriter: Sendable {
    private struct State {
        var pending: [Int64: (fraction: Double, message: String)] = [:]
        var writing = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let workerID: String
    private let connection: ManagedConnection
    private let interval: Duration
    private let logger: Logger

    init(workerID: String, connection: ManagedConnection, interval: Duration, logger: Logger) {
        self.workerID = workerID
        self.connection = connection
        self.interval = interval
        self.logger = logger
    }

    /// Records a report of job `id`; the next write stores it (or a later one of the same job).
    func report(_ id: Int64, fraction: Double, message: String?) {
        state.withLock { $0.pending[id] = (fraction, message ?? "") }
    }

    /// Writes the pending reports every interval, until cancelled.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if state.withLock({ !$0.pending.isEmpty }) { await writePending() }
        }
        await writePending()
    }

    /// The job ended: writes its pending report now, if it has one. Costs nothing otherwise.
    func finish(_ id: Int64) async {
        if state.withLock({ $0.pending[id] != nil }) { await writePending() }
    }

    private func writePending() async {
        await acquire()
        let pending = state.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending
        }
        if !pending.isEmpty {
            let ids = Array(pending.keys)
            do {
                try await connection.connection().queryPrepared(
                    """
                    UPDATE pgworker.jobs j
                    SET progress = p.fraction, progress_message = nullif(p.message, ''), progress_at = now()
                    FROM unnest($2::bigint[], $3::float8[], $4::text[]) AS p(id, fraction, message)
                    WHERE j.id = p.id AND j.state = 'running' AND j.locked_by = $1
                    """,
                    [workerID, ids, ids.map { pending[$0]!.fraction }, ids.map { pending[$0]!.message }])
            } catch {
                if !(await connection.invalidate(after: error)) {
                    logger.warning("could not write job progress", metadata: ["error": "\(error)"])
                }
            }
        }
        release()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let free = state.withLock { state in
                if state.writing {
                    state.waiters.append(continuation)
                    return false
                }
                state.writing = true
                return true
            }
            if free { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.writing = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// The text a progress report keeps: at most 200 characters, no NUL.
func progressMessage(_ message: String?) -> String? {
    guard let message else { return nil }
    let clean = message.replacingOccurrences(of: "\u{0}", with: "")
    return clean.isEmpty ? nil : String(clean.prefix(200))
}
