import Foundation

/// The line protocol between a worker and a persistent command (see ``PersistentCommandTask``):
/// how a job is written to the program, and how the program's lines are read.
enum PersistentProtocol {
    /// A job as one line of JSON: `{"id":…,"task":…,"queue":…,"attempt":…,"max_attempts":…,"payload":…}`.
    /// The payload is jsonb's own output, which has no raw newline.
    static func jobLine(_ job: JobContext) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(job.payload.utf8.count + job.task.utf8.count + job.queue.utf8.count + 96)
        line += Array("{\"id\":\(job.id),\"task\":".utf8)
        appendJSONString(job.task, to: &line)
        line += Array(",\"queue\":".utf8)
        appendJSONString(job.queue, to: &line)
        line += Array(",\"attempt\":\(job.attempt),\"max_attempts\":\(job.maxAttempts),\"payload\":".utf8)
        if job.payload.isEmpty {
            line += Array("null".utf8)
        } else {
            // jsonb's output has no raw newline; a payload from elsewhere might, and a newline
            // between JSON tokens is only whitespace.
            line += job.payload.utf8.map { $0 == UInt8(ascii: "\n") ? UInt8(ascii: " ") : $0 }
        }
        line += Array("}\n".utf8)
        return line
    }

    /// Appends `text` as a JSON string literal (RFC 8259 escapes). Done by hand: Foundation's
    /// serializer cost more than the rest of a job's line.
    static func appendJSONString(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                line.append(UInt8(ascii: "\\"))
                line.append(byte)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                line += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                         hex[Int(byte >> 4)], hex[Int(byte & 0xf)]]
            default:
                line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }

    /// What one line on the program's stdout says.
    enum Message: Equatable {
        /// `{"id": N, "progress": F, "message": "…"}`: job N is F of the way (0 to 1).
        case progress(id: Int64, fraction: Double, message: String?)
        /// `{"id": N, "result": …}` (or no `result`): job N succeeded, with the result as JSON text.
        case succeeded(id: Int64, result: String?)
        /// `{"id": N, "error": "…", "discard": true|false}`: job N failed.
        case failed(id: Int64, error: String, discard: Bool)
        /// A JSON object meant as an answer that cannot be one: `reason` says what is wrong
        /// (`"id" is not an integer`). It breaks the protocol.
        case malformed(reason: String)
        /// Anything else: not part of the protocol (a stray print, say).
        case other

        /// The job the message is about, if any.
        var jobID: Int64? {
            switch self {
            case .progress(let id, _, _), .succeeded(let id, _), .failed(let id, _, _): id
            case .malformed, .other: nil
            }
        }
    }

    /// Reads one stdout line (without its newline).
    static func parse(_ line: [UInt8]) -> Message {
        guard line.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
        else { return .other }
        guard let idValue = object["id"] else { return .other }
        guard let idNumber = idValue as? NSNumber, !isBoolean(idNumber),
              idNumber.doubleValue == Double(idNumber.int64Value)
        else { return .malformed(reason: "\"id\" is not an integer") }
        let id = idNumber.int64Value
        var discard = false
        if let flag = object["discard"], !(flag is NSNull) {
            guard let number = flag as? NSNumber, isBoolean(number) else {
                return .malformed(reason: "\"discard\" is not true or false")
            }
            discard = number.boolValue
        }
        if let error = object["error"], !(error is NSNull) {
            var text = (error as? String) ?? jsonText(error) ?? "error"
            if text.allSatisfy(\.isWhitespace) { text = "the program reported an empty error" }
            return .failed(id: id, error: text, discard: discard)
        }
        if discard {
            // Asking to discard is failing: never a success, whatever else the line says.
            return .failed(id: id, error: "discarded by the program (it gave no error)", discard: true)
        }
        if let progress = object["progress"] {
            guard let fraction = (progress as? NSNumber).flatMap({ isBoolean($0) ? nil : $0.doubleValue }), fraction.isFinite else {
                return .malformed(reason: "\"progress\" is not a number")
            }
            return .progress(id: id, fraction: fraction, message: object["message"] as? String)
        }
        guard let result = object["result"], !(result is NSNull) else { return .succeeded(id: id, result: nil) }
        guard let text = jsonText(result) else {
            return .failed(id: id, error: "the program's result contains \\u0000, which PostgreSQL's jsonb cannot store",
                           discard: false)
        }
        return .succeeded(id: id, result: text)
    }

    /// Whether a line that did not parse as a message was meant as one: it starts with `{` and
    /// names an `"id"`. (Such a line breaks the protocol; any other is a stray print.)
    static func looksLikeAnswer(_ line: [UInt8]) -> Bool {
        guard line.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) == UInt8(ascii: "{") else { return false }
        let key = Array("\"id\"".utf8)
        guard line.count >= key.count else { return false }
        return (0...(line.count - key.count)).contains { line[$0..<($0 + key.count)].elementsEqual(key) }
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
