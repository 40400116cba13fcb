/// A growable byte buffer that keeps its allocation across uses, so the append path does not
/// allocate per record. Not thread-safe; owned by whoever holds the log's lock.
struct WriteBuffer: ~Copyable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes in use.
    private(set) var count: Int = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    var isEmpty: Bool { count == 0 }

    /// The bytes in use, valid until the next mutation.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Makes room for `extra` more bytes and returns where they go; call ``commit(_:)`` after.
    mutating func reserve(_ extra: Int) -> UnsafeMutableRawPointer {
        if count + extra > capacity {
            var newCapacity = capacity * 2
            while newCapacity < count + extra { newCapacity *= 2 }
            let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
            newBase.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = newBase
            capacity = newCapacity
        }
        return base + count
    }

    /// Marks `n` reserved bytes as used.
    mutating func commit(_ n: Int) { count += n }

    /// Appends raw bytes.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        let p = reserve(bytes.count)
        p.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        commit(bytes.count)
    }

    /// Empties the buffer, keeping the allocation (shrinking an unusually large one).
    mutating func removeAll(shrinkAbove limit: Int) {
        count = 0
        if capacity > limit {
            base.deallocate()
            capacity = limit
            base = UnsafeMutableRawPointer.allocate(byteCount: limit, alignment: 16)
        }
    }

    /// Swaps contents and allocations with `other` in O(1).
    mutating func swapContents(with other: inout WriteBuffer) {
        swap(&base, &other.base)
        swap(&capacity, &other.capacity)
        swap(&count, &other.count)
    }
}
