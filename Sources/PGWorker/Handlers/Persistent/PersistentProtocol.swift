import Foundation

/// The line protocol between a worker and a persistent command (see ``PersistentCommandTask``):
/// how a job is written to the program, and how the program's lines are read.
enum PersistentProtocol {
    /// A job as one line of JSON: `{"id":…,"task":…,"queue":…,"attempt":…,"max_attempts":…,"payload":…}`.
    /// The payload is jsonb's own output, which has no raw newline.
    static func jobLine(_ job: JobContext) -> [UInt8] {
        var line = "{\"id\":\(job.id),\"task\":\(jsonString(job.task)),\"queue\":\(jsonString(job.queue)),"
        line += "\"attempt\":\(job.attempt),\"max_attempts\":\(job.maxAttempts),\"payload\":"
        line += job.payload.isEmpty ? "null" : job.payload.replacingOccurrences(of: "\n", with: " ")
        line += "}\n"
        return Array(line.utf8)
    }

    /// What one line on the program's stdout says.
    enum Message: Equatable {
        /// `{"id": N, "progress": F, "message": "…"}`: job N is F of the way (0 to 1).
        case progress(id: Int64, fraction: Double, message: String?)
        /// `{"id": N, "result": …}` (or no `result`): job N succeeded, with the result as JSON text.
        case succeeded(id: Int64, result: String?)
        /// `{"id": N, "error": "…", "discard": true|false}`: job N failed.
        case failed(id: Int64, error: String, discard: Bool)
        /// Anything else: not part of the protocol (a stray print, say).
        case other
    }

    /// Reads one stdout line (without its newline).
    static func parse(_ line: [UInt8]) -> Message {
        guard line.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let idNumber = object["id"] as? NSNumber, !isBoolean(idNumber),
              idNumber.doubleValue == Double(idNumber.int64Value)
        else { return .other }
        let id = idNumber.int64Value
        if let error = object["error"], !(error is NSNull) {
            let text = (error as? String) ?? jsonText(error) ?? "error"
            return .failed(id: id, error: text, discard: (object["discard"] as? Bool) ?? false)
        }
        if let progress = object["progress"] {
            guard let fraction = (progress as? NSNumber)?.doubleValue, fraction.isFinite else { return .other }
            return .progress(id: id, fraction: fraction, message: object["message"] as? String)
        }
        guard let result = object["result"], !(result is NSNull) else { return .succeeded(id: id, result: nil) }
        return .succeeded(id: id, result: jsonText(result))
    }

    /// JSON `true` and `false` come back as NSNumber subclasses that `is Bool` cannot tell from
    /// 1 and 0; their class can.
    private static func isBoolean(_ number: NSNumber) -> Bool {
        ObjectIdentifier(type(of: number)) != ObjectIdentifier(NSNumber.self)
    }

    private static func jsonText(_ value: Any) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes]),
              let text = String(data: data, encoding: .utf8), !text.contains("\\u0000")
        else { return nil }
        return text
    }
}
