/// A sliding anti-replay window over 64-bit datagram counters (WireGuard's design, RFC 6479):
/// a ring of 128 64-bit words = 8,192 bits, of which 8,128 counters behind the newest are tracked.
///
/// ``check(_:)`` before decrypting, ``mark(_:)`` only after the datagram authenticated, so forged
/// datagrams cannot move the window.
public struct ReplayWindow: Sendable {
    private static let wordCount = 128
    private static let bitsPerWord = 64
    /// How many counters behind the newest one are still accepted (8,128).
    public static let size: UInt64 = UInt64((wordCount - 1) * bitsPerWord)

    private var bitmap = [UInt64](repeating: 0, count: wordCount)
    /// The largest counter marked so far, or `nil` before the first.
    public private(set) var newest: UInt64?
    /// Counters at or above this are refused (they would let the counter wrap).
    public let limit: UInt64

    /// Creates an empty window.
    /// - Parameter limit: the first counter value that is never accepted.
    public init(limit: UInt64 = .max) { self.limit = limit }

    /// Whether `counter` is fresh: not yet marked, not older than the window, below ``limit``.
    /// - Parameter counter: the datagram's counter.
    /// - Returns: `true` if the datagram may be decrypted.
    public func check(_ counter: UInt64) -> Bool {
        guard counter < limit else { return false }
        guard let newest else { return true }
        if counter > newest { return true }
        if newest - counter >= Self.size { return false }
        let (word, bit) = Self.position(counter)
        return bitmap[word] & (1 << bit) == 0
    }

    /// Records `counter` as received; call only after the datagram authenticated and after
    /// ``check(_:)`` returned `true`.
    /// - Parameter counter: the datagram's counter.
    /// - Returns: `false` (and changes nothing) if the counter is not fresh.
    @discardableResult
    public mutating func mark(_ counter: UInt64) -> Bool {
        guard check(counter) else { return false }
        let (word, bit) = Self.position(counter)
        if let newest {
            if counter > newest {
                let currentWord = newest / UInt64(Self.bitsPerWord)
                let targetWord = counter / UInt64(Self.bitsPerWord)
                let steps = min(targetWord - currentWord, UInt64(Self.wordCount))
                var index = currentWord
                for _ in 0..<steps {
                    index &+= 1
                    bitmap[Int(index % UInt64(Self.wordCount))] = 0
                }
                self.newest = counter
            }
        } else {
            newest = counter
        }
        bitmap[word] |= 1 << bit
        return true
    }

    private static func position(_ counter: UInt64) -> (Int, UInt64) {
        (Int((counter / UInt64(bitsPerWord)) % UInt64(wordCount)), counter % UInt64(bitsPerWord))
    }
}
