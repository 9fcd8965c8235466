import Synchronization

/// The queues with a running-jobs limit (`pgworker.set_queue_limit`), as last read.
///
/// When a job of such a queue ends, its slot may let another job of the queue start: the worker
/// claims again at once instead of waiting for the next poll.
final class LimitedQueues: Sendable {
    private let names = Mutex<Set<String>>([])

    /// Whether `queue` has a limit.
    func contains(_ queue: String) -> Bool { names.withLock { $0.contains(queue) } }

    /// Replaces the set.
    func update(_ queues: Set<String>) { names.withLock { $0 = queues } }
}
