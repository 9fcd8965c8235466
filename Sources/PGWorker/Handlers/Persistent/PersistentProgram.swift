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
/// with a lifeline (as ``ChildProcess``), fed jobs as JSON lines on stdin and read for JSON lines
/// on stdout (``PersistentProtocol``).
///
/// A job's line is written by the job's own task when the pipe has room (no thread hop on the
/// way in); a dedicated thread writes what did not fit, reads and parses the program's output,
/// resumes the job that an answer names, and supervises the process group. The copy is gone for
/// good once its program has exited or was stopped: the pool starts a new one.
final class PersistentProgram: Sendable {
    /// How a job handed to the program ended.
    typealias Outcome = Result<String?, JobFailure>

    private struct Request: Sendable {
        var jobID: Int64
        var progress: @Sendable (Double, String?) -> Void
        var continuation: CheckedContinuation<Outcome?, Never>
    }

    private struct State {
        /// Jobs written (or being written) to the program, oldest first, not yet answered.
        var inFlight: [Request] = []
        /// Bytes of job lines the pipe had no room for yet.
        var unwritten: [UInt8] = []
        /// The program's stdin while open; -1 before the spawn and once closed. Written and closed
        /// only under the lock, so a write never reaches a descriptor number reused by another file.
        var stdin: Int32 = -1
        /// The program was spawned (its delay is over and it did not fail to start).
        var spawned = false
        var terminateRequested = false
        var stopRequested = false
        var exited = false
        /// The program exited without being told to (no stop, terminate or broken protocol).
        var exitedByItself = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// Written to (one byte) whenever `state` changes in a way the thread must see.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// When the program starts (after its delay), to tell a crash at start from one after a while.
    let startedAt: ContinuousClock.Instant

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
        startedAt = .now + delay
        let settings = Settings(command: command, environment: environment, delay: delay, grace: killGracePeriod,
                                maxLineBytes: maxLineBytes, stderrTailBytes: stderrTailBytes, logger: logger)
        Thread.detachNewThread { [self] in self.supervise(settings) }
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Whether the program was spawned: false while it waits out its restart delay.
    var hasStarted: Bool { state.withLock { $0.spawned } }

    /// Whether the program exited on its own, not stopped by the worker: what a crash loop is made of.
    var exitedByItself: Bool { state.withLock { $0.exitedByItself } }

    /// Whether the program can take a job: it has not exited and is not being stopped.
    var isUsable: Bool {
        state.withLock { !$0.exited && !$0.terminateRequested && !$0.stopRequested }
    }

    /// Hands the program one job and waits for its outcome. Progress lines call `progress`, on the
    /// program's thread. If the program exits or breaks the protocol first, the job fails, once the
    /// program's whole process group is gone. Nil when the program was stopped before it started
    /// (during its restart delay): the job never reached it.
    func run(_ line: [UInt8], jobID: Int64, progress: @escaping @Sendable (Double, String?) -> Void) async -> Outcome? {
        await withCheckedContinuation { continuation in
            let (accepted, wakeThread, spawned) = state.withLock { state -> (Bool, Bool, Bool) in
                guard !state.exited, !state.terminateRequested, !state.stopRequested else { return (false, false, state.spawned) }
                state.inFlight.append(Request(jobID: jobID, progress: progress, continuation: continuation))
                var written = 0
                if state.unwritten.isEmpty && state.stdin >= 0 {
                    written = line.withUnsafeBytes { write(state.stdin, $0.baseAddress!, $0.count) }
                    written = max(0, written)
                }
                guard written < line.count else { return (true, false, state.spawned) }
                state.unwritten.append(contentsOf: line[written...])
                return (true, true, state.spawned)
            }
            if !accepted {
                continuation.resume(returning: spawned ? .failure(.retry("the persistent program is not running")) : nil)
            } else if wakeThread {
                wake()
            }
        }
    }

    /// Stops the program now (a timeout, a cancel request): SIGTERM to its group, SIGKILL after the
    /// grace period until the group is empty. Its jobs fail.
    func terminate() {
        state.withLock { $0.terminateRequested = true }
        wake()
    }

    /// Stops the program politely and waits until its group is gone: end of file on stdin once
    /// its jobs are answered, SIGTERM after the grace period, then SIGKILL after another.
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

    /// What only the thread touches.
    private struct Session {
        var stdoutLine: [UInt8] = []
        var stderrLine: [UInt8] = []
        var stderrTail: [UInt8] = []
        /// Jobs answered lately: a second answer for one of them is logged and ignored.
        var answered: [Int64] = []
        /// Why the program is being stopped, told to the jobs it had.
        var failure: String?
        var termDeadline: ContinuousClock.Instant?
        var stdoutClosedAt: ContinuousClock.Instant?
        var killDeadline: ContinuousClock.Instant?
        var firstKill: ContinuousClock.Instant?
    }

