import Foundation
import Tracing

/// A task handled by a shell command, so teams that write no Swift can still use pgworker.
///
/// Each attempt runs `/bin/sh -c COMMAND` (`exec COMMAND` for a simple command: ``ShellCommand``)
/// with the payload as JSON on stdin and `PGWORKER_JOB_ID`, `PGWORKER_TASK`, `PGWORKER_QUEUE`,
/// `PGWORKER_ATTEMPT` and `PGWORKER_MAX_ATTEMPTS` in the environment. Exit status 0 is success, and stdout becomes the
/// result: as JSON when it parses as JSON, else as a JSON string. A non-zero exit fails the attempt
/// with an error naming the status and holding the tail of stderr.
///
/// **Tracing:** when the worker traces, the attempt's trace context is in the environment too,
/// named after the propagator's keys in upper case: `TRACEPARENT` (and `TRACESTATE`) with
/// OpenTelemetry, so a traced program continues the job's trace (docs/tracing.md).
///
/// **Progress:** a line on stderr of the form `PGWORKER-PROGRESS <fraction> [message]`, e.g.
/// `echo "PGWORKER-PROGRESS 0.5 half the rows" >&2`, reports progress as
/// ``JobContext/reportProgress(_:message:)`` does (fraction 0 to 1). Stderr, because every
/// language and shell can write a line there without setup, it survives wrappers and `exec`
/// (an extra descriptor would be closed by programs that close every descriptor above 2), and
/// it needs no change to how the process is spawned. Such lines still count as stderr.
///
/// The command runs as the leader of its own process group, and an attempt ends only when that
/// whole group is gone. On a timeout, a cancel request or the worker's shutdown, the group gets
/// SIGTERM, then SIGKILL after ``killGracePeriod`` until no process is left, whether or not the
/// shell has exited or exec'd; processes the command leaves behind when it exits by itself are
/// stopped the same way. On Linux, if the worker process dies (even by SIGKILL), the kernel kills
/// the group at once.
public struct CommandTask: TaskHandler {
    /// The shell command.
    public var command: String
    /// Stdout beyond this many bytes is dropped, and the result says it was truncated.
    public var maxOutputBytes: Int
    /// How much of stderr's end is kept in the error.
    public var stderrTailBytes: Int
    /// After SIGTERM to the command's process group, how long before SIGKILL.
    public var killGracePeriod: Duration

    /// Creates a command task.
    public init(command: String, maxOutputBytes: Int = 1 << 20, stderrTailBytes: Int = 4096,
                killGracePeriod: Duration = .seconds(5)) {
        self.command = command
        self.maxOutputBytes = maxOutputBytes
        self.stderrTailBytes = stderrTailBytes
        self.killGracePeriod = killGracePeriod
    }

    /// True: the program gets the job's id and may look the job up, so it starts once the claim
    /// has committed. Starting a process takes longer than that commit anyway.
    public var needsCommittedClaim: Bool { true }

    public func handle(_ job: JobContext) async throws -> String? {
        var environment = ProcessInfo.processInfo.environment
        environment["PGWORKER_JOB_ID"] = String(job.id)
        environment["PGWORKER_TASK"] = job.task
        environment["PGWORKER_QUEUE"] = job.queue
        environment["PGWORKER_ATTEMPT"] = String(job.attempt)
        environment["PGWORKER_MAX_ATTEMPTS"] = String(job.maxAttempts)
        if let traceContext = ServiceContext.current {
            let carrier = TraceContextCarrier.environment(injecting: traceContext, with: InstrumentationSystem.instrument)
            environment.merge(carrier) { $1 }
        }
        let child = ChildProcess(
            arguments: ShellCommand.arguments(command),
            environment: environment,
            input: Array(job.payload.utf8),
            stdoutLimit: maxOutputBytes,
            stderrLimit: stderrTailBytes,
            killGracePeriod: killGracePeriod,
            stderrLine: { line in
                if let (fraction, message) = Self.progress(fromStderrLine: line) {
                    job.reportProgress(fraction, message: message)
                }
            }
        )
        let outcome = try await child.run()
        if Task.isCancelled { throw CancellationError() }
        if let signal = outcome.signal {
            throw JobFailure.retry("command was killed by signal \(signal)\(stderrSuffix(outcome))")
        }
        guard outcome.exitStatus == 0 else {
            throw JobFailure.retry("command exited with status \(outcome.exitStatus ?? -1)\(stderrSuffix(outcome))")
        }
        return Self.result(fromStdout: outcome.stdout, totalBytes: outcome.stdoutBytes)
    }

    /// The fraction and message of a `PGWORKER-PROGRESS <fraction> [message]` line, or nil.
    static func progress(fromStderrLine line: [UInt8]) -> (Double, String?)? {
        let prefix = Array("PGWORKER-PROGRESS ".utf8)
        guard line.count > prefix.count, Array(line[0..<prefix.count]) == prefix else { return nil }
        let rest = sanitizedText(Array(line[prefix.count...])).trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = rest.split(separator: " ", maxSplits: 1)
        guard let first = parts.first, let fraction = Double(first), fraction.isFinite else { return nil }
        let message = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespacesAndNewlines) : nil
        return (fraction, message)
    }

    private func stderrSuffix(_ outcome: ChildProcess.Outcome) -> String {
        let text = sanitizedText(outcome.stderrTail).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "" : "; stderr: \(text)"
    }

    /// Stdout as the job's JSON result: nil when empty, the JSON itself when it parses, else a JSON string.
    static func result(fromStdout bytes: [UInt8], totalBytes: Int) -> String? {
        let truncated = totalBytes > bytes.count
        if !truncated, let json = validJSON(bytes) { return json }
        var text = sanitizedText(bytes)
        if !truncated { text = text.trimmingCharacters(in: .whitespacesAndNewlines) }
        if text.isEmpty && !truncated { return nil }
        if truncated { text += "\n[output truncated: \(totalBytes) bytes in all, first \(bytes.count) kept]" }
        return jsonString(text)
    }

    /// The bytes as JSON text if they parse as JSON that PostgreSQL's jsonb accepts.
    private static func validJSON(_ bytes: [UInt8]) -> String? {
        let data = Data(bytes)
        guard !bytes.isEmpty,
              (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil,
              let text = String(data: data, encoding: .utf8),
              !text.contains("\\u0000")
        else { return nil }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Decodes bytes as UTF-8, replacing invalid sequences, and drops NUL characters, which PostgreSQL
/// text cannot hold.
func sanitizedText(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\u{0}", with: "")
}

/// A Swift string as a JSON string literal.
func jsonString(_ text: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [text], options: [])
    let array = String(decoding: data, as: UTF8.self)
    return String(array.dropFirst().dropLast())
}
