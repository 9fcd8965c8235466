import ArgumentParser
import Foundation
import Logging

/// How log lines are written: `text` for people, `json` (one object per line) for log shippers.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// A swift-log handler that writes one JSON object per line to standard error:
/// `{"ts":"2026-01-01T09:00:00.123Z","level":"info","label":"pgworker","message":"...","job":"42",...}`.
///
/// Metadata (job, task, queue, attempt, worker, error, ...) becomes top-level keys; a metadata key
/// that collides with `ts`, `level`, `label`, `message` or `source` is written as `meta.KEY`.
struct JSONLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let label: String
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error, or to `write` (tests).
    init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.writeToStandardError) {
        self.label = label
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = "{\"ts\":\(Self.quote(Self.timestamp()))"
        line += ",\"level\":\(Self.quote(event.level.rawValue))"
        line += ",\"label\":\(Self.quote(label))"
        line += ",\"message\":\(Self.quote(event.message.description))"
        line += ",\"source\":\(Self.quote(event.source))"
        let reserved: Set<String> = ["ts", "level", "label", "message", "source"]
        for key in merged.keys.sorted() {
            let name = reserved.contains(key) ? "meta.\(key)" : key
            line += ",\(Self.quote(name)):\(Self.json(merged[key]!))"
        }
        line += "}\n"
        write(line)
    }

    /// One `write(2)` per line, so concurrent lines do not interleave.
    @Sendable static func writeToStandardError(_ line: String) {
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    private static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return quote(text)
        case .stringConvertible(let value): return quote(value.description)
        case .array(let values): return "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let entries):
            return "{" + entries.keys.sorted().map { "\(quote($0)):\(json(entries[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal; control characters (C0, DEL, C1) and U+2028 / U+2029 are escaped.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where LogEscaping.isControl(scalar):
                // Control characters, DEL, C1 and U+2028/2029: valid JSON raw, but terminals and
                // some line-oriented tools act on them.
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
