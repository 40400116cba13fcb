/// Why a local edit was refused.
public struct EditError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kinds of refusal (a struct code, so new codes do not break callers' `switch`).
    public struct Code: Hashable, Sendable {
        let raw: UInt8
        /// The edit's kind differs from the field's kind (fixed by its first write).
        public static let kindMismatch = Code(raw: 1)
        /// A counter increment would take the counter's value past the Int64 range.
        public static let overflow = Code(raw: 2)
    }

    /// What went wrong.
    public var code: Code
    /// The field concerned.
    public var path: FieldPath
    /// The field's kind.
    public var existing: FieldKind
    /// The kind the edit needs.
    public var attempted: FieldKind

    /// One line that says what happened and what to do.
    public var description: String {
        if code == .overflow {
            return "counter \(path) would pass the range of a 64-bit integer (±9,223,372,036,854,775,807); the increment was not made"
        }
        return "field \(path) is a \(existing.rawValue), not a \(attempted.rawValue): "
            + "edit it as a \(existing.rawValue), or write it under another field name"
    }
}
