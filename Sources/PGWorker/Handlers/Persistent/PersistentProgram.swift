import CChildProcess
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One running copy of a persistent command: a program started once, in its own process group
/// with a lifeline (as ``ChildProcess``), fed one job at a time as a JSON line on stdin and read
/// for JSON lines on stdout (``PersistentProtocol``).
///
/// A dedicated thread does all of its I/O and supervision; ``run(_:jobID:progress:)`` hands that
/// thread a job and suspends until its outcome. The copy is gone for good once its program has
/// exited or was stopped: the pool starts a new one.
final class PersistentProgram: Sendable {
    /// How a job handed to the program ended.
    typealias Outcome = Result<String?, JobFailure>

    private struct Request: Sendable {
        var line: [UInt8]
        var jobID: Int64
        var progress: @Sendable (Double, String?) -> Void
        var continuation: CheckedContinuation<Outcome, Never>
    }

    private struct State {
        var pending: Request?
        var busy = false
        var terminateRequested = false
        var stopRequested = false
        var exited = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// Written to (one byte) whenever `state` changes in a way the thread must see.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// When the program was started, to tell a crash at start from one after a while.
    let startedAt = ContinuousClock.now

    /// Starts the program on its own thread, after `delay` (a crash-loop backoff).
    init(command: String, environment: [String: String], delay: Duration, killGracePeriod: Duration,
         maxLineBytes: Int, stderrTailBytes: Int, logger: Logger) {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) != 0 { fds = [-1, -1] }
        for fd in fds where fd >= 0 {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        let settings = Settings(command: command, environment: environment, delay: delay, grace: killGracePeriod,
                                maxLineBytes: maxLineBytes, stderrTailBytes: stderrTailBytes, logger: logger)
        Thread.detachNewThread { [self] in self.supervise(settings) }
    }

    /// Whether the program can take a job: it has not exited and is not being stopped.
    var isUsable: Bool {
        state.withLock { !$0.exited && !$0.terminateRequested && !$0.stopRequested }
    }

    /// Hands the program one job and waits for its outcome. Progress lines call `progress`, on the
    /// program's thread. If the program exits or breaks the protocol first, the job fails, once the
    /// program's whole process group is gone.
    func run(_ line: [UInt8], jobID: Int64, progress: @escaping @Sendable (Double, String?) -> Void) async -> Outcome {
        await withCheckedContinuation { continuation in
            let accepted = state.withLock { state -> Bool in
                guard !state.exited, !state.busy else { return false }
                state.busy = true
                state.pending = Request(line: line, jobID: jobID, progress: progress, continuation: continuation)
                return true
            }
            if accepted {
                wake()
            } else {
                continuation.resume(returning: .failure(.retry("the persistent program is not running")))
            }
        }
    }

    /// Stops the program now (a timeout, a cancel request): SIGTERM to its group, SIGKILL after the
    /// grace period until the group is empty. A running job fails.
    func terminate() {
        state.withLock { $0.terminateRequested = true }
        wake()
    }

