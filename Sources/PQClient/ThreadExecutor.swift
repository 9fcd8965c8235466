import Dispatch
import Foundation
import Synchronization

/// A serial executor that runs all of its jobs on one dedicated OS thread.
///
/// libpq calls block. Swift's cooperative thread pool has one thread per core, so a
/// blocking call there stalls unrelated tasks. Each ``PQConnection`` therefore
/// runs on its own `ThreadExecutor`, and its blocking calls only ever hold that thread.
final class ThreadExecutor: SerialExecutor {
    /// The state shared with the thread; the thread does not retain the executor itself,
    /// so dropping the executor ends the thread.
    private final class Queue: Sendable {
        let jobs = Mutex<(pending: [UnownedJob], stopped: Bool)>(([], false))
        let wakeup = DispatchSemaphore(value: 0)
    }

    private let queue = Queue()

    /// Starts the thread.
    init(name: String) {
        let queue = self.queue
        // Jobs only arrive from the actor that owns this executor and keeps it alive, so an
        // unowned reference is valid whenever a job runs.
        let executor = UnownedSerialExecutor(ordinary: self)
        let thread = Thread { [queue] in
            ThreadExecutor.runLoop(queue, executor: executor)
        }
        thread.name = name
        thread.start()
    }

    deinit {
        queue.jobs.withLock { $0.stopped = true }
        queue.wakeup.signal()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        queue.jobs.withLock { $0.pending.append(unowned) }
        queue.wakeup.signal()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    private static func runLoop(_ queue: Queue, executor: UnownedSerialExecutor) {
        while true {
            queue.wakeup.wait()
            let (batch, stopped) = queue.jobs.withLock { state in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                return (batch, state.stopped)
            }
            for job in batch {
                job.runSynchronously(on: executor)
            }
            if stopped && batch.isEmpty { return }
        }
    }
}
