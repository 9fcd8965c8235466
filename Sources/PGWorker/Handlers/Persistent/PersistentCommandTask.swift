import Foundation
import Logging

/// A command task whose program starts once and runs many jobs, one after another, so a PHP,
/// Python or Ruby handler pays its start-up and builds its state (connections, loaded code) once.
///
/// The program (`/bin/sh -c COMMAND`, `exec COMMAND` for a simple command: ``ShellCommand``)
/// runs as up to ``copies`` copies; each copy gets one job at a time (or up to ``pipeline``), as one line of JSON on stdin:
///
///     {"id":42,"task":"resize","queue":"default","attempt":1,"max_attempts":25,"payload":{"w":800}}
///
/// and answers on stdout with one line of JSON naming the same `id`:
///
///     {"id":42,"result":{"done":true}}             success; "result" is optional, any JSON
///     {"id":42,"error":"no such image"}            failure, retried with backoff
///     {"id":42,"error":"bad input","discard":true} failure, the job goes straight to dead
///     {"id":42,"progress":0.5,"message":"half"}    progress, any number of times before the outcome
///
/// Flush stdout after each line. Lines on stdout that are not JSON objects with an `id` are
/// logged and ignored (a stray `print`); a line naming another job breaks the protocol.
/// Stderr goes to the worker's log, and `PGWORKER-PROGRESS <fraction> [message]` lines there
/// report progress as they do for ``CommandTask``. End of file on stdin means "exit now".
///
/// Supervision is that of ``CommandTask``: each copy is the leader of its own process group,
/// which the kernel kills if the worker dies. A job that times out or is cancelled stops its
/// copy (SIGTERM to the group, SIGKILL after ``killGracePeriod``), since a job cannot be taken
/// back from a program mid-line; the same happens when a copy breaks the protocol. A copy that
/// exits or dies fails the job it was running (retried with backoff), and the next job starts a
/// new copy. When the worker stops, idle copies get end of file, then SIGTERM and SIGKILL.
public struct PersistentCommandTask: TaskHandler {
    /// The shell command that starts one copy of the program.
    public let command: String
    /// How many copies may run at once.
    public let copies: Int
    /// How many jobs one copy is given before it answers the first: 1 (the default) hands a copy
    /// its next job only after its answer; more lets the next lines wait in the pipe, so a copy
    /// reads them without waiting for the worker (much faster for short jobs). The cost: when a
    /// copy dies or is stopped (a timeout), the jobs waiting behind its current one fail too, and
    /// they wait behind it. Jobs beyond `copies × pipeline` wait in the worker.
    public let pipeline: Int
    /// After SIGTERM to a copy's process group, how long before SIGKILL; also how long a copy has
    /// to exit after end of file on stdin.
    public let killGracePeriod: Duration
    private let pool: PersistentProgramPool

    /// Creates the task. Copies start on the first jobs that need them, not before.
    ///
    /// - Parameters:
    ///   - name: the task's name, given to the program as `PGWORKER_TASK`.
    ///   - maxLineBytes: a stdout line longer than this (16 MiB by default) breaks the protocol: the
///     largest answer, so the largest result.
    ///   - stderrTailBytes: how much of stderr's end goes into the error when a copy dies.
    ///   - logger: where the program's stderr and its exits are logged.
    public init(name: String, command: String, copies: Int = 1, pipeline: Int = 1, killGracePeriod: Duration = .seconds(5),
                maxLineBytes: Int = 16 << 20, stderrTailBytes: Int = 4096,
                logger: Logger = Logger(label: "pgworker.persistent")) {
        self.command = command
        self.copies = max(1, copies)
        self.pipeline = max(1, pipeline)
        self.killGracePeriod = killGracePeriod
        var environment = ProcessInfo.processInfo.environment
        environment["PGWORKER_TASK"] = name
        environment["PGWORKER_PERSISTENT"] = "1"
        var logger = logger
        logger[metadataKey: "task"] = .string(name)
        pool = PersistentProgramPool(copies: copies, pipeline: pipeline) { [logger, environment] delay in
            PersistentProgram(command: command, environment: environment, delay: delay,
                              killGracePeriod: killGracePeriod, maxLineBytes: maxLineBytes,
                              stderrTailBytes: stderrTailBytes, logger: logger)
        }
    }

    /// True, as for ``CommandTask``: the program gets the job's id and may look the job up.
    public var needsCommittedClaim: Bool { true }

    public func handle(_ job: JobContext) async throws -> String? {
        let program: PersistentProgram
        do {
            program = try await pool.checkOut()
        } catch {
            throw JobNotStarted()
        }
        job.startsRunning?()
        let outcome = await withTaskCancellationHandler {
            await program.run(PersistentProtocol.jobLine(job), jobID: job.id) { fraction, message in
                job.reportProgress(fraction, message: message)
            }
        } onCancel: {
            program.terminate()
        }
        pool.checkIn(program)
        // Stopped during its restart delay (the worker is stopping): the job never reached it.
        guard let outcome else { throw JobNotStarted() }
        if Task.isCancelled { throw CancellationError() }
        return try outcome.get()
    }

    /// Gives back the jobs waiting for a copy, and stops copies that have not started yet.
    public func workerStopping() {
        pool.close()
    }

    /// Stops the idle copies and waits until they are gone.
    public func workerStopped() async {
        await pool.stopIdle()
    }
}
