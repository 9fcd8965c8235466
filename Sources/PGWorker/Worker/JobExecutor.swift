import Foundation
import Logging
import Synchronization
import Tracing

/// Runs one claimed job (River's "executor"): its Swift or command handler, or its SQL task,
/// with the task's timeout, metrics and log lines, then queues the outcome for the turn loop to
/// write and wakes the loop when that is due.
struct JobExecutor: Sendable {
    let workerID: String
    let registry: TaskRegistry
    let configuration: WorkerConfiguration
    /// Runs SQL-task jobs, many to a transaction when they can.
    let sqlTasks: SQLTaskBatcher
    let state: EngineState
    let shutdown: ShutdownState
    let runningJobs: RunningJobs
    /// Timeouts of running jobs, enforced by one timer.
    let deadlines: JobDeadlines
    let jobMetrics: JobMetricsCache
    let limitedQueues: LimitedQueues
    let localQueueLimits: LocalQueueLimits
    /// Writes the progress handlers report, coalesced.
    let progressWriter: JobProgressWriter
    /// Hands a context's progress reports to ``progressWriter``; made once, not per job.
    let reportProgress: @Sendable (Int64, Double, String?) -> Void
    let logger: Logger

    /// Runs one job in its own task (see ``RunningJobs``) and queues its outcome. With
    /// `tracing`, the attempt runs in its span (``AttemptSpan``).
    func execute(_ job: ClaimedJob, tracing: JobTracing? = nil) async {
        let context = JobContext(id: job.id, task: job.task, queue: job.queue, payload: job.payload,
                                 attempt: job.attempt, maxAttempts: job.maxAttempts, logger: logger,
                                 progress: reportProgress)
        let metrics = jobMetrics.metrics(for: job)
        let started = AttemptClock()
        WorkerMetrics.jobStarted(job, metrics, inFlight: jobMetrics.inFlight)
        let attempt: Attempt
        if let tracing {
            let span = AttemptSpan(job, tracing: tracing)
            attempt = await ServiceContext.withValue(span.context) { await run(job, context, started: started) }
            span.end(attempt.outcome(job), error: attempt.completion?.error)
        } else {
            attempt = await run(job, context, started: started)
        }
        let completion = attempt.completion
        // A report still pending reaches the row before the outcome can: only jobs that reported.
        await progressWriter.finish(job.id)
        let duration = started.elapsed
        WorkerMetrics.jobFinished(job, completion, after: duration, metrics, inFlight: jobMetrics.inFlight)
        // Metadata as autoclosures: built only when the level is enabled.
        let milliseconds = Logger.MetadataValue.stringConvertible(Int(duration / .milliseconds(1)))
        if let completion, !completion.succeeded {
            let final = completion.discard || job.attempt >= job.maxAttempts
            logger.info(final ? "job attempt failed; the job is dead" : "job attempt failed; it will be retried",
                        metadata: context.metadata.merging([
                "error": .string(completion.error ?? ""), "ms": milliseconds,
            ]) { $1 })
        } else if completion != nil {
            logger.info("job succeeded", metadata: context.metadata.merging(["ms": milliseconds]) { $1 })
        } else if registry.handler(for: job.task) != nil {
            logger.info("job never started; given back to the queue", metadata: context.metadata)
        } else {
            logger.info("SQL job finished", metadata: context.metadata.merging(["ms": milliseconds]) { $1 })
        }
        let freedCappedSlot = localQueueLimits.finished(job.queue) || limitedQueues.contains(job.queue)
        let wakeLoop = state.jobEnded(job.id, outcome: completion, freedCappedSlot: freedCappedSlot, stopping: shutdown.isStopping)
        runningJobs.ended(job.id)
        if wakeLoop { state.wakeLoop() }
    }

    /// One attempt's result: its completion (nil when a SQL task recorded it itself, or the job
    /// never started), and what the span reports about how it ended.
    private struct Attempt {
        var completion: Completion?
        var recordedState: String?
        var timedOut = false
        var cancelled = false

