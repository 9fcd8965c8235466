import Foundation

/// A Swift value that can be sent to PostgreSQL as a bound query parameter, in text format.
///
/// Parameters are always sent separately from the SQL text, so a value can never change
/// the meaning of a statement.
public protocol PQEncodable: Sendable {
    /// The value in PostgreSQL's text input format.
    var postgresText: String { get }
}

extension String: PQEncodable {
    public var postgresText: String { self }
}

extension Substring: PQEncodable {
    public var postgresText: String { String(self) }
}

extension Int: PQEncodable {
    public var postgresText: String { String(self) }
}

extension Int64: PQEncodable {
    public var postgresText: String { String(self) }
}

extension Int32: PQEncodable {
    public var postgresText: String { String(self) }
}

extension Double: PQEncodable {
    public var postgresText: String { String(self) }
}

extension Bool: PQEncodable {
    public var postgresText: String { self ? "t" : "f" }
}

extension Date: PQEncodable {
    /// Seconds since the epoch; bind it as `to_timestamp($n)`, or use with a `timestamptz` parameter.
    public var postgresText: String {
        // PostgreSQL accepts ISO 8601 with a UTC offset for timestamptz.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: self)
    }
}

extension Array: PQEncodable where Element: PQEncodable {
    /// A one-dimensional array literal: `{"a","b\"c"}`; integers and booleans unquoted (`{1,2}`).
    public var postgresText: String {
        // The element types queues send in bulk get code specialized for them: the generic path
        // looks up type metadata at run time for every element. The casts are between identical
        // types, as the checks before them prove.
        if Element.self == Int64.self { return unquotedArrayLiteral(unsafeBitCast(self, to: [Int64].self)) }
        if Element.self == Int.self { return unquotedArrayLiteral(unsafeBitCast(self, to: [Int].self)) }
        if Element.self == Bool.self { return unquotedArrayLiteral(unsafeBitCast(self, to: [Bool].self)) }
        if Element.self == String.self { return quotedArrayLiteral(unsafeBitCast(self, to: [String].self)) }
        return quotedArrayLiteral(self)
    }
}

/// An array of optional values, sent as an array literal where `nil` elements are `NULL`.
public struct PQNullableArray<Element: PQEncodable>: PQEncodable {
    /// The elements; `nil` becomes `NULL`.
    public var elements: [Element?]

    /// Wraps the elements.
    public init(_ elements: [Element?]) { self.elements = elements }

    public var postgresText: String {
        // Specialized for strings, as in `Array.postgresText`.
        if Element.self == String.self { return nullableArrayLiteral(unsafeBitCast(elements, to: [String?].self)) }
        return nullableArrayLiteral(elements)
    }
}

/// `{1,2,3}`: for elements whose text never needs quoting (numbers, `t`/`f`).
private func unquotedArrayLiteral<Element: PQEncodable>(_ elements: [Element]) -> String {
    var text = "{"
    text.reserveCapacity(2 + elements.count * 8)
    var first = true
    for element in elements {
        if !first { text += "," }
        first = false
        text += element.postgresText
    }
    return text + "}"
}

/// `{"a","b"}`, every element quoted.
private func quotedArrayLiteral<Element: PQEncodable>(_ elements: [Element]) -> String {
    var text = "{"
    text.reserveCapacity(2 + elements.count * 8)
    var first = true
    for element in elements {
        if !first { text += "," }
        first = false
        appendQuoted(element.postgresText, to: &text)
    }
    return text + "}"
}

/// `{"a",NULL}`.
private func nullableArrayLiteral<Element: PQEncodable>(_ elements: [Element?]) -> String {
    var text = "{"
    text.reserveCapacity(2 + elements.count * 8)
    var first = true
    for element in elements {
        if !first { text += "," }
        first = false
        if let element {
            appendQuoted(element.postgresText, to: &text)
        } else {
            text += "NULL"
        }
    }
    return text + "}"
}

/// Appends one array element, double-quoted, with `"` and `\` escaped per Unicode scalar (so a
/// combining mark after a quote cannot swallow the escape).
private func appendQuoted(_ value: String, to text: inout String) {
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
