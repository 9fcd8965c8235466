import Logging

/// The `text` log format: swift-log's `StreamLogHandler` lines on standard error, with the message
/// and every metadata key and value escaped by ``LogEscaping/text(_:)``. Task names, queue names
/// and error texts come from whoever enqueues jobs; unescaped, a newline in one would start a
/// forged log line, and an escape sequence would drive the operator's terminal.
struct TextLogHandler: LogHandler {
    /// Writes the lines; it is given escaped text only, and no metadata provider (this handler
    /// applies the provider itself, so that its values are escaped too).
    private var stream: StreamLogHandler
    /// The handler's own metadata, as given (the stream holds the escaped copy).
    private var rawMetadata: Logger.Metadata = [:]

    var metadataProvider: Logger.MetadataProvider?

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { rawMetadata }
        set {
            rawMetadata = newValue
            stream.metadata = LogEscaping.text(newValue)
        }
    }

    /// A handler writing to standard error, with the process's metadata provider.
    init(label: String) {
        stream = StreamLogHandler.standardError(label: label, metadataProvider: nil)
        metadataProvider = LoggingSystem.metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { rawMetadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        var extra = metadataProvider?.get() ?? [:]
        if let explicit = event.metadata { extra.merge(explicit) { _, explicit in explicit } }
        // As StreamLogHandler would show them, but escaped.
        if let error = event.error {
            extra["error.message"] = "\(error)"
            extra["error.type"] = "\(String(reflecting: type(of: error)))"
            event.error = nil
        }
        event.metadata = extra.isEmpty ? nil : LogEscaping.text(extra)
        event.message = Logger.Message(stringLiteral: LogEscaping.text(event.message.description))
        stream.log(event: event)
    }
}

/// Escaping that keeps one log event on one line and out of the terminal's control.
enum LogEscaping {
    /// `text` with `\` as `\\`, newline, carriage return and tab as `\n`, `\r`, `\t`, and every other
    /// control character (C0, DEL, C1) and the Unicode line and paragraph separators as `\u{XX}`.
    /// Escaping the backslash keeps the result unambiguous: a literal `\n` in a name reads `\\n`.
    static func text(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\\" || isControl($0) }) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar): out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Metadata with every key and value (nested ones too) escaped.
    static func text(_ metadata: Logger.Metadata) -> Logger.Metadata {
        var escaped: Logger.Metadata = [:]
        for (key, value) in metadata { escaped[text(key)] = text(value) }
        return escaped
    }

    private static func text(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let string): .string(text(string))
        case .stringConvertible(let convertible): .string(text(convertible.description))
        case .array(let values): .array(values.map { text($0) })
        case .dictionary(let entries): .dictionary(text(entries))
        }
    }

    /// C0 and C1 control characters, DEL, and U+2028 / U+2029, which some viewers break lines at.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}