    /// Stops the program politely and waits until its group is gone: end of file on stdin, SIGTERM
    /// after the grace period, then SIGKILL after another.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = state.withLock { state -> Bool in
                state.stopRequested = true
                if !state.exited { state.exitWaiters.append(continuation) }
                return state.exited
            }
            if exited { continuation.resume() } else { wake() }
        }
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: - The program's thread

    private struct Settings: Sendable {
        var command: String
        var environment: [String: String]
        var delay: Duration
        var grace: Duration
        var maxLineBytes: Int
        var stderrTailBytes: Int
        var logger: Logger
    }

    /// What the thread knows, outside the shared state.
    private struct Session {
        var current: Request?
        var output: [UInt8] = []
        var outputOffset = 0
        var stdoutLine: [UInt8] = []
        var stderrLine: [UInt8] = []
        var stderrTail: [UInt8] = []
        /// Why the program is being stopped, told to the job it was running.
        var failure: String?
        var termDeadline: ContinuousClock.Instant?
        var killDeadline: ContinuousClock.Instant?
        var firstKill: ContinuousClock.Instant?
    }

    private func supervise(_ settings: Settings) {
        _ = signal(SIGPIPE, SIG_IGN)
        if settings.delay > .zero { waitForWake(upTo: settings.delay) }
        if state.withLock({ $0.stopRequested || $0.terminateRequested }) {
            finish(session: Session(), failure: "the persistent program was stopped")
            return
        }
        let group: SpawnedGroup
        do {
            group = try SpawnedGroup.spawn(arguments: ["/bin/sh", "-c", settings.command], environment: settings.environment)
        } catch {
            finish(session: Session(), failure: "\(error)")
            return
        }
        settings.logger.debug("persistent program started", metadata: ["pid": .stringConvertible(group.pid)])
        _ = fcntl(group.stdin, F_SETFL, O_NONBLOCK)
        let exitDescriptor = pgw_exit_descriptor(group.pid)
        var session = Session()
        var stdinOpen = true
        var open: [Int32] = [group.stdout, group.stderr]
        var leaderExited = false
        var groupGone = false
        var status: Int32 = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)

        func stopProgram(_ why: String?, now: ContinuousClock.Instant) {
            if session.failure == nil { session.failure = why }
            guard session.killDeadline == nil else { return }
            kill(-group.pid, SIGTERM)
            session.killDeadline = now + settings.grace
        }

        while true {
            let now = ContinuousClock.now
            let (request, terminate, stopRequested) = state.withLock { state in
                let request = state.pending
                state.pending = nil
                return (request, state.terminateRequested, state.stopRequested)
            }
            if let request {
                session.current = request
                session.output = request.line
                session.outputOffset = 0
                if leaderExited || session.killDeadline != nil {
                    session.failure = session.failure ?? "the persistent program is stopping"
                }
            }
            if terminate { stopProgram("the persistent program was stopped", now: now) }
            if stopRequested && stdinOpen && session.current == nil {
                close(group.stdin)
                stdinOpen = false
                session.termDeadline = session.termDeadline ?? now + settings.grace
            }
            if let deadline = session.termDeadline, now >= deadline { stopProgram(nil, now: now) }

            if !leaderExited {
                let reaped = waitpid(group.pid, &status, WNOHANG)
                if reaped == group.pid || (reaped < 0 && errno != EINTR) {
                    leaderExited = true
                    let (exitStatus, signal) = SpawnedGroup.decode(waitStatus: status)
                    let how = signal.map { "was killed by signal \($0)" } ?? "exited with status \(exitStatus ?? -1)"
                    if session.current != nil && session.failure == nil {
                        session.failure = "the persistent program \(how) while running the job"
                    }
                    settings.logger.log(level: stopRequested || terminate ? .debug : .warning,
                                        "persistent program \(how)", metadata: ["pid": .stringConvertible(group.pid)])
                }
            }
            if leaderExited && !groupGone {
                // What the leader left in its group gets what a timeout gets; the job ends only
                // once the group is empty.
                if kill(-group.pid, 0) != 0 && errno == ESRCH {
                    groupGone = true
                } else {
                    stopProgram(nil, now: now)
                }
            }
            if !groupGone, let deadline = session.killDeadline, now >= deadline {
                if leaderExited, let first = session.firstKill, now - first > ChildProcess.killWait {
                    groupGone = true
                } else {
                    session.firstKill = session.firstKill ?? now
                    kill(-group.pid, SIGKILL)
                }
            }
            // Once the group is gone, read what is left in the pipes, up to the first quiet moment
            // (a process that left the group may hold them open forever).
            if groupGone && open.isEmpty { break }

            var timeout: Duration = exitDescriptor >= 0 ? .seconds(1) : .milliseconds(20)
            if leaderExited { timeout = groupGone ? .milliseconds(50) : .milliseconds(20) }
            for deadline in [session.termDeadline, session.killDeadline].compactMap({ $0 }) {
                timeout = min(timeout, max(.milliseconds(1), deadline - now))
            }
            if session.firstKill != nil && !groupGone { timeout = .milliseconds(20) }
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            descriptors.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            let writing = stdinOpen && session.outputOffset < session.output.count
            if writing { descriptors.append(pollfd(fd: group.stdin, events: Int16(POLLOUT), revents: 0)) }
            if !leaderExited && exitDescriptor >= 0 {
                descriptors.append(pollfd(fd: exitDescriptor, events: Int16(POLLIN), revents: 0))
            }
            let ready = poll(&descriptors, nfds_t(descriptors.count), Int32(timeout / .milliseconds(1)))
            if ready < 0 && errno != EINTR { open.removeAll() }
            if ready == 0 && groupGone { break }
            guard ready > 0 else { continue }

            for descriptor in descriptors where descriptor.revents != 0 {
                switch descriptor.fd {
                case wakeRead:
                    while read(wakeRead, &buffer, 64) > 0 {}
                case group.stdin where writing:
                    let remaining = session.output.count - session.outputOffset
                    let written = session.output.withUnsafeBytes { bytes in
                        write(group.stdin, bytes.baseAddress! + session.outputOffset, remaining)
                    }
                    if written > 0 {
                        session.outputOffset += written
                    } else if written < 0 && errno != EAGAIN && errno != EINTR {
                        stopProgram("the persistent program closed its stdin", now: now)
                        session.outputOffset = session.output.count
                    }
                case exitDescriptor:
                    break
                case group.stdout, group.stderr:
                    let count = read(descriptor.fd, &buffer, buffer.count)
                    if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    if count <= 0 {
                        open.removeAll { $0 == descriptor.fd }
                        continue
                    }
                    if descriptor.fd == group.stdout {
                        if let violation = readStdout(buffer[0..<count], &session, settings) {
                            stopProgram(violation, now: now)
                        }
                    } else {
                        readStderr(buffer[0..<count], &session, settings)
                    }
                default:
                    break
                }
            }
        }
        for fd in open { close(fd) }
        if stdinOpen { close(group.stdin) }
        if exitDescriptor >= 0 { close(exitDescriptor) }
        close(group.lifeline)
        finish(session: session, failure: session.failure ?? "the persistent program exited")
    }

    /// Handles the program's stdout; returns why the program must be stopped, if it broke the protocol.
    private func readStdout(_ bytes: ArraySlice<UInt8>, _ session: inout Session, _ settings: Settings) -> String? {
        var violation: String?
        for byte in bytes {
            guard byte == UInt8(ascii: "\n") else {
                if session.stdoutLine.count < settings.maxLineBytes {
                    session.stdoutLine.append(byte)
                } else if session.stdoutLine.count == settings.maxLineBytes {
                    session.stdoutLine.append(byte)
                    violation = violation ?? "the persistent program wrote a line longer than \(settings.maxLineBytes) bytes"
                }
                continue
            }
            defer { session.stdoutLine.removeAll(keepingCapacity: true) }
            guard session.stdoutLine.count <= settings.maxLineBytes else { continue }
            let message = PersistentProtocol.parse(session.stdoutLine)
            let currentID = session.current?.jobID
            switch message {
            case .other:
                if !session.stdoutLine.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
                    settings.logger.warning("persistent program wrote a line that is not part of the protocol",
                                            metadata: ["line": .string(sanitizedText(Array(session.stdoutLine.prefix(200))))])
                }
            case .progress(let id, let fraction, let text) where id == currentID:
                session.current?.progress(fraction, text)
            case .succeeded(let id, let result) where id == currentID && session.failure == nil:
                complete(&session, with: .success(result))
            case .failed(let id, let error, let discard) where id == currentID && session.failure == nil:
                complete(&session, with: .failure(JobFailure(message: sanitizedText(Array(error.utf8)), discard: discard)))
            case .progress(let id, _, _), .succeeded(let id, _), .failed(let id, _, _):
                violation = violation ?? "the persistent program answered for job \(id)"
                    + (currentID.map { " while running job \($0)" } ?? " while running none")
            }
        }
        return violation
    }

    private func readStderr(_ bytes: ArraySlice<UInt8>, _ session: inout Session, _ settings: Settings) {
        session.stderrTail.append(contentsOf: bytes)
        if session.stderrTail.count > settings.stderrTailBytes {
            session.stderrTail.removeFirst(session.stderrTail.count - settings.stderrTailBytes)
        }
        for byte in bytes {
            if byte != UInt8(ascii: "\n") {
                if session.stderrLine.count < 4096 { session.stderrLine.append(byte) }
                continue
            }
            if let (fraction, message) = CommandTask.progress(fromStderrLine: session.stderrLine) {
                session.current?.progress(fraction, message)
            } else {
                settings.logger.info("persistent program: \(sanitizedText(session.stderrLine))")
            }
            session.stderrLine.removeAll(keepingCapacity: true)
        }
    }

    private func complete(_ session: inout Session, with outcome: Outcome) {
        guard let request = session.current else { return }
        session.current = nil
        session.output = []
        session.outputOffset = 0
        session.stderrTail.removeAll(keepingCapacity: true)
        state.withLock { $0.busy = false }
        request.continuation.resume(returning: outcome)
    }

    /// The program is gone: fails the job it was running (or was just handed) and wakes `stop()`.
    private func finish(session: Session, failure: String) {
        let stderr = sanitizedText(session.stderrTail).trimmingCharacters(in: .whitespacesAndNewlines)
        let message = failure + (stderr.isEmpty ? "" : "; stderr: \(stderr)")
        let (pending, waiters) = state.withLock { state in
            state.exited = true
            state.busy = false
            let result = (state.pending, state.exitWaiters)
            state.pending = nil
            state.exitWaiters = []
            return result
        }
        session.current?.continuation.resume(returning: .failure(.retry(message)))
        pending?.continuation.resume(returning: .failure(.retry(message)))
        waiters.forEach { $0.resume() }
    }

    /// Sleeps up to `duration`, returning early when a stop or terminate is requested.
    private func waitForWake(upTo duration: Duration) {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {
            if state.withLock({ $0.stopRequested || $0.terminateRequested }) { return }
            var descriptor = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, Int32(max(1, min(200, (end - ContinuousClock.now) / .milliseconds(1)))))
        }
    }
}
