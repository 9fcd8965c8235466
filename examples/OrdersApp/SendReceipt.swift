import PGWorker

/// The job an order enqueues: e-mail its receipt. The type carries its task name and options, so
/// the handler and the enqueue share them (typed jobs, `JobParameters`).
struct SendReceipt: JobParameters {
    static let jobName = "send_receipt"
    static let defaultOptions = JobOptions(queue: "mail", maxAttempts: 5)

    let orderID: Int64
    let email: String
}