        func outcome(_ job: ClaimedJob) -> AttemptOutcome {
            guard let completion else { return AttemptOutcome(recordedState: recordedState) }
            return AttemptOutcome(completion, attempt: job.attempt, maxAttempts: job.maxAttempts,
                                  timedOut: timedOut, cancelled: cancelled)
        }
    }

    /// Runs the job's handler, or its SQL task, within the task's timeout.
    private func run(_ job: ClaimedJob, _ context: JobContext, started: AttemptClock) async -> Attempt {
        var context = context
        let timeout = registry.timeout(for: job.task) ?? configuration.defaultTimeout
        let handler = registry.handler(for: job.task)
        if handler is PersistentCommandTask || handler == nil {
            // Its jobs may wait for a free copy of the program, or a SQL task's for a connection;
            // the timeout and the logged duration start when the job does.
            context.startsRunning = { [deadlines] in
                started.restart()
                if let timeout { deadlines.start(job.id, timeout: timeout) }
            }
        } else if let timeout {
            deadlines.start(job.id, timeout: timeout)
        }
        var attempt = Attempt()
        if let handler {
            attempt.completion = await runHandler(handler, context)
        } else {
            // The worker's logger, not the job's: building that one escapes its metadata, which
            // cost a no-op SQL job more than its share of the batch. Log lines about one job add it.
            let run = await sqlTasks.run(job, logger: logger, startsRunning: context.startsRunning)
            attempt = Attempt(completion: run.completion, recordedState: run.recordedState, timedOut: run.timedOut)
        }
        if let timeout, deadlines.finish(job.id) {
            // A SQL task whose statement ended before the cancel reached it (its outcome recorded,
            // or a procedure that finished) did not time out: the log and metrics say what the
            // database holds.
            let finishedFirst = handler == nil && (attempt.recordedState != nil || attempt.completion?.succeeded == true)
            if !finishedFirst {
                attempt.completion = .failure(job.id, error: "timed out after \(formatSeconds(timeout)) and was cancelled")
                attempt.timedOut = true
            }
        }
        attempt.cancelled = Task.isCancelled
        return attempt
    }

    /// The attempt's outcome; nil for a job that never started (given back by the final flush).
    private func runHandler(_ handler: any TaskHandler, _ context: JobContext) async -> Completion? {
        do {
            // A handler that returned finished its work, even if cancellation came meanwhile:
            // recording it as cancelled would run it again.
            let result = try await handler.handle(context)
            if let result, !isStorableJSON(result) {
                let why = result.contains("\\u0000") || result.contains("\u{0}")
                    ? "a result with \\u0000, which PostgreSQL's jsonb cannot store" : "a result that is not valid JSON"
                return .failure(context.id, error: "handler returned \(why): \(sanitizedText(Array(result.prefix(200).utf8)))")
            }
            return .success(context.id, result: result)
        } catch is JobNotStarted {
            return shutdown.isStopping ? nil : .cancelledByShutdown(context.id)
        } catch let failure as JobFailure {
            if Task.isCancelled { return .cancelledByShutdown(context.id) }
            return .failure(context.id, error: sanitizedText(Array(failure.message.utf8)), discard: failure.discard)
        } catch is CancellationError {
            return .cancelledByShutdown(context.id)
        } catch {
            return .failure(context.id, error: sanitizedText(Array(String(describing: error).utf8)))
        }
    }
}

/// When an attempt started, for its logged duration: when it was handed to its handler, or later,
/// when a job that waited inside the handler starts running (`JobContext.startsRunning`).
private final class AttemptClock: Sendable {
    private let start = Mutex(ContinuousClock.now)

    func restart() { start.withLock { $0 = .now } }

    var elapsed: Duration { ContinuousClock.now - start.withLock { $0 } }
}

/// "1.5 s", "30 s".
func formatSeconds(_ duration: Duration) -> String {
    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.3g s", seconds)
}

/// True when PostgreSQL's jsonb accepts the text.
func isStorableJSON(_ text: String) -> Bool {
    guard !text.contains("\\u0000"), !text.contains("\u{0}") else { return false }
    return (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil
}
