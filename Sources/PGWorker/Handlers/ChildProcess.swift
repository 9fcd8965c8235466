import CChildProcess
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A program run as the leader of its own process group, fed `input` on stdin, with its output
/// captured up to limits. Blocking work happens on dedicated threads, never on Swift's cooperative
/// pool. Cancelling the calling task sends SIGTERM to the whole group, then SIGKILL after
/// `killGracePeriod`.
///
/// When the worker process dies, however it dies, the kernel sends SIGKILL to the group. How, and
/// why that way: each run has a *lifeline*, a pipe whose write end only this process holds
/// (close-on-exec). Before the program starts, its read end is set so that the kernel sends
/// SIGKILL to the program's process group when the last write end closes
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

    func run() async throws -> Outcome {
        let control = Control()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let this = self
                Thread.detachNewThread {
                    continuation.resume(with: Result { try this.runBlocking(control) })
                }
            }
        } onCancel: {
            control.terminate(grace: killGracePeriod)
        }
    }

    /// Held while a child's pipes are created and marked close-on-exec, and around every spawn, so
    /// a child spawned concurrently never inherits another child's pipe ends (a `cat` would then
    /// never see end of file on stdin, and a lifeline would outlive this process in that child).
    /// Glibc's module does not export `pipe2(O_CLOEXEC)`.
    private static let spawnLock = Mutex(())

    /// Spawns, feeds, drains and reaps the child on the calling (dedicated) thread.
    private func runBlocking(_ control: Control) throws -> Outcome {
        var pipes: [[Int32]] = Array(repeating: [-1, -1], count: 4)
        let piped = Self.spawnLock.withLock { _ -> Bool in
            for index in pipes.indices {
                guard pipe(&pipes[index]) == 0 else { return false }
                // dup2 onto 0/1/2 in the child clears the flag there; the lifeline's read end is
                // cleared by the child itself.
                for fd in pipes[index] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            }
            return true
        }
        guard piped else {
            let error = errno
            for fd in pipes.joined() where fd >= 0 { close(fd) }
            throw JobFailure.retry("cannot create pipes: errno \(error)")
        }
        let (stdinPipe, stdoutPipe, stderrPipe, lifeline) = (pipes[0], pipes[1], pipes[2], pipes[3])

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawnError = Self.spawnLock.withLock { _ in
            pgw_spawn_in_new_group(arguments[0], argv, envp, stdinPipe[0], stdoutPipe[1], stderrPipe[1],
                                   lifeline[0], lifeline[1], &pid)
        }
        for fd in [stdinPipe[0], stdoutPipe[1], stderrPipe[1], lifeline[0]] { close(fd) }
        guard spawnError == 0 else {
            for fd in [stdinPipe[1], stdoutPipe[0], stderrPipe[0], lifeline[1]] { close(fd) }
            throw JobFailure.retry("cannot start \(arguments[0]): \(String(cString: strerror(spawnError)))")
        }
        control.started(pid: pid)

        // Feed stdin on its own thread, so a child that writes before it reads cannot deadlock us.
        let input = self.input
        let writer = stdinPipe[1]
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
        let status = drainAndReap(pid: pid, stdout: stdoutPipe[0], stderr: stderrPipe[0], into: &outcome)
        close(stdoutPipe[0])
        close(stderrPipe[0])
        control.exited()
        // Dropping the lifeline kills whatever the program left running in its group.
        close(lifeline[1])
        // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out: the C macros are not imported.
        if status & 0x7f == 0 {
            outcome.exitStatus = (status >> 8) & 0xff
        } else {
            outcome.signal = status & 0x7f
        }
        return outcome
    }

    /// Reads both output pipes, keeping stdout's head and stderr's tail, until the child has exited
    /// and the pipes are empty. A background process the command left behind may keep the pipes
    /// open forever, so once the child is gone, reading stops at the first quiet moment.
    /// Returns the child's wait status.
    private func drainAndReap(pid: pid_t, stdout: Int32, stderr: Int32, into outcome: inout Outcome) -> Int32 {
        var open: [Int32] = [stdout, stderr]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var status: Int32 = 0
        var exited = false
        while !open.isEmpty {
            if !exited {
                let reaped = waitpid(pid, &status, WNOHANG)
                exited = reaped == pid || (reaped < 0 && errno != EINTR)
            }
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), exited ? 50 : 100)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 {
                if exited { break }
                continue
            }
            for descriptor in descriptors where descriptor.revents != 0 {
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
                    outcome.stderrTail.append(contentsOf: buffer[0..<count])
                    if outcome.stderrTail.count > stderrLimit {
                        outcome.stderrTail.removeFirst(outcome.stderrTail.count - stderrLimit)
                    }
                }
            }
        }
        if !exited {
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        return status
    }

    /// Lets a cancelling task signal the child's process group.
    final class Control: Sendable {
        private struct State {
            var pid: pid_t = 0
            var terminateRequested = false
            var exited = false
        }
        private let state = Mutex(State())
        private let grace = Mutex<Duration>(.seconds(5))

        func started(pid: pid_t) {
            let terminateNow = state.withLock { state -> Bool in
                state.pid = pid
                return state.terminateRequested
            }
            if terminateNow { terminate(grace: grace.withLock { $0 }) }
        }

        func exited() { state.withLock { $0.exited = true } }

        /// SIGTERM to the group now; SIGKILL after `grace` if it is still there.
        func terminate(grace: Duration) {
            self.grace.withLock { $0 = grace }
            let pid = state.withLock { state -> pid_t in
                state.terminateRequested = true
                return state.exited ? 0 : state.pid
            }
            guard pid > 0 else { return }
            kill(-pid, SIGTERM)
            let nanoseconds = grace.components.seconds * 1_000_000_000 + grace.components.attoseconds / 1_000_000_000
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { [self] in
                let pid = state.withLock { $0.exited ? 0 : $0.pid }
                if pid > 0 { kill(-pid, SIGKILL) }
            }
        }
    }
}
