/// How one attempt ended, waiting to be written to the job's row.
struct Completion: Sendable {
    let jobID: Int64
    let succeeded: Bool
    /// The result as JSON text, when succeeded.
    let result: String?
    /// Why it failed, when it did.
    let error: String?
    /// Go to `dead` now rather than retry.
    let discard: Bool

    static func success(_ jobID: Int64, result: String?) -> Completion {
        Completion(jobID: jobID, succeeded: true, result: result, error: nil, discard: false)
    }

    static func failure(_ jobID: Int64, error: String, discard: Bool = false) -> Completion {
        Completion(jobID: jobID, succeeded: false, result: nil, error: error, discard: discard)
    }

    /// The job was cancelled because the worker shut down before it finished; it will retry.
    static func cancelledByShutdown(_ jobID: Int64) -> Completion {
        .failure(jobID, error: "cancelled: the worker shut down before the job finished")
    }
}
