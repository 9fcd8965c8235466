import CLibPQ
import Foundation

/// An error reported by libpq or by the PostgreSQL server.
///
/// Server errors carry the fields PostgreSQL sends: SQLSTATE, message, detail and hint.
public struct PQError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, broadly.
    public enum Kind: Sendable, Equatable {
        /// The connection could not be opened, or was lost.
        case connection
        /// The server rejected a statement.
        case server
        /// A value could not be converted to the requested Swift type.
        case decoding
        /// The client was used wrongly (for example, a missing column name).
        case usage
    }

    /// What went wrong, broadly.
    public var kind: Kind
    /// The five-character SQLSTATE code, when the server sent one (for example `23505`).
    public var sqlState: String?
    /// The primary, human-readable message.
    public var message: String
    /// The optional secondary message with more detail.
    public var detail: String?
    /// The optional suggestion of what to do.
    public var hint: String?

    /// Creates an error.
    public init(kind: Kind, message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
    }

    /// True when the error means the connection is unusable and must be reopened.
    public var isConnectionLoss: Bool {
        if kind == .connection { return true }
        // Class 08: connection exception; 57P01..57P03: admin shutdown, crash shutdown, cannot connect now.
        guard let state = sqlState else { return false }
        return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
    }

    public var description: String {
        var text = message
        if let sqlState { text = "\(text) (SQLSTATE \(sqlState))" }
        if let detail, !detail.isEmpty { text += "; detail: \(detail)" }
        if let hint, !hint.isEmpty { text += "; hint: \(hint)" }
        return text
    }

    /// Reads the error fields from a failed result.
    init(result: OpaquePointer, connection: OpaquePointer?) {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let primary = field("M")
        let state = field("C")
        let fallback = connection.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? "unknown error"
        self.init(
            kind: state == nil ? .connection : .server,
            message: (primary ?? fallback).trimmingTrailingNewlines(),
            sqlState: state,
            detail: field("D"),
            hint: field("H")
        )
    }

    /// An error built from the connection's last error message.
    static func connection(_ connection: OpaquePointer?, context: String? = nil) -> PQError {
        let text = connection.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? "no connection"
        // libpq's connection messages span lines ("...failed: ...\n\tIs the server running...");
        // callers show errors on one line.
        let message = text.trimmingTrailingNewlines()
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: " ")
        return PQError(kind: .connection, message: context.map { "\($0): \(message)" } ?? message)
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while let last = text.last, last.isNewline || last == " " { text.removeLast() }
        return text
    }
}
