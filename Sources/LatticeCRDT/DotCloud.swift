/// The dots of a causal context that its version vector cannot hold: a set of dots.
///
/// Most clouds are tiny — a change's context holds the dot it minted and the one or two it
/// superseded; a replica state's cloud is usually empty — so up to three dots live inline,
/// sorted, with no heap allocation and no hashing; larger clouds spill into a `Set`. The
/// representation is canonical (at most three dots: inline; more: spilled), so equality and
/// hashing follow the contents.
public struct DotCloud: Hashable, Sendable, Sequence, CustomStringConvertible {
    /// Dots held inline, at most.
    static let inlineCapacity = 3
    private static let none = Dot(ReplicaID(0), 0)

    /// Inline dots in use (0 when spilled).
    private var n: UInt8 = 0
    /// Inline dots, ascending; unused slots hold `none`.
    private var d0 = DotCloud.none, d1 = DotCloud.none, d2 = DotCloud.none
    /// Every dot, when there are more than `inlineCapacity`.
    private var spill: Set<Dot>?

    /// The empty cloud.
    public init() {}

    /// A cloud holding `dots`.
    /// - Parameter dots: any dots (duplicates collapse).
    public init(_ dots: some Sequence<Dot>) {
        for d in dots { insert(d) }
    }

    /// The number of dots.
    @inline(__always)
    public var count: Int { spill?.count ?? Int(n) }

    /// Whether the cloud holds no dot.
    @inline(__always)
    public var isEmpty: Bool { n == 0 && spill == nil }

    /// Whether `dot` is in the cloud.
    /// - Parameter dot: the dot.
    /// - Returns: membership.
    @inline(__always)
    public func contains(_ dot: Dot) -> Bool {
        if let spill { return spill.contains(dot) }
        switch n {
        case 0: return false
        case 1: return d0 == dot
        case 2: return d0 == dot || d1 == dot
        default: return d0 == dot || d1 == dot || d2 == dot
        }
    }

    /// Adds a dot.
    /// - Parameter dot: the dot.
    /// - Returns: whether it was new.
    @discardableResult
    public mutating func insert(_ dot: Dot) -> Bool {
        if var s = spill {
            spill = nil  // `s` holds the only reference: the insert does not copy the set
            defer { spill = s }
            return s.insert(dot).inserted
        }
        if contains(dot) { return false }
        if Int(n) == Self.inlineCapacity {
            var s = Set<Dot>(minimumCapacity: Self.inlineCapacity * 2 + 2)
            s.insert(d0)
            s.insert(d1)
            s.insert(d2)
            s.insert(dot)
            spill = s
            n = 0
            d0 = Self.none
            d1 = Self.none
            d2 = Self.none
            return true
        }
        switch n {
        case 0:
            d0 = dot
        case 1:
            if dot < d0 { (d0, d1) = (dot, d0) } else { d1 = dot }
        default:
            if dot < d0 {
                (d0, d1, d2) = (dot, d0, d1)
            } else if dot < d1 {
                (d1, d2) = (dot, d1)
            } else {
                d2 = dot
            }
        }
        n += 1
        return true
    }

    /// Removes a dot.
    /// - Parameter dot: the dot.
    /// - Returns: the dot when it was there.
    @discardableResult
    public mutating func remove(_ dot: Dot) -> Dot? {
        if var s = spill {
            spill = nil  // `s` holds the only reference: the removal does not copy the set
            guard s.remove(dot) != nil else {
                spill = s
                return nil
            }
            if s.count > Self.inlineCapacity {
                spill = s
            } else {
                for d in s.sorted() { insert(d) }  // back inline (n is 0 while spilled)
            }
            return dot
        }
        guard contains(dot) else { return nil }
        // Shift the later dots down over it; clear the freed slot.
        if d0 == dot { (d0, d1) = (d1, d2) } else if d1 == dot { d1 = d2 }
        n -= 1
        if n < 2 { d1 = Self.none }
        d2 = Self.none
        return dot
    }

    /// The dots for which `keep` holds.
    /// - Parameter keep: the predicate.
    /// - Returns: a cloud of them.
    public func filter(_ keep: (Dot) -> Bool) -> DotCloud {
        var out = DotCloud()
        for d in self where keep(d) { out.insert(d) }
        return out
    }

    /// The dots in ascending order.
    public func sortedDots() -> [Dot] {
        if let spill { return spill.sorted() }
        return Array([d0, d1, d2].prefix(Int(n)))
    }

    public var description: String { "\(sortedDots())" }

    /// Iterates inline dots in ascending order, spilled ones in no particular order.
    public struct Iterator: IteratorProtocol {
        fileprivate var cloud: DotCloud
        fileprivate var i = 0
        fileprivate var spilled: Set<Dot>.Iterator?

        public mutating func next() -> Dot? {
            if spilled != nil { return spilled!.next() }
            guard i < Int(cloud.n) else { return nil }
            defer { i += 1 }
            switch i {
            case 0: return cloud.d0
            case 1: return cloud.d1
            default: return cloud.d2
            }
        }
    }

    public func makeIterator() -> Iterator {
        Iterator(cloud: self, spilled: spill?.makeIterator())
    }

    public var underestimatedCount: Int { count }
}

extension DotCloud {
    /// Calls `body` with every dot (inline ones ascending) without copying the cloud into an
    /// iterator.
    /// - Parameter body: receives each dot.
    @inline(__always)
    public func forEach(_ body: (Dot) throws -> Void) rethrows {
        if let spill {
            for d in spill { try body(d) }
            return
        }
        if n > 0 { try body(d0) }
        if n > 1 { try body(d1) }
        if n > 2 { try body(d2) }
    }

    /// Whether every dot satisfies `predicate` (no iterator copy).
    /// - Parameter predicate: the test.
    /// - Returns: true for an empty cloud.
    @inline(__always)
    public func allSatisfy(_ predicate: (Dot) throws -> Bool) rethrows -> Bool {
        if let spill { return try spill.allSatisfy(predicate) }
        if n > 0, try !predicate(d0) { return false }
        if n > 1, try !predicate(d1) { return false }
        if n > 2, try !predicate(d2) { return false }
        return true
    }

    /// Whether some dot satisfies `predicate` (no iterator copy).
    /// - Parameter predicate: the test.
    /// - Returns: false for an empty cloud.
    @inline(__always)
    public func contains(where predicate: (Dot) throws -> Bool) rethrows -> Bool {
        try !allSatisfy { try !predicate($0) }
    }
}
