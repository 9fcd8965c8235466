import Foundation
import PGWorker

/// One element of the JSON array `pgworker.add_jobs` takes: a ``NewJob`` with add_job's argument
/// names as keys. The payload is encoded in place, so the array is one bound `jsonb` value.
struct BatchSpec: Encodable {
    let job: NewJob
    /// The enqueue span's trace context (its injected values), stored with the job.
    var traceContext: [String: String]?

    private enum CodingKeys: String, CodingKey {
        case task, payload, queue, priority
        case runAt = "run_at", maxAttempts = "max_attempts", jobKey = "job_key", lockKey = "lock_key"
        case traceContext = "trace_context"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(job.task, forKey: .task)
        try container.encode(job.payload, forKey: .payload)
        try container.encode(job.options.queue, forKey: .queue)
        try container.encodeIfPresent(job.options.runAt.map(Self.timestamp), forKey: .runAt)
        try container.encode(job.options.priority, forKey: .priority)
        try container.encode(job.options.maxAttempts, forKey: .maxAttempts)
        try container.encodeIfPresent(job.options.jobKey, forKey: .jobKey)
        try container.encodeIfPresent(job.options.lockKey, forKey: .lockKey)
        try container.encodeIfPresent(traceContext, forKey: .traceContext)
    }

    /// The batch as the JSON text of one `jsonb` argument.
    static func json(_ jobs: [NewJob], traceContext: String? = nil) throws -> String {
        for (index, job) in jobs.enumerated() where job.options.jobKey != nil && job.options.jobKeyMode != .skip {
            throw UnsupportedBatchJobKeyMode(index: index, mode: job.options.jobKeyMode)
        }
        let context = traceContext.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        return String(decoding: try JSONEncoder().encode(jobs.map { BatchSpec(job: $0, traceContext: context) }), as: UTF8.self)
    }

    /// `date` as a `timestamptz` literal in UTC with microseconds, PostgreSQL's own precision
    /// (ISO 8601 formatters stop at milliseconds).
    static func timestamp(_ date: Date) -> String {
        let microseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = time_t((microseconds / 1_000_000).rounded(.down))
        let fraction = Int(microseconds - Double(seconds) * 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let text = String(format: "%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
                          Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                          Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), fraction)
        return text
    }
}