    private func supervise(_ settings: Settings) {
        _ = signal(SIGPIPE, SIG_IGN)
        if settings.delay > .zero { waitForWake(upTo: settings.delay) }
        if state.withLock({ $0.stopRequested || $0.terminateRequested }) {
            finish(Session(), failure: nil)
            return
        }
        let group: SpawnedGroup
        do {
            group = try SpawnedGroup.spawn(arguments: ShellCommand.arguments(settings.command), environment: settings.environment)
        } catch {
            finish(Session(), failure: "\(error)")
            return
        }
        settings.logger.debug("persistent program started", metadata: ["pid": .stringConvertible(group.pid)])
        _ = fcntl(group.stdin, F_SETFL, O_NONBLOCK)
        state.withLock { state in
            state.stdin = group.stdin
            state.spawned = true
        }
        wake() // lines handed over before the spawn wait in `unwritten`
        let exitDescriptor = pgw_exit_descriptor(group.pid)
        var session = Session()
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
            let (terminate, stopRequested, writing) = state.withLock { state in
                if state.stopRequested && state.stdin >= 0 && state.inFlight.isEmpty {
                    close(state.stdin)
                    state.stdin = -1
                }
                return (state.terminateRequested, state.stopRequested, state.stdin >= 0 && !state.unwritten.isEmpty)
            }
            if terminate { stopProgram("the persistent program was stopped", now: now) }
            if stopRequested && session.termDeadline == nil && state.withLock({ $0.stdin < 0 }) {
                session.termDeadline = now + settings.grace
            }
            if let deadline = session.termDeadline, now >= deadline { stopProgram(nil, now: now) }
            if let closed = session.stdoutClosedAt, !leaderExited, now - closed >= .milliseconds(500) {
                stopProgram("the persistent program closed its stdout", now: now)
            }

            if !leaderExited {
                let reaped = waitpid(group.pid, &status, WNOHANG)
                if reaped == group.pid || (reaped < 0 && errno != EINTR) {
                    leaderExited = true
                    let (exitStatus, signal) = SpawnedGroup.decode(waitStatus: status)
                    let how = signal.map { "was killed by signal \($0)" } ?? "exited with status \(exitStatus ?? -1)"
                    let byItself = session.killDeadline == nil && session.termDeadline == nil && !stopRequested && !terminate
                    state.withLock { $0.exitedByItself = byItself }
                    if session.failure == nil && !state.withLock({ $0.inFlight.isEmpty }) {
                        session.failure = "the persistent program \(how) while running the job"
                    }
                    settings.logger.log(level: stopRequested || terminate ? .debug : .warning,
                                        "persistent program \(how)", metadata: ["pid": .stringConvertible(group.pid)])
                }
            }
            if leaderExited && !groupGone {
                // What the leader left in its group gets what a timeout gets; the jobs end only
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
            let stdoutDeadline = session.stdoutClosedAt.map { $0 + .milliseconds(500) }
            for deadline in [session.termDeadline, session.killDeadline, stdoutDeadline].compactMap({ $0 }) {
                timeout = min(timeout, max(.milliseconds(1), deadline - now))
            }
            if session.firstKill != nil && !groupGone { timeout = .milliseconds(20) }
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            descriptors.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
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
                    if !writeUnwritten() { stopProgram("the persistent program closed its stdin", now: now) }
                case exitDescriptor:
                    break
                case group.stdout, group.stderr:
                    let count = read(descriptor.fd, &buffer, buffer.count)
                    if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    if count <= 0 {
                        open.removeAll { $0 == descriptor.fd }
                        if descriptor.fd == group.stdout {
                            // A last answer without its newline still counts.
                            if !session.stdoutLine.isEmpty,
                               let violation = readStdout([UInt8(ascii: "\n")][...], &session, settings) {
                                stopProgram(violation, now: now)
                            }
                            // A program that exits closes its stdout first; one still running
                            // half a second later can answer no job.
                            session.stdoutClosedAt = now
                        }
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
        close(group.stdout)
        close(group.stderr)
        if exitDescriptor >= 0 { close(exitDescriptor) }
        close(group.lifeline)
        finish(session, failure: session.failure ?? "the persistent program exited")
    }

    /// Writes as much of `unwritten` as the pipe takes. False when the program's stdin is closed.
    private func writeUnwritten() -> Bool {
        state.withLock { state in
            guard state.stdin >= 0, !state.unwritten.isEmpty else { return true }
            let written = state.unwritten.withUnsafeBytes { write(state.stdin, $0.baseAddress!, $0.count) }
            if written > 0 {
                state.unwritten.removeFirst(written)
                return true
            }
            if written < 0 && errno != EAGAIN && errno != EINTR {
                state.unwritten.removeAll()
                return false
            }
            return true
        }
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
            guard session.stdoutLine.count <= settings.maxLineBytes, violation == nil, session.failure == nil else { continue }
            let message = PersistentProtocol.parse(session.stdoutLine)
            // A job answered before and given again (its retry, on this copy) is not a duplicate.
            if let id = message.jobID, session.answered.contains(id),
               !state.withLock({ $0.inFlight.contains { $0.jobID == id } }) {
                settings.logger.warning("persistent program wrote again for a job it had answered; ignored",
                                        metadata: ["answered_job": .stringConvertible(id)])
                continue
            }
            switch message {
            case .other:
                if PersistentProtocol.looksLikeAnswer(session.stdoutLine) {
                    // An answer that does not parse would leave its job waiting forever.
                    violation = "the persistent program wrote an answer that is not valid JSON (or not UTF-8): "
                        + sanitizedText(Array(session.stdoutLine.prefix(200)))
                } else if !session.stdoutLine.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
                    settings.logger.warning("persistent program wrote a line that is not part of the protocol",
                                            metadata: ["line": .string(sanitizedText(Array(session.stdoutLine.prefix(200))))])
                }
            case .malformed(let reason):
                violation = "the persistent program wrote an answer whose \(reason): "
                    + sanitizedText(Array(session.stdoutLine.prefix(200)))
            case .progress(let id, let fraction, let text):
                guard let request = state.withLock({ $0.inFlight.first { $0.jobID == id } }) else {
                    violation = notGiven(id)
                    continue
                }
                request.progress(fraction, text)
            case .succeeded(let id, let result):
                if answer(id, .success(result)) { remember(id, &session) } else { violation = notGiven(id) }
            case .failed(let id, let error, let discard):
                let failure = JobFailure(message: sanitizedText(Array(error.utf8)), discard: discard)
                if answer(id, .failure(failure)) { remember(id, &session) } else { violation = notGiven(id) }
            }
        }
        return violation
    }

