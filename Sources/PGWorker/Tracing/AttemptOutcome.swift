/// How one attempt of a job ended, as the attempt's span reports it.
enum AttemptOutcome: String, Sendable {
    /// The handler returned; the job is done.
    case succeeded
    /// The attempt failed and the job will be retried.
    case failed
    /// The attempt failed and the job will not be retried (last attempt, or discarded).
    case dead
    /// The job was cancelled (`pgworker.cancel_job`, or the worker shut down) while it ran.
    case cancelled
    /// The attempt ran longer than the task's timeout and was stopped.
    case timedOut = "timed_out"

    /// The outcome of an attempt whose completion the engine records. `timedOut` and
    /// `cancelled` win over the failure they cause.
    init(_ completion: Completion, attempt: Int, maxAttempts: Int, timedOut: Bool, cancelled: Bool) {
        if completion.succeeded {
            self = .succeeded
        } else if timedOut {
            self = .timedOut
        } else if cancelled {
            self = .cancelled
        } else if completion.discard || attempt >= maxAttempts {
            self = .dead
        } else {
            self = .failed
        }
    }

    /// The outcome of a SQL task's attempt that `pgworker.run_sql_job` recorded itself, from
    /// the state it returned (nil: the job was no longer held by this worker, cancelled or
    /// rescued meanwhile).
    init(recordedState state: String?) {
        switch state {
        case "succeeded": self = .succeeded
        case "retryable": self = .failed
        case "dead": self = .dead
        default: self = .cancelled
        }
    }
}
