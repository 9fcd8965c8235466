import CChildProcess
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A program run as the leader of its own process group, fed `input` on stdin, with its output
/// captured up to limits. Blocking work happens on dedicated threads, never on Swift's cooperative
/// pool.
///
/// Supervision: a run ends when the program's whole process group is gone, not when the program
/// (the group's leader) exits; whether the leader exits, execs or ignores signals changes nothing.
/// - Cancelling the calling task (a timeout, a cancel request, the worker's shutdown) sends SIGTERM
///   to the group, then, `killGracePeriod` later, SIGKILL to the group until no member is left.
/// - When the leader exits by itself and leaves processes in its group, they get the same: SIGTERM,
///   the grace period, SIGKILL.
/// - When the worker process dies, however it dies, the kernel sends SIGKILL to the group.
///
/// How the last one works, and why that way: each run has a *lifeline*, a pipe whose write end
/// only this process holds (close-on-exec). Before the program starts, its read end is set so that
/// the kernel sends SIGKILL to the program's process group when the last write end closes
/// (`O_ASYNC` with `F_SETOWN_EX` to the group and `F_SETSIG` SIGKILL), and it stays open in the
/// program, so everything the program starts inherits it. When the worker exits, is killed with
/// SIGKILL, crashes or is taken by the OOM killer, the kernel closes the write end and kills the
/// group: children and grandchildren, whatever they ignore, with no process of ours left to do
/// it. The alternatives fall short:
/// - `PR_SET_PDEATHSIG` reaches only the direct child (`/bin/sh`), not what the shell starts, and
///   it fires when the *thread* that forked the child exits, not the process: a handler spawned
///   from a thread that ends early (a pool thread, a short-lived `posix_spawn` caller) is killed
///   with that thread, so every spawning thread would have to live exactly as long as its job.
/// - A supervisor process between worker and shell needs a program to run: a helper executable
///   that every application embedding pgworker would have to ship, a re-exec of the worker (which
///   embedding applications and the in-process tests cannot intercept), or a fork without exec
///   that keeps a copy-on-write image of the worker alive for the whole job. It also changes the
///   shell's `$PPID`.
///
/// The lifeline's limit: the group is found through the pipe, so at the worker's death some process
/// (any, in the group or not) must still hold its read end. Every process of the job inherits it;
/// only a job all of whose processes closed that descriptor escapes. A process that leaves the
/// group (`setsid`, `setpgid`) escapes all of the above, as it escapes any process-group signal.
/// Outside Linux there is no lifeline: handlers do not die with the worker.
struct ChildProcess: Sendable {
    /// How a run ended.
    struct Outcome: Sendable {
        /// The exit status, when the program exited.
        var exitStatus: Int32?
        /// The signal that killed it, when one did.
        var signal: Int32?
        /// The first `stdoutLimit` bytes of stdout.
        var stdout: [UInt8]
        /// Total bytes written to stdout.
        var stdoutBytes: Int
        /// The last `stderrLimit` bytes of stderr.
        var stderrTail: [UInt8]
    }

    var arguments: [String]
    var environment: [String: String]
    var input: [UInt8]
    var stdoutLimit: Int
    var stderrLimit: Int
    var killGracePeriod: Duration
    /// Called with each complete line of stderr (without its newline; a line is cut at 4 KiB), on
    /// the supervising thread, when set.
    var stderrLine: (@Sendable ([UInt8]) -> Void)? = nil

    /// After the first SIGKILL, how long the group may still answer before the run ends anyway:
    /// a process in uninterruptible sleep dies only when it wakes, and a zombie whose parent is an
    /// init that never reaps stays a member forever.
    static let killWait: Duration = .seconds(2)

