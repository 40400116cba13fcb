/// The set of dots a replica (or a delta) has seen: a version vector plus a "dot cloud" of seen
/// dots beyond the contiguous prefix. Dots are absorbed into the vector as gaps fill, so the
/// representation is canonical: equal sets of dots give equal contexts.
public struct CausalContext: Hashable, Sendable {
    /// The contiguous prefix seen from each replica.
    public private(set) var vector: VersionVector
    /// Seen dots above the vector (never `vector[r] + 1`: that one would be absorbed).
    public private(set) var cloud: DotCloud

    /// The empty context.
    public init() {
        vector = VersionVector()
        cloud = DotCloud()
    }

    /// Creates a context from parts, compacting it.
    /// - Parameters:
    ///   - vector: the contiguous prefix.
    ///   - cloud: further seen dots.
    public init(vector: VersionVector, cloud: some Sequence<Dot> = [Dot]()) {
        self.vector = vector
        self.cloud = DotCloud()
        for dot in cloud { insert(dot) }
    }

    /// A context from parts already canonical: every cloud dot lies at least two above its
    /// replica's vector entry, so none would be absorbed (the decoder checks that as it reads).
    init(canonicalVector vector: VersionVector, cloud: DotCloud) {
        self.vector = vector
        self.cloud = cloud
    }

    /// Whether `dot` has been seen.
    @inlinable
    public func contains(_ dot: Dot) -> Bool {
        vector.contains(dot) || (!cloud.isEmpty && cloud.contains(dot))
    }

    /// Whether nothing has been seen.
    public var isEmpty: Bool { vector.isEmpty && cloud.isEmpty }

    /// The highest counter seen from `replica`, including the cloud.
    /// - Parameter replica: the replica.
    public func maxCounter(of replica: ReplicaID) -> UInt64 {
        var m = vector[replica]
        for dot in cloud where dot.replica == replica && dot.counter > m { m = dot.counter }
        return m
    }

    /// Marks `dot` as seen.
    /// - Parameter dot: the dot (counter ≥ 1).
    public mutating func insert(_ dot: Dot) {
        // The common case — the next dot of its author, or one already seen — in one lookup.
        if cloud.isEmpty, vector.advance(dot) { return }
        let have = vector[dot.replica]
        if dot.counter <= have { return }
        if dot.counter == have + 1 {
            var next = dot.counter
            while !cloud.isEmpty, cloud.remove(Dot(dot.replica, next + 1)) != nil { next += 1 }
            vector[dot.replica] = next
        } else {
            cloud.insert(dot)
        }
    }

    /// Adds every dot of `other`.
    /// - Parameter other: the context to absorb.
    public mutating func formUnion(_ other: CausalContext) {
        if vector.formUnion(other.vector) && !cloud.isEmpty {
            let stale = cloud
            cloud = DotCloud()
            stale.forEach { insert($0) }
        }
        other.cloud.forEach { insert($0) }
    }

    /// The dots in `self` that `other` lacks, as a context (a cloud of exact dots).
    /// - Parameter other: a version vector.
    /// - Returns: every dot of `self` not covered by `other`.
    public func subtracting(_ other: VersionVector) -> CausalContext {
        var result = CausalContext()
        for (replica, counter) in vector.entries where counter > other[replica] {
            for c in (other[replica] + 1)...counter { result.insert(Dot(replica, c)) }
        }
        for dot in cloud where !other.contains(dot) { result.insert(dot) }
        return result
    }

    /// Every replica mentioned, ascending.
    public var replicas: [ReplicaID] {
        // Hot path (every change is encoded by it): most contexts hold one or two authors and
        // an inline cloud; no set is built for those.
        var out = vector.replicas
        if cloud.isEmpty { return out }
        if cloud.count > DotCloud.inlineCapacity {
            var set = Set(out)
            for dot in cloud { set.insert(dot.replica) }
            return set.sorted()
        }
        cloud.forEach { dot in if !out.contains(dot.replica) { out.append(dot.replica) } }
        out.sort()
        return out
    }

    /// Calls `body` once per replica mentioned, with the highest counter seen from it, in no
    /// particular order, without allocating for the usual small context.
    /// - Parameter body: receives each replica and its highest counter.
    public func forEachAuthor(_ body: (ReplicaID, UInt64) -> Void) {
        if cloud.isEmpty {
            for (r, c) in vector.counters { body(r, c) }
            return
        }
        if cloud.count > DotCloud.inlineCapacity {
            var top = vector.counters
            for dot in cloud where dot.counter > top[dot.replica, default: 0] { top[dot.replica] = dot.counter }
            for (r, c) in top { body(r, c) }
            return
        }
        // Cloud dots lie above their vector entries and iterate ascending (inline): the last
        // dot of each replica's run is its highest.
        for (r, c) in vector.counters where !cloud.contains(where: { $0.replica == r }) { body(r, c) }
        var run: Dot?
        cloud.forEach { dot in
            if let last = run, last.replica != dot.replica { body(last.replica, last.counter) }
            run = dot
        }
        if let last = run { body(last.replica, last.counter) }
    }
}

extension CausalContext {
    /// The dots of the authors `keep` accepts.
    /// - Parameter keep: which authors to keep.
    /// - Returns: the restricted context.
    public func filter(authors keep: (ReplicaID) -> Bool) -> CausalContext {
        var v: [ReplicaID: UInt64] = [:]
        for (r, c) in vector.entries where keep(r) { v[r] = c }
        return CausalContext(vector: VersionVector(v), cloud: cloud.filter { keep($0.replica) })
    }

    /// Whether every dot of `other` is in this context.
    public func covers(_ other: CausalContext) -> Bool {
        for (r, c) in other.vector.counters where vector[r] < c {
            // The vector part may still be covered by this context's cloud.
            var k = vector[r] + 1
            while k <= c {
                if !cloud.contains(Dot(r, k)) { return false }
                k += 1
            }
        }
        return other.cloud.allSatisfy { contains($0) }
    }
}

extension CausalContext {
    /// Whether some dot is in both contexts. A change whose context shares a dot with an
    /// earlier change's may depend on it (it observed a dot that change minted); the sync
    /// engine uses this to send such earlier changes first.
    /// O(entries of `self`) lookups in `other` (a change's context holds a handful).
    public func intersects(_ other: CausalContext) -> Bool {
        for (r, c) in vector.counters where c >= 1 {
            // self holds r:1…c; other holds r:1…other.vector[r] and its cloud dots.
            if other.vector[r] >= 1 { return true }
            if other.cloud.contains(where: { $0.replica == r && $0.counter <= c }) { return true }
        }
        return cloud.contains(where: { other.contains($0) })
    }
}
