import Foundation
import Logging
import Synchronization

/// Up to `copies` running copies of one persistent command, each running one job at a time.
///
/// A job takes an idle copy, or starts one while fewer than `copies` run, or waits its turn.
/// A copy that exited, was stopped or broke the protocol is dropped, and the next job starts a
/// new one. Copies that keep dying at start are restarted after a growing delay (0.1 s, doubling,
/// up to 30 s) so a broken program does not spin.
final class PersistentProgramPool: Sendable {
    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<PersistentProgram, any Error>
    }

    private struct State {
        var idle: [PersistentProgram] = []
        var live = 0
        var waiters: [Waiter] = []
        var nextWaiterID = 0
        /// Copies in a row that died within a second of starting.
        var earlyDeaths = 0
    }

    private let state = Mutex(State())
    private let copies: Int
    private let makeProgram: @Sendable (Duration) -> PersistentProgram

    /// A pool of at most `copies` programs made by `makeProgram(startDelay)`.
    init(copies: Int, makeProgram: @escaping @Sendable (Duration) -> PersistentProgram) {
        self.copies = max(1, copies)
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
                let ready = state.withLock { state -> PersistentProgram? in
                    if let program = takeIdle(&state) { return program }
                    if state.live < copies {
                        state.live += 1
                        return makeProgram(startDelay(state))
                    }
                    if Task.isCancelled { return nil }
                    state.waiters.append(Waiter(id: waiterID, continuation: continuation))
                    return nil
                }
                if let ready {
                    continuation.resume(returning: ready)
                } else if Task.isCancelled, !state.withLock({ $0.waiters.contains { $0.id == waiterID } }) {
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

    /// Returns a copy after its job: to the next waiting job, to the idle list, or, if it is gone,
    /// replaced by a new copy for a waiting job.
    func checkIn(_ program: PersistentProgram) {
        let handOff = state.withLock { state -> (Waiter, PersistentProgram)? in
            var next = program
            if !program.isUsable {
                retire(program, &state)
                guard !state.waiters.isEmpty, state.live < copies else { return nil }
                state.live += 1
                next = makeProgram(startDelay(state))
            } else if state.waiters.isEmpty {
                state.idle.append(program)
                return nil
            }
            return (state.waiters.removeFirst(), next)
        }
        if let (waiter, next) = handOff { waiter.continuation.resume(returning: next) }
    }

    /// Stops every idle copy (end of file on stdin, then signals) and waits until they are gone.
    /// Copies running a job are not touched: the worker cancels their jobs first, which stops them.
    func stopIdle() async {
        let idle = state.withLock { state -> [PersistentProgram] in
            let idle = state.idle
            state.idle = []
            state.live -= idle.count
            return idle
        }
        await withTaskGroup(of: Void.self) { group in
            for program in idle { group.addTask { await program.stop() } }
        }
    }

    private func takeIdle(_ state: inout State) -> PersistentProgram? {
        while let program = state.idle.popLast() {
            if program.isUsable { return program }
            retire(program, &state)
        }
        return nil
    }

    private func retire(_ program: PersistentProgram, _ state: inout State) {
        state.live -= 1
        state.earlyDeaths = ContinuousClock.now - program.startedAt < .seconds(1) ? state.earlyDeaths + 1 : 0
    }

    private func startDelay(_ state: State) -> Duration {
        guard state.earlyDeaths > 0 else { return .zero }
        return min(.seconds(30), .milliseconds(100) * (1 << min(state.earlyDeaths - 1, 9)))
    }
}
