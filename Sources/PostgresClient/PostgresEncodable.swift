import Foundation

/// A Swift value that can be sent to PostgreSQL as a bound query parameter, in text format.
///
/// Parameters are always sent separately from the SQL text, so a value can never change
/// the meaning of a statement.
public protocol PostgresEncodable: Sendable {
    /// The value in PostgreSQL's text input format.
    var postgresText: String { get }
}

extension String: PostgresEncodable {
    public var postgresText: String { self }
}

extension Substring: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Int: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Int64: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Int32: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Double: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Bool: PostgresEncodable {
    public var postgresText: String { self ? "t" : "f" }
}

extension Date: PostgresEncodable {
    /// Seconds since the epoch; bind it as `to_timestamp($n)`, or use with a `timestamptz` parameter.
    public var postgresText: String {
        // PostgreSQL accepts ISO 8601 with a UTC offset for timestamptz.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: self)
    }
}

extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// A one-dimensional array literal, every element quoted: `{"a","b\"c"}`.
    public var postgresText: String { arrayLiteral(self.map { Optional($0) }) }
}

/// An array of optional values, sent as an array literal where `nil` elements are `NULL`.
public struct PostgresNullableArray<Element: PostgresEncodable>: PostgresEncodable {
    /// The elements; `nil` becomes `NULL`.
    public var elements: [Element?]

    /// Wraps the elements.
    public init(_ elements: [Element?]) { self.elements = elements }

    public var postgresText: String { arrayLiteral(elements) }
}

/// Builds a one-dimensional array literal with every element double-quoted and escaped.
///
/// Escaping works on Unicode scalars, not Characters: a quote followed by a combining mark is
/// one Character but still a quote to PostgreSQL. Values without a quote or backslash (ids,
/// flags, most text) are appended whole, which keeps batch parameters cheap to build.
private func arrayLiteral<Element: PostgresEncodable>(_ elements: [Element?]) -> String {
    var text = "{"
    for (index, element) in elements.enumerated() {
        if index > 0 { text += "," }
        guard let element else {
            text += "NULL"
            continue
        }
        let value = element.postgresText
        text += "\""
        if value.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            for scalar in value.unicodeScalars {
                if scalar == "\"" || scalar == "\\" { text.unicodeScalars.append("\\") }
                text.unicodeScalars.append(scalar)
            }
        } else {
            text += value
        }
        text += "\""
    }
    return text + "}"
}
