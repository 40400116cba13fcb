/// Where and when an entry was written: its unique dot and its hybrid-logical-clock stamp.
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The unique event that created the entry.
    public var dot: Dot
    /// The writer's HLC time for that event.
    public var stamp: Timestamp

    /// Creates a tag.
    /// - Parameters:
    ///   - dot: the event's dot.
    ///   - stamp: the event's HLC stamp.
    @inlinable
    public init(dot: Dot, stamp: Timestamp) {
        self.dot = dot
        self.stamp = stamp
    }

    /// Tags order by dot (the storage order).
    @inlinable
    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.dot < rhs.dot }

    /// Last-writer-wins precedence: higher stamp wins, ties broken by the higher replica ID.
    /// - Parameter other: the competing tag.
    /// - Returns: whether `self` wins over `other`.
    @inlinable
    public func wins(over other: Tag) -> Bool {
        stamp != other.stamp ? stamp > other.stamp : dot.replica != other.dot.replica
            ? dot.replica > other.dot.replica : dot.counter > other.dot.counter
    }

    /// `replica:counter@ms.logical`.
    public var description: String { "\(dot)@\(stamp)" }
}

/// One value of a multi-value register.
public struct RegisterEntry: Hashable, Sendable {
    /// Origin of the write.
    public var tag: Tag
    /// The written value.
    public var value: Value

    /// Creates an entry.
    /// - Parameters:
    ///   - tag: origin of the write.
    ///   - value: the value.
    public init(tag: Tag, value: Value) {
        self.tag = tag
        self.value = value
    }
}

/// One replica's contribution to a PN-counter: totals of its increments and decrements.
public struct CounterEntry: Hashable, Sendable {
    /// Origin of the replica's latest change to the counter.
    public var tag: Tag
    /// Sum of the replica's increments (it never decreases).
    public var increments: UInt64
    /// Sum of the replica's decrements (it never decreases).
    public var decrements: UInt64

    /// Creates an entry.
    /// - Parameters:
    ///   - tag: origin of the latest change.
    ///   - increments: total increments.
    ///   - decrements: total decrements.
    public init(tag: Tag, increments: UInt64, decrements: UInt64) {
        self.tag = tag
        self.increments = increments
        self.decrements = decrements
    }
}
