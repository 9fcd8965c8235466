import Synchronization

/// What a worker reports about its progress, for anyone to wait on: readiness, completed claim
/// turns and the number of running jobs. Tests use it to wait on signals rather than the clock
/// (``Worker/waitUntilReady()``, ``Worker/claimTurn()``).
final class WorkerProgress: Sendable {
    private struct Fields {
        var registered = false
        /// The queue caps have been read once (``WorkerMaintenance``).
        var knowsQueueCaps = false
        var listening = false
        var needsListener = true
        /// Claim turns begun and completed; turns run one after another, so turn `n` is the
        /// `n`-th to begin and to complete.
        var claimTurnsBegun = 0
        var lastClaimTurn: ClaimTurnReport?
        var runningJobs = 0
        /// `run()` has returned (or never got going).
        var ended = false
        var nextWaiter = 0
        var waiters: [Int: Waiter] = [:]
    }

    private struct Waiter {
        let isSatisfied: @Sendable (Fields) -> Bool
        let continuation: CheckedContinuation<Void, any Error>
    }

    private let fields = Mutex(Fields())

    init(needsListener: Bool) {
        fields.withLock { $0.needsListener = needsListener }
    }

    // MARK: Reporting

    /// The worker row is registered.
    func registered() { update { $0.registered = true } }

    /// The queues with a running cap have been read.
    func queueCapsRead() { update { $0.knowsQueueCaps = true } }

    /// The listener's LISTEN statements have run.
    func listening() { update { $0.listening = true } }

    /// A claim turn begins; returns its number. Call it before the claim statement is sent.
    func claimTurnBegins() -> Int { update { fields in fields.claimTurnsBegun += 1; return fields.claimTurnsBegun } }

    /// A claim turn completed.
    func claimTurnCompleted(_ report: ClaimTurnReport) { update { $0.lastClaimTurn = report } }

    /// The number of running jobs changed.
    func runningJobsChanged(_ count: Int) { update { $0.runningJobs = count } }

    /// The worker stopped: every wait ends.
    func ended() { update { $0.ended = true } }

    // MARK: Reading and waiting

    /// How many claim turns have begun so far.
    var claimTurnsBegun: Int { fields.withLock { $0.claimTurnsBegun } }

    /// The latest completed claim turn.
    var lastClaimTurn: ClaimTurnReport? { fields.withLock { $0.lastClaimTurn } }

    /// Returns once the worker is registered, knows the queue caps and, if it listens, is LISTENing.
    func waitUntilReady() async throws {
        try await wait { $0.registered && $0.knowsQueueCaps && ($0.listening || !$0.needsListener) }
    }

    /// Returns the report of claim turn `number` (or a later one) once it has completed.
    func waitForClaimTurn(_ number: Int) async throws -> ClaimTurnReport {
        try await wait { ($0.lastClaimTurn?.number ?? 0) >= number }
        return fields.withLock { $0.lastClaimTurn! }
    }

    /// Returns once no job runs.
    func waitUntilNoJobsRun() async throws {
        try await wait { $0.runningJobs == 0 }
    }

    /// Suspends until `condition` holds; throws ``WorkerStoppedError`` when the worker ends first,
    /// and `CancellationError` when the waiting task is cancelled.
    private func wait(until condition: @escaping @Sendable (Fields) -> Bool) async throws {
        let id = fields.withLock { fields in
            defer { fields.nextWaiter += 1 }
            return fields.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                fields.withLock { fields in
                    if condition(fields) {
                        continuation.resume()
                    } else if fields.ended {
                        continuation.resume(throwing: WorkerStoppedError())
                    } else if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        fields.waiters[id] = Waiter(isSatisfied: condition, continuation: continuation)
                    }
                }
            }
        } onCancel: {
            fields.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Changes the fields and resumes every waiter whose condition now holds (or all, once ended).
    @discardableResult
    private func update<R>(_ change: (inout Fields) -> R) -> R {
        fields.withLock { fields in
            let result = change(&fields)
            for (id, waiter) in fields.waiters {
                if waiter.isSatisfied(fields) {
                    fields.waiters[id] = nil
                    waiter.continuation.resume()
                } else if fields.ended {
                    fields.waiters[id] = nil
                    waiter.continuation.resume(throwing: WorkerStoppedError())
                }
            }
            return result
        }
    }
}

/// What one claim turn did: a turn that wrote the outcomes that had accumulated and claimed as
/// many runnable jobs as there was room for (see ``Worker/claimTurn()``).
public struct ClaimTurnReport: Sendable, Equatable {
    /// The turn's number: the worker's first claim turn is 1.
    public let number: Int
    /// How many jobs the turn started.
    public let startedJobs: Int
    /// How many jobs were running when the turn ended (those it started included).
    public let runningJobs: Int
    /// How many finished jobs' outcomes were not yet written when the turn ended.
    public let unwrittenOutcomes: Int
    /// The turn failed (a lost connection, say); it claimed nothing and is retried.
    public let failed: Bool

    /// The turn found nothing due, and the worker holds no job: nothing is running and every
    /// outcome is written and committed.
    public var foundNothingToDo: Bool {
        !failed && startedJobs == 0 && runningJobs == 0 && unwrittenOutcomes == 0
    }
}

/// Thrown by a worker's waits (``Worker/waitUntilReady()``, ``Worker/claimTurn()``) when the
/// worker stopped, or could not start, before what was awaited happened.
public struct WorkerStoppedError: Error, Sendable, CustomStringConvertible {
    /// Creates the error.
    public init() {}

    /// A sentence for logs and test failures.
    public var description: String { "the worker stopped before what was awaited happened" }
}