    private func remember(_ id: Int64, _ session: inout Session) {
        session.stderrTail.removeAll(keepingCapacity: true)
        session.answered.append(id)
        if session.answered.count > 256 { session.answered.removeFirst(128) }
    }

    private func notGiven(_ id: Int64) -> String {
        let given = state.withLock { $0.inFlight.map { String($0.jobID) } }
        return "the persistent program answered for job \(id), which it was not running"
            + (given.isEmpty ? "" : " (it was running \(given.joined(separator: ", ")))")
    }

    /// Resumes the job `id` with `outcome`; false when the program was not running that job.
    private func answer(_ id: Int64, _ outcome: Outcome) -> Bool {
        let request = state.withLock { state -> Request? in
            guard let index = state.inFlight.firstIndex(where: { $0.jobID == id }) else { return nil }
            return state.inFlight.remove(at: index)
        }
        request?.continuation.resume(returning: outcome)
        return request != nil
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
                // Progress on stderr belongs to the oldest job, the one the program is running.
                state.withLock { $0.inFlight.first }?.progress(fraction, message)
            } else {
                settings.logger.info("persistent program: \(sanitizedText(session.stderrLine))")
            }
            session.stderrLine.removeAll(keepingCapacity: true)
        }
    }

    /// The program is gone: fails the jobs it had and wakes `stop()`. A nil `failure`: it was
    /// stopped before it started, so its jobs never reached it.
    private func finish(_ session: Session, failure: String?) {
        let stderr = sanitizedText(session.stderrTail).trimmingCharacters(in: .whitespacesAndNewlines)
        let message = failure.map { $0 + (stderr.isEmpty ? "" : "; stderr: \(stderr)") }
        let (requests, waiters) = state.withLock { state in
            state.exited = true
            if state.stdin >= 0 { close(state.stdin) }
            state.stdin = -1
            state.unwritten = []
            let result = (state.inFlight, state.exitWaiters)
            state.inFlight = []
            state.exitWaiters = []
            return result
        }
        for (index, request) in requests.enumerated() {
            guard let message else {
                request.continuation.resume(returning: nil)
                continue
            }
            // Only the oldest job was running; the others waited in the pipe behind it.
            let text = index == 0 ? message : "\(message) (this job was waiting behind job \(requests[0].jobID))"
            request.continuation.resume(returning: .failure(.retry(text)))
        }
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
