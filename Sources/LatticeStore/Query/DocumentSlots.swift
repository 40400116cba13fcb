import LatticeCRDT

/// Small integers for the documents of one collection that its field indexes hold, shared by
/// those indexes: a document's value in each field index is an array element at its slot, so
/// a change finds the document once (one hash probe) however many of its fields are indexed,
/// and a query checks another field's condition by array access, not by a lookup per field.
///
/// A slot is given when an index first holds the document and given back once no index holds
/// it (``FieldIndex`` reports that), to be reused.
final class DocumentSlots {
    /// The slot of each document some index holds.
    private(set) var slotOf: [Key: UInt32] = [:]
    /// By slot: the document (meaningless for a free slot).
    private(set) var idOf: [Key] = []
    /// By slot: how many field indexes hold it, counting holds an index has let go of but not
    /// given back yet (a document deleted and written again before the index's next rebuild
    /// holds once more: up to √(N × 1,024) per index, so 16 bits would not do).
    private var holders: [UInt32] = []
    /// Slots given back, reused first.
    private var free: [UInt32] = []

    /// The number of slots ever made (the side tables' size).
    var capacity: Int { idOf.count }

    /// The slot of `id`, if an index holds it.
    func slot(_ id: Key) -> UInt32? { slotOf[id] }

    /// The document of a slot.
    @inline(__always)
    func id(_ slot: UInt32) -> Key { idOf[Int(slot)] }

    /// The slot of `id`, made if needed, with one more holder.
    func hold(_ id: Key) -> UInt32 {
        if let s = slotOf[id] {
            holders[Int(s)] += 1
            return s
        }
        let s: UInt32
        if let reused = free.popLast() {
            s = reused
            idOf[Int(s)] = id
            holders[Int(s)] = 1
        } else {
            s = UInt32(idOf.count)
            idOf.append(id)
            holders.append(1)
        }
        slotOf[id] = s
        return s
    }

    /// One holder fewer; the slot is given back when none is left.
    /// - Returns: whether the slot was given back (the document has none now).
    @discardableResult
    func release(_ slot: UInt32) -> Bool {
        holders[Int(slot)] -= 1
        guard holders[Int(slot)] == 0 else { return false }
        slotOf[idOf[Int(slot)]] = nil
        free.append(slot)
        return true
    }
}
