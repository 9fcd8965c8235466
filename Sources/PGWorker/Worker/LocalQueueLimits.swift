import Foundation
import PQClient
import Synchronization

/// This process's own caps on running jobs per queue (``WorkerConfiguration/queueLimits``), on
/// top of any cluster-wide limit (`pgworker.set_queue_limit`).
///
/// Counts are kept from the moment of the claim, so the room sent with the next claim is exact
/// even before a claimed job has started.
final class LocalQueueLimits: Sendable {
    private let limits: [String: Int]
    private let running = Mutex<[String: Int]>([:])

    init(_ limits: [String: Int]) {
        self.limits = limits
    }

    /// The queues this process limits.
    var limitedQueues: [String] { Array(limits.keys) }

    /// Counts claimed jobs of limited queues.
    func claimed(_ jobs: [ClaimedJob]) {
        guard !limits.isEmpty else { return }
        running.withLock { running in
            for job in jobs where limits[job.queue] != nil { running[job.queue, default: 0] += 1 }
        }
    }

    /// Counts a finished job. Returns whether its queue has a local limit (a slot was freed).
    func finished(_ queue: String) -> Bool {
        guard limits[queue] != nil else { return false }
        running.withLock { $0[queue, default: 1] -= 1 }
        return true
    }

    /// `{"queue": free slots}` for `claim_jobs_within`, or nil when there are no local limits.
    func roomJSON() -> String? {
        guard !limits.isEmpty else { return nil }
        let room = running.withLock { running in
            limits.reduce(into: [String: Int]()) { room, entry in room[entry.key] = max(entry.value - running[entry.key, default: 0], 0) }
        }
        let data = (try? JSONEncoder().encode(room)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