    func run() async throws -> Outcome {
        let control = Control(grace: killGracePeriod)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let this = self
                Thread.detachNewThread {
                    continuation.resume(with: Result { try this.runBlocking(control) })
                }
            }
        } onCancel: {
            control.terminate()
        }
    }

    /// Spawns, feeds, drains and reaps the child, and stops its group, on the calling (dedicated)
    /// thread.
    private func runBlocking(_ control: Control) throws -> Outcome {
        let spawned = try SpawnedGroup.spawn(arguments: arguments, environment: environment)
        let pid = spawned.pid
        control.started(group: pid)

        // Feed stdin on its own thread, so a child that writes before it reads cannot deadlock us.
        let input = self.input
        let writer = spawned.stdin
        Thread.detachNewThread {
            _ = signal(SIGPIPE, SIG_IGN)
            input.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(writer, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    if written <= 0 { break }
                    offset += written
                }
            }
            close(writer)
        }

        var outcome = Outcome(exitStatus: nil, signal: nil, stdout: [], stdoutBytes: 0, stderrTail: [])
        let exitDescriptor = pgw_exit_descriptor(pid)
        let status = superviseUntilGroupIsGone(leader: pid, exitDescriptor: exitDescriptor,
                                               stdout: spawned.stdout, stderr: spawned.stderr,
                                               control: control, into: &outcome)
        close(spawned.stdout)
        close(spawned.stderr)
        if exitDescriptor >= 0 { close(exitDescriptor) }
        // The group is empty (or holds only what SIGKILL could not end): dropping the lifeline
        // now signals no one, or those again.
        close(spawned.lifeline)
        (outcome.exitStatus, outcome.signal) = SpawnedGroup.decode(waitStatus: status)
        return outcome
    }

    /// Reads both output pipes, keeping stdout's head and stderr's tail, reaps the leader, and
    /// stops what it leaves in its group, until the group is empty. A process that left the group
    /// may keep the pipes open forever, so once the group is gone, reading stops at the first
    /// quiet moment. Returns the leader's wait status.
    private func superviseUntilGroupIsGone(
        leader pid: pid_t, exitDescriptor: Int32, stdout: Int32, stderr: Int32,
        control: Control, into outcome: inout Outcome
    ) -> Int32 {
        var open: [Int32] = [stdout, stderr]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var status: Int32 = 0
        var leaderExited = false
        var groupGone = false
        var firstKill: ContinuousClock.Instant?
        var partialLine: [UInt8] = []
        while true {
            if !leaderExited {
                let reaped = waitpid(pid, &status, WNOHANG)
                leaderExited = reaped == pid || (reaped < 0 && errno != EINTR)
            }
            if leaderExited && !groupGone {
                // The leader is reaped, so the group's id stays reserved exactly as long as a
                // member is left: a signal to it reaches this group or no one.
                if kill(-pid, 0) != 0 && errno == ESRCH {
                    groupGone = true
                    control.groupIsGone()
                } else {
                    // Left behind by a leader that exited, or that was stopped: same rule.
                    control.terminate()
                }
            }
            let now = ContinuousClock.now
            if !groupGone, let deadline = control.killDeadline, now >= deadline {
                if leaderExited, let firstKill, now - firstKill > Self.killWait {
                    groupGone = true
                    control.groupIsGone()
                } else {
                    // Until the group is empty, whatever the leader did; `kill(-pgid, 0)` above
                    // tells when it is.
                    firstKill = firstKill ?? now
                    kill(-pid, SIGKILL)
                }
            }
            if leaderExited && groupGone && open.isEmpty { break }

            // Wait for output, the leader's exit, or the next step in stopping the group.
            var timeout: Duration = leaderExited ? (groupGone ? .milliseconds(50) : .milliseconds(20)) : .milliseconds(100)
            if !groupGone, let deadline = control.killDeadline {
                timeout = firstKill == nil ? min(timeout, max(.zero, deadline - now)) : .milliseconds(20)
            }
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if !leaderExited {
                if exitDescriptor >= 0 {
                    descriptors.append(pollfd(fd: exitDescriptor, events: Int16(POLLIN), revents: 0))
                } else if open.isEmpty {
                    // No pidfd (old kernel, not Linux): look for the leader's exit often.
                    timeout = min(timeout, .milliseconds(10))
                }
            }
            let ready = poll(&descriptors, nfds_t(descriptors.count), Int32(timeout / .milliseconds(1)))
            if ready < 0 {
                if errno == EINTR { continue }
                open.removeAll()
                continue
            }
            if ready == 0 {
                if leaderExited && groupGone { break }
                continue
            }
            for descriptor in descriptors where descriptor.revents != 0 && descriptor.fd != exitDescriptor {
                let count = read(descriptor.fd, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 {
                    open.removeAll { $0 == descriptor.fd }
                    continue
                }
                if descriptor.fd == stdout {
                    outcome.stdoutBytes += count
                    let room = max(0, stdoutLimit - outcome.stdout.count)
                    outcome.stdout.append(contentsOf: buffer[0..<min(room, count)])
                } else {
                    if let stderrLine {
                        for byte in buffer[0..<count] {
                            if byte == UInt8(ascii: "\n") {
                                stderrLine(partialLine)
                                partialLine.removeAll(keepingCapacity: true)
                            } else if partialLine.count < 4096 {
                                partialLine.append(byte)
                            }
                        }
                    }
                    outcome.stderrTail.append(contentsOf: buffer[0..<count])
                    if outcome.stderrTail.count > stderrLimit {
                        outcome.stderrTail.removeFirst(outcome.stderrTail.count - stderrLimit)
                    }
                }
            }
        }
        return status
    }

    /// What a cancelling task and the supervising thread share: the group, when SIGKILL is due,
    /// and whether the group is gone (after which its id may be reused, so nothing signals it).
    final class Control: Sendable {
        private struct State {
            var group: pid_t = 0
            var terminateRequested = false
            var killDeadline: ContinuousClock.Instant?
            var gone = false
        }
        private let state = Mutex(State())
        private let grace: Duration

        init(grace: Duration) { self.grace = grace }

        /// The group exists: sends the SIGTERM that a cancellation before this point asked for.
        func started(group: pid_t) {
            state.withLock { state in
                state.group = group
                sendTerminate(&state)
            }
        }

        /// SIGTERM to the group now (once); SIGKILL is due `grace` later.
        func terminate() {
            state.withLock { state in
                state.terminateRequested = true
                sendTerminate(&state)
            }
        }

        /// When the supervising thread is to start sending SIGKILL; nil until SIGTERM was sent.
        var killDeadline: ContinuousClock.Instant? { state.withLock { $0.killDeadline } }

        /// The group is empty: nothing may signal its id any more.
        func groupIsGone() { state.withLock { $0.gone = true } }

        private func sendTerminate(_ state: inout State) {
            guard state.terminateRequested, state.killDeadline == nil, state.group > 0, !state.gone else { return }
            kill(-state.group, SIGTERM)
            state.killDeadline = .now + grace
        }
    }
}
