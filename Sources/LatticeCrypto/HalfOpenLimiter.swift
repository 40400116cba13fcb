/// Caps concurrent half-open handshakes, in total and per source address, so a flood of connections
/// that never finish cannot exhaust memory or CPU. Owned by the event loop (not thread-safe); pair
/// every successful ``acquire(source:)`` with one ``release(source:)`` when the handshake completes,
/// fails or times out.
public struct HalfOpenLimiter: Sendable {
    /// The most half-open handshakes overall.
    public let maxTotal: Int
    /// The most half-open handshakes from one source.
    public let maxPerSource: Int
    /// Half-open handshakes now.
    public private(set) var count = 0
    private var perSource: [String: Int] = [:]

    /// Creates a limiter.
    /// - Parameters:
    ///   - maxTotal: overall cap (default 64).
    ///   - maxPerSource: cap per source, e.g. per IP address (default 8).
    public init(maxTotal: Int = 64, maxPerSource: Int = 8) {
        self.maxTotal = maxTotal
        self.maxPerSource = maxPerSource
    }

    /// Reserves a slot for a new handshake.
    /// - Parameter source: the peer address without port.
    /// - Returns: `false` if a cap is reached (drop the connection).
    public mutating func acquire(source: String) -> Bool {
        let current = perSource[source, default: 0]
        guard count < maxTotal, current < maxPerSource else { return false }
        count += 1
        perSource[source] = current + 1
        return true
    }

    /// Frees a slot reserved by ``acquire(source:)``.
    /// - Parameter source: the same source string.
    public mutating func release(source: String) {
        guard let current = perSource[source], current > 0 else { return }
        count -= 1
        perSource[source] = current == 1 ? nil : current - 1
    }
}
