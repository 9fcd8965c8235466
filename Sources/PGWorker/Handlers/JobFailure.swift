/// An error a handler throws to say how its job should fail.
///
/// Any other error thrown by a handler fails the attempt and the job retries with backoff until
/// its attempts run out.
public struct JobFailure: Error, Sendable, CustomStringConvertible {
    /// What went wrong; recorded in `last_error`.
    public var message: String
    /// When true, the job goes straight to `dead`: retrying cannot help (bad input, say).
    public var discard: Bool

    /// A failure that is retried while attempts remain.
    public static func retry(_ message: String) -> JobFailure { JobFailure(message: message, discard: false) }

    /// A failure that makes the job `dead` at once.
    public static func discard(_ message: String) -> JobFailure { JobFailure(message: message, discard: true) }

    public var description: String { message }
}

/// Thrown by a handler whose job was cancelled before it started (it waited for a persistent
/// program's copy when the worker shut down): the worker gives the job back without counting
/// the attempt, as it does jobs it claimed and never started.
struct JobNotStarted: Error {}
