/// Where a job is in its life. The raw values are the `state` column's values.
public enum JobState: String, Sendable, Codable, CaseIterable {
    /// Waiting to run at `run_at`.
    case available
    /// Claimed by a worker and being executed.
    case running
    /// Finished; `result` holds what the handler returned.
    case succeeded
    /// Failed an attempt; runs again at `run_at`. `last_error` says why.
    case retryable
    /// Failed its last attempt (or failed in a way retrying cannot fix). `last_error` says why.
    case dead
    /// Cancelled before it finished.
    case cancelled
}

extension JobState {
    /// Succeeded, dead or cancelled: the job will not run again by itself.
    public var isFinal: Bool { self == .succeeded || self == .dead || self == .cancelled }
}
