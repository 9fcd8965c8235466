import Foundation

/// The Swift (and command) handlers a worker runs, by task name.
///
/// ```swift
/// var tasks = TaskRegistry()
/// tasks.register("send_email", payload: Email.self) { email, job in
///     try await mailer.send(email)
///     return Receipt(id: ...)
/// }
/// ```
public struct TaskRegistry: Sendable {
    private struct Entry: Sendable {
        var handler: any TaskHandler
        var timeout: Duration?
    }

    private var entries: [String: Entry] = [:]

    /// An empty registry.
    public init() {}

    /// The task names registered, sorted.
    public var taskNames: [String] { entries.keys.sorted() }

    /// The handler for a task, if registered.
    public func handler(for task: String) -> (any TaskHandler)? { entries[task]?.handler }

    /// Every registered handler, once per task.
    public var handlers: [any TaskHandler] { entries.values.map(\.handler) }

    /// The task's own timeout, if it was registered with one.
    public func timeout(for task: String) -> Duration? { entries[task]?.timeout }

    /// Registers (or replaces) the handler of a task.
    ///
    /// - Parameter timeout: an attempt running longer is cancelled and recorded as a failure;
    ///   `nil` uses the worker's ``WorkerConfiguration/defaultTimeout``.
    public mutating func register(_ task: String, handler: any TaskHandler, timeout: Duration? = nil) {
        entries[task] = Entry(handler: handler, timeout: timeout)
    }

    /// Registers a handler that takes the payload decoded as `Payload` and returns an encodable result.
    ///
    /// A payload that does not decode fails the job with an error naming the field, and makes it
    /// `dead` at once, since retrying cannot change the payload; pass `retryOnDecodingFailure: true`
    /// to retry anyway (for example while a deploy of a newer payload type rolls out).
    ///
    /// A result that encodes as JSON `null` (an optional that is `nil`) is stored as no result:
    /// the job's `result` is SQL `NULL`, as for a handler that returns nothing.
    ///
    /// Pass `needsCommittedClaim: true` when the handler looks its own job up from another
    /// connection (see ``TaskHandler/needsCommittedClaim``).
    public mutating func register<Payload: Decodable & Sendable, Result: Encodable & Sendable>(
        _ task: String,
        payload: Payload.Type = Payload.self,
        retryOnDecodingFailure: Bool = false,
        timeout: Duration? = nil,
        needsCommittedClaim: Bool = false,
        _ body: @escaping @Sendable (Payload, JobContext) async throws -> Result
    ) {
        register(task, handler: CodableHandler(retryOnDecodingFailure: retryOnDecodingFailure,
                                               needsCommittedClaim: needsCommittedClaim) { payload, job in
            let result = String(decoding: try JSONEncoder().encode(try await body(payload, job)), as: UTF8.self)
            return result == "null" ? nil : result
        }, timeout: timeout)
    }

    /// Registers a handler that takes the payload decoded as `Payload` and returns no result.
    /// The options are those of the overload that returns a result.
    public mutating func register<Payload: Decodable & Sendable>(
        _ task: String,
        payload: Payload.Type = Payload.self,
        retryOnDecodingFailure: Bool = false,
        timeout: Duration? = nil,
        needsCommittedClaim: Bool = false,
        _ body: @escaping @Sendable (Payload, JobContext) async throws -> Void
    ) {
        register(task, handler: CodableHandler(retryOnDecodingFailure: retryOnDecodingFailure,
                                               needsCommittedClaim: needsCommittedClaim) { payload, job in
            try await body(payload, job)
            return nil
        }, timeout: timeout)
    }
}

/// Decodes the payload, then calls the user's closure.
private struct CodableHandler<Payload: Decodable & Sendable>: TaskHandler {
    let retryOnDecodingFailure: Bool
    let needsCommittedClaim: Bool
    let body: @Sendable (Payload, JobContext) async throws -> String?

    func handle(_ job: JobContext) async throws -> String? {
        let payload: Payload
        do {
            payload = try JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8))
        } catch let error as DecodingError {
            let message = "payload does not decode as \(Payload.self): \(describe(error))"
            throw retryOnDecodingFailure ? JobFailure.retry(message) : JobFailure.discard(message)
        }
        return try await body(payload, job)
    }
}

/// A one-line description of a decoding error that names the field.
func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { key in key.intValue.map { "[\($0)]" } ?? key.stringValue }
        return path.isEmpty ? "the payload" : "field '\(path.joined(separator: "."))'"
    }
    switch error {
    case .keyNotFound(let key, let context):
        let parent = context.codingPath.map(\.stringValue) + [key.stringValue]
        return "missing field '\(parent.joined(separator: "."))'"
    case .typeMismatch(let type, let context):
        return "\(path(context)) is not of type \(type): \(context.debugDescription)"
    case .valueNotFound(let type, let context):
        return "\(path(context)) is null, expected \(type)"
    case .dataCorrupted(let context):
        return "\(path(context)): \(context.debugDescription)"
    @unknown default:
        return String(describing: error)
    }
}
