import Foundation
import Synchronization

/// Up to `copies` running copies of one persistent command, each given up to `pipeline` jobs at
/// a time.
///
/// A job goes to the least busy copy that has room, or starts a copy while fewer than `copies`
/// run, or waits its turn. A copy that exited, was stopped or broke the protocol is dropped, and
/// the next job starts a new one. Copies that keep exiting by themselves within a second of
/// starting are restarted after a growing delay (0.1 s, doubling, up to 30 s), so a broken program
/// does not spin; copies the worker stopped (timeouts, cancels, broken protocol) do not count.
/// Once the worker begins to stop (``close()``), no copy starts and no waiting job gets one.
final class PersistentProgramPool: Sendable {
    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<PersistentProgram, any Error>
    }

    private struct Copy {
        var program: PersistentProgram
        var jobs: Int
    }

    private struct State {
        var copies: [Copy] = []
        var waiters: [Waiter] = []
        var nextWaiterID = 0
        /// Copies in a row that died within a second of starting.
        var earlyDeaths = 0
        /// The worker is stopping: jobs not handed to a copy yet are given back.
        var closed = false
    }

    private let state = Mutex(State())
    private let maxCopies: Int
    private let pipeline: Int
    private let makeProgram: @Sendable (Duration) -> PersistentProgram

    /// A pool of at most `copies` programs made by `makeProgram(startDelay)`, each given at most
    /// `pipeline` jobs at once.
    init(copies: Int, pipeline: Int, makeProgram: @escaping @Sendable (Duration) -> PersistentProgram) {
        maxCopies = max(1, copies)
        self.pipeline = max(1, pipeline)
        self.makeProgram = makeProgram
    }

    /// A copy for one job; hand it back with ``checkIn(_:)``.
    func checkOut() async throws -> PersistentProgram {
        let waiterID = state.withLock { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let (ready, cancelled) = state.withLock { state -> (PersistentProgram?, Bool) in
                    if state.closed { return (nil, true) }
                    if let program = take(&state) { return (program, false) }
                    if Task.isCancelled { return (nil, true) }
                    state.waiters.append(Waiter(id: waiterID, continuation: continuation))
                    return (nil, false)
                }
                if let ready {
                    continuation.resume(returning: ready)
                } else if cancelled {
                    continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == waiterID }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Returns a copy after its job, and gives waiting jobs what became free.
    func checkIn(_ program: PersistentProgram) {
        let handOffs = state.withLock { state -> [(Waiter, PersistentProgram)] in
            if let index = state.copies.firstIndex(where: { $0.program === program }) {
                state.copies[index].jobs -= 1
            }
            var handOffs: [(Waiter, PersistentProgram)] = []
            while !state.waiters.isEmpty, let next = take(&state) {
                handOffs.append((state.waiters.removeFirst(), next))
            }
            return handOffs
        }
        for (waiter, program) in handOffs { waiter.continuation.resume(returning: program) }
    }

    /// The worker begins to stop: jobs waiting for a copy are given back (their ``checkOut()``
    /// throws), copies still waiting out their restart delay are stopped before they start (their
    /// jobs never reached a program: ``PersistentProgram/run(_:jobID:progress:)`` returns nil),
    /// and no copy starts from now on. Copies running jobs keep them for the grace period.
    func close() {
        let (waiters, unstarted) = state.withLock { state -> ([Waiter], [PersistentProgram]) in
            state.closed = true
            let waiters = state.waiters
            state.waiters = []
            return (waiters, state.copies.map(\.program).filter { !$0.hasStarted })
        }
        for waiter in waiters { waiter.continuation.resume(throwing: CancellationError()) }
        for program in unstarted { program.terminate() }
    }

    /// Stops every copy that has no job (end of file on stdin, then signals) and waits until they
    /// are gone. Copies with jobs are left alone: the worker cancels those jobs first, which stops them.
    /// The pool opens again, for a worker that runs the same handler next.
    func stopIdle() async {
        let idle = state.withLock { state -> [PersistentProgram] in
            let idle = state.copies.filter { $0.jobs == 0 }.map(\.program)
            state.copies.removeAll { $0.jobs == 0 }
            state.closed = false
            return idle
        }
        await withTaskGroup(of: Void.self) { group in
            for program in idle { group.addTask { await program.stop() } }
        }
    }

    /// The least busy usable copy with room, or a new copy; nil when all are full. Drops copies
    /// that are gone and have no job left.
    private func take(_ state: inout State) -> PersistentProgram? {
        for copy in state.copies where copy.jobs == 0 && !copy.program.isUsable && copy.program.exitedByItself {
            state.earlyDeaths = ContinuousClock.now - copy.program.startedAt < .seconds(1) ? state.earlyDeaths + 1 : 0
        }
        state.copies.removeAll { $0.jobs == 0 && !$0.program.isUsable }
        let candidates = state.copies.indices.filter { state.copies[$0].jobs < pipeline && state.copies[$0].program.isUsable }
        if let index = candidates.min(by: { state.copies[$0].jobs < state.copies[$1].jobs }),
           state.copies[index].jobs == 0 || state.copies.count >= maxCopies {
            state.copies[index].jobs += 1
            return state.copies[index].program
        }
        guard state.copies.count < maxCopies, !state.closed else { return nil }
        let delay = state.earlyDeaths == 0 ? Duration.zero
            : min(.seconds(30), .milliseconds(100) * (1 << min(state.earlyDeaths - 1, 9)))
        let program = makeProgram(delay)
        state.copies.append(Copy(program: program, jobs: 1))
        return program
    }
}
