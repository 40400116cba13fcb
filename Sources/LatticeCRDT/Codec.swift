/// The binary codec for states, deltas and state deltas (format in `Docs/FORMATS.md`).
///
/// Versioned, deterministic (equal values encode to equal bytes) and compact: LEB128 varints,
/// one replica table per message (entries name replicas by index), dot counters and HLC stamps
/// delta-coded per replica, field names interned per message. The decoder accepts exactly the
/// canonical encoding, caps every count and length by the bytes left before allocating, and
/// throws `DecodeError` on anything else.
public enum Codec {
    /// The first byte of every message.
    public static let magic: UInt8 = 0x4C
    /// The format version written and read by this build.
    public static let version: UInt8 = 1

    enum Kind: UInt8 {
        case state = 1
        case delta = 2
        case stateDelta = 3
    }

    static let valueNull: UInt8 = 0
    static let valueFalse: UInt8 = 1
    static let valueTrue: UInt8 = 2
    static let valueInt: UInt8 = 3
    static let valueDouble: UInt8 = 4
    static let valueString: UInt8 = 5
    static let valueBytes: UInt8 = 6
    /// `0x80 | length`: a string of fewer than 128 bytes (strings that short must use it).
    static let valueShortString: UInt8 = 0x80
}

extension ReplicaState {
    /// The canonical encoding.
    public func encoded() -> [UInt8] {
        MessageEncoder.encode(kind: .state, context: context, store: store, references: nil)
    }

    /// Decodes a state.
    /// - Parameter bytes: an encoding produced by `encoded()`.
    /// - Throws: `DecodeError` for anything but a canonical state encoding.
    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        let m = try MessageDecoder.decode(bytes, kind: .state)
        self.init(context: m.context, store: m.store)
    }

    /// Decodes with every text run read the careful way (tests compare it with the lean pass of
    /// `TextSequence+Load.swift`: the two must accept, refuse and build the same).
    init(decodingCarefully bytes: [UInt8]) throws(DecodeError) {
        let m = try MessageDecoder.decode(bytes, kind: .state, leanText: false)
        self.init(context: m.context, store: m.store)
    }
}

extension Delta {
    /// The canonical encoding.
    public func encoded() -> [UInt8] {
        if let (path, field) = singleField { return MessageEncoder.encode(context: context, path: path, field: field) }
        return MessageEncoder.encode(kind: .delta, context: context, store: store, references: nil)
    }

    /// Decodes a delta.
    /// - Parameter bytes: an encoding produced by `encoded()`.
    /// - Throws: `DecodeError` for anything but a canonical delta encoding.
    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        let m = try MessageDecoder.decode(bytes, kind: .delta)
        if let single = m.single {
            self.init(context: m.context, path: single.path, field: single.field)
        } else {
            self.init(context: m.context, store: m.store)
        }
    }
}

extension StateDelta {
    /// The canonical encoding.
    public func encoded() -> [UInt8] {
        MessageEncoder.encode(kind: .stateDelta, context: context, store: store, references: references)
    }

    /// Decodes a state delta.
    /// - Parameter bytes: an encoding produced by `encoded()`.
    /// - Throws: `DecodeError` for anything but a canonical state-delta encoding.
    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        let m = try MessageDecoder.decode(bytes, kind: .stateDelta)
        self.init(context: m.context, store: m.store, references: m.references ?? DotSet())
    }
}

/// Per-replica running values for delta-coding tags.
/// Position of each replica in a message's sorted replica table: a binary search over the
/// table itself (a message names a handful of replicas; a dictionary per message costs more).
struct ReplicaIndex {
    let replicas: [ReplicaID]

    @inline(__always)
    subscript(_ replica: ReplicaID) -> Int? {
        var lo = 0
        var hi = replicas.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if replicas[mid] < replica { lo = mid + 1 } else { hi = mid }
        }
        return lo < replicas.count && replicas[lo] == replica ? lo : nil
    }
}

/// Field names already written in a message, by reference number: a linear scan while there are
/// few (the usual message names a handful), a dictionary beyond that (snapshots).
struct NameTable {
    /// The first name (most messages name one field): no array for it.
    private var first: Key?
    private var list: [Key] = []
    private var map: [Key: Int]?

    func reference(_ name: Key) -> Int? {
        if let map { return map[name] }
        guard let first else { return nil }
        if first == name { return 0 }
        return list.firstIndex(of: name).map { $0 + 1 }
    }

    mutating func add(_ name: Key) {
        if var m = map {
            map = nil
            m[name] = m.count
            map = m
            return
        }
        guard let head = first else {
            first = name
            return
        }
        list.append(name)
        if list.count > 16 { map = Dictionary(uniqueKeysWithValues: ([head] + list).enumerated().map { ($1, $0) }) }
    }
}

/// The previous counter and stamp per replica index, for delta-coding tags: the first two
/// replicas inline (a change names one or two), the rest in an array.
struct TagCoder {
    private var c0: UInt64 = 0, s0: UInt64 = 0, c1: UInt64 = 0, s1: UInt64 = 0
    private var more: [UInt64]

    init(replicas: Int) {
        more = replicas > 2 ? Array(repeating: 0, count: 2 * (replicas - 2)) : []
    }

    @inline(__always)
    func last(_ i: Int) -> (counter: UInt64, stamp: UInt64) {
        switch i {
        case 0: (c0, s0)
        case 1: (c1, s1)
        default: (more[2 * (i - 2)], more[2 * (i - 2) + 1])
        }
    }

    @inline(__always)
    mutating func set(_ i: Int, counter: UInt64, stamp: UInt64) {
        switch i {
        case 0: (c0, s0) = (counter, stamp)
        case 1: (c1, s1) = (counter, stamp)
        default:
            more[2 * (i - 2)] = counter
            more[2 * (i - 2) + 1] = stamp
        }
    }
}

/// Calls `body` with a dictionary's entries in ascending key order; a single entry (the usual
/// change) without sorting an array of keys.
@inline(__always)
func forEachAscending<V>(_ dict: [Key: V], _ body: (Key, V) -> Void) {
    if dict.count == 1, let only = dict.first {
        body(only.key, only.value)
        return
    }
    for key in dict.keys.sorted() {
        if let value = dict[key] { body(key, value) }
    }
}

enum MessageEncoder {
    static func encode(kind: Codec.Kind, context: CausalContext, store: Store, references: DotSet?) -> [UInt8] {
        encode(kind: kind, context: context, single: nil, store: store, references: references)
    }

    /// Encodes a delta holding one field: the same bytes as the nested store with one
    /// collection, one document and one field.
    static func encode(context: CausalContext, path: FieldPath, field: Field) -> [UInt8] {
        encode(kind: .delta, context: context, single: (path, field), store: [:], references: nil)
    }

    private static func encode(
        kind: Codec.Kind, context: CausalContext, single: (path: FieldPath, field: Field)?, store: Store, references: DotSet?
    ) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + max(store.count, 1) * 256)
        w.byte(Codec.magic)
        w.byte(Codec.version)
        w.byte(kind.rawValue)
        let replicas = context.replicas
        let index = ReplicaIndex(replicas: replicas)  // `replicas` is sorted
        w.varint(replicas.count)
        for r in replicas { w.u64le(r.rawValue) }
        for r in replicas { w.varint(context.vector[r]) }
        // Cloud counters per replica, in table order, gap-coded above the vector entry.
        if context.cloud.count > DotCloud.inlineCapacity {
            let dots = context.cloud.sortedDots()  // by replica, then counter: table order
            var k = 0
            for r in replicas {
                var end = k
                while end < dots.count && dots[end].replica == r { end += 1 }
                w.varint(end - k)
                var prev = context.vector[r] + 1
                for d in dots[k..<end] {
                    w.varint(d.counter - prev - 1)
                    prev = d.counter
                }
                k = end
            }
        } else {
            for r in replicas {
                var n = 0
                context.cloud.forEach { d in if d.replica == r { n += 1 } }
                w.varint(n)
                var prev = context.vector[r] + 1
                context.cloud.forEach { d in  // an inline cloud iterates ascending
                    guard d.replica == r else { return }
                    w.varint(d.counter - prev - 1)
                    prev = d.counter
                }
            }
        }
        if kind == .stateDelta {
            let refs = references ?? DotSet()
            for r in replicas {
                let list = refs.ranges[r] ?? []
                w.varint(list.count)
                var prevEnd: UInt64 = 0
                var first = true
                for range in list {
                    // First start = 1 + gap; later starts = prevEnd + 2 + gap.
                    w.varint(first ? range.lowerBound - 1 : range.lowerBound - prevEnd - 2)
                    w.varint(range.upperBound - range.lowerBound)
                    prevEnd = range.upperBound
                    first = false
                }
            }
        }
        var tags = TagCoder(replicas: replicas.count)
        if let single {
            w.varint(1)
            w.lengthPrefixed(single.path.collection.string)
            w.varint(1)
            w.lengthPrefixed(single.path.document.string)
            w.varint(1)
            w.varint(0)  // the field name, inline (first in the message)
            w.lengthPrefixed(single.path.field.string)
            encodeField(single.field, &w, &tags, index)
            return w.bytes
        }
        var names = NameTable()
        w.varint(store.count)
        forEachAscending(store) { collection, docs in
            w.lengthPrefixed(collection.string)
            w.varint(docs.count)
            forEachAscending(docs) { id, doc in
                w.lengthPrefixed(id.string)
                w.varint(doc.fields.count)
                forEachAscending(doc.fields) { name, field in
                    if let ref = names.reference(name) {
                        w.varint(ref + 1)
                    } else {
                        w.varint(0)
                        w.lengthPrefixed(name.string)
                        names.add(name)
                    }
                    encodeField(field, &w, &tags, index)
                }
            }
        }
        return w.bytes
    }

    /// Writes a tag: replica index (unless implied by the field header), the counter as a delta
    /// from the replica's previous counter in this message, and the stamp as the residual from
    /// the prediction "one clock tick per dot" (0 for a burst of local writes).
    @inline(__always)
    static func encodeTag(
        _ tag: Tag, _ w: inout ByteWriter, _ tags: inout TagCoder, _ index: ReplicaIndex, implicitReplica: Bool = false
    ) {
        let i = index[tag.dot.replica] ?? 0
        if !implicitReplica { w.varint(i) }
        let last = tags.last(i)
        let step = tag.dot.counter &- last.counter
        w.signed(Int64(bitPattern: step))
        w.signed(Int64(bitPattern: tag.stamp.rawValue &- (last.stamp &+ step)))
        tags.set(i, counter: tag.dot.counter, stamp: tag.stamp.rawValue)
    }

    static func encodeValue(_ value: Value, _ w: inout ByteWriter) {
        switch value {
        case .null: w.byte(Codec.valueNull)
        case .bool(let b): w.byte(b ? Codec.valueTrue : Codec.valueFalse)
        case .int(let i):
            w.byte(Codec.valueInt)
            w.signed(i)
        case .double(let d):
            w.byte(Codec.valueDouble)
            w.u64le(d.bitPattern)
        case .string(var s):
            s.withUTF8 { buf in
                if buf.count < 128 {
                    w.byte(Codec.valueShortString | UInt8(buf.count))
                } else {
                    w.byte(Codec.valueString)
                    w.varint(buf.count)
                }
                w.bytes.append(contentsOf: buf)
            }
        case .bytes(let b):
            w.byte(Codec.valueBytes)
            w.varint(b.count)
            w.bytes.append(contentsOf: b)
        }
    }

    static func encodeField(_ f: Field, _ w: inout ByteWriter, _ tags: inout TagCoder, _ index: ReplicaIndex) {
        let rc = f.registers.count
        var header = UInt8(min(rc, 3))
        if !f.elements.isEmpty { header |= 4 }
        if !f.counters.isEmpty { header |= 8 }
        let text = f.text.flatMap { $0.isEmpty ? nil : $0 }
        if text != nil { header |= 0x80 }
        // Bits 4–6: 1 + the first register's replica index when it is below 7 (then omitted).
        var implicit = false
        if let first = f.registers.first, let i = index[first.tag.dot.replica], i < 7 {
            header |= UInt8(i + 1) << 4
            implicit = true
        }
        w.byte(header)
        if rc >= 3 { w.varint(rc) }
        for (n, e) in f.registers.enumerated() {
            encodeTag(e.tag, &w, &tags, index, implicitReplica: implicit && n == 0)
            encodeValue(e.value, &w)
        }
        if !f.elements.isEmpty {
            w.varint(f.elements.count)
            for element in f.elements.keys.sorted() {
                let list = f.elements[element] ?? []
                encodeValue(element, &w)
                w.varint(list.count)
                for t in list { encodeTag(t, &w, &tags, index) }
            }
        }
        if !f.counters.isEmpty {
            w.varint(f.counters.count)
            for e in f.counters {
                encodeTag(e.tag, &w, &tags, index)
                w.varint(e.increments)
                w.varint(e.decrements)
            }
        }
        if let text { TextCodec.encode(text.storage, &w, index) }
    }
}

struct DecodedMessage {
    var context: CausalContext
    var store: Store
    var references: DotSet?
    /// A delta's only field (then `store` is empty).
    var single: (path: FieldPath, field: Field)?
}

struct MessageDecoder {
    var r: ByteReader
    let kind: Codec.Kind
    var replicas: [ReplicaID] = []
    var context = CausalContext()
    var tags = TagCoder(replicas: 0)
    /// Field names read inline so far (the first one without an array).
    var firstName: Key?
    var names: [Key] = []
    /// Whether text runs may take the lean pass (false only in tests, see `TextSequence+Load.swift`).
    var leanText = true

    static func decode(_ bytes: [UInt8], kind: Codec.Kind, leanText: Bool = true) throws(DecodeError) -> DecodedMessage {
        do {
            return try bytes.withUnsafeBytes { raw in
                var d = MessageDecoder(r: ByteReader(raw), kind: kind)
                d.leanText = leanText
                return try d.message()
            }
        } catch let e as DecodeError {
            throw e
        } catch {
            throw .truncated(offset: 0)  // unreachable: the closure throws only DecodeError
        }
    }

    mutating func message() throws(DecodeError) -> DecodedMessage {
        let m = try r.byte()
        guard m == Codec.magic else { throw .badMagic(m) }
        let v = try r.byte()
        guard v == Codec.version else { throw .unsupportedVersion(v) }
        let k = try r.byte()
        guard k == kind.rawValue else { throw .unexpectedKind(k, expected: kind.rawValue) }
        try readContext()
        var references: DotSet?
        if kind == .stateDelta { references = try readReferences() }
        if kind == .delta, let single = try readSingleField() {
            guard r.remaining == 0 else { throw .trailingBytes(count: r.remaining) }
            return DecodedMessage(context: context, store: [:], references: nil, single: single)
        }
        let store = try readStore(references: references)
        guard r.remaining == 0 else { throw .trailingBytes(count: r.remaining) }
        return DecodedMessage(context: context, store: store, references: references)
    }

    mutating func readContext() throws(DecodeError) {
        let start = r.offset
        let n = try r.count(minimumItemSize: 10)
        replicas.reserveCapacity(n)
        for _ in 0..<n {
            let id = ReplicaID(try r.u64le())
            if let last = replicas.last, id <= last { throw .nonCanonical("replica table not ascending", offset: r.offset - 8) }
            replicas.append(id)
        }
        var vector: [ReplicaID: UInt64] = [:]
        if n > 4 { vector.reserveCapacity(n) }
        for id in replicas {
            let at = r.offset
            let c = try r.varint()
            guard c <= Dot.maxCounter else { throw .invalidCounter(offset: at) }
            if c > 0 { vector[id] = c }
        }
        var cloud = DotCloud()
        for id in replicas {
            let count = try r.count()
            let at = r.offset
            var prev = vector[id, default: 0] + 1
            for _ in 0..<count {
                let gap = try r.varint()
                let (a, o1) = prev.addingReportingOverflow(gap)
                let (c, o2) = a.addingReportingOverflow(1)
                guard !o1, !o2, c <= Dot.maxCounter else { throw .invalidCounter(offset: at) }
                cloud.insert(Dot(id, c))
                prev = c
            }
            if count == 0 && vector[id] == nil { throw .nonCanonical("unused replica table entry", offset: start) }
        }
        // Every cloud dot is at least two above its vector entry and strictly ascending per
        // replica (gap + 1): the parts are canonical as read, nothing to absorb.
        context = CausalContext(canonicalVector: VersionVector(positive: vector), cloud: cloud)
        tags = TagCoder(replicas: n)
    }

    mutating func readReferences() throws(DecodeError) -> DotSet {
        var out: [ReplicaID: [ClosedRange<UInt64>]] = [:]
        for id in replicas {
            let at = r.offset
            let count = try r.count(minimumItemSize: 2)
            if count == 0 { continue }
            var list: [ClosedRange<UInt64>] = []
            list.reserveCapacity(count)
            var prevEnd: UInt64 = 0
            for i in 0..<count {
                let gap = try r.varint()
                let length = try r.varint()
                let base: UInt64 = i == 0 ? 1 : prevEnd
                let (s1, o1) = base.addingReportingOverflow(i == 0 ? 0 : 2)
                let (start, o2) = s1.addingReportingOverflow(gap)
                let (end, o3) = start.addingReportingOverflow(length)
                guard !o1, !o2, !o3, end <= Dot.maxCounter else { throw .invalidCounter(offset: at) }
                // Every referenced dot must be in the context: within the vector, or in the cloud.
                let covered = context.vector[id]
                if end > covered {
                    let beyond = end - max(start, covered + 1) + 1
                    guard beyond <= UInt64(context.cloud.count) else { throw .entryOutsideContext(offset: at) }
                    for c in max(start, covered + 1)...end where !context.cloud.contains(Dot(id, c)) {
                        throw .entryOutsideContext(offset: at)
                    }
                }
                list.append(start...end)
                prevEnd = end
            }
            out[id] = list
        }
        return DotSet(normalized: out)
    }

    mutating func readKey(after previous: Key?) throws(DecodeError) -> Key {
        let at = r.offset
        let key = Key(try r.string())
        if let previous, !(previous < key) { throw .nonCanonical("keys not strictly ascending", offset: at) }
        return key
    }

    /// Reads a store of one collection, one document and one field without building its
    /// dictionaries; `nil` (reader unmoved) for any other store, which ``readStore`` then reads.
    mutating func readSingleField() throws(DecodeError) -> (path: FieldPath, field: Field)? {
        let start = r
        guard try r.count(minimumItemSize: 3) == 1 else {
            r = start
            return nil
        }
        let collection = try readKey(after: nil)
        guard try r.count(minimumItemSize: 3) == 1 else {
            r = start
            return nil
        }
        let id = try readKey(after: nil)
        guard try r.count(minimumItemSize: 2) == 1 else {
            r = start
            return nil
        }
        let name = try readFieldName()
        return (FieldPath(collection, id, name), try readField())
    }

    mutating func readStore(references: DotSet?) throws(DecodeError) -> Store {
        let collections = try r.count(minimumItemSize: 3)
        var store: Store = [:]
        store.reserveCapacity(collections)
        var lastCollection: Key?
        for _ in 0..<collections {
            let collection = try readKey(after: lastCollection)
            lastCollection = collection
            let at = r.offset
            let docCount = try r.count(minimumItemSize: 3)
            guard docCount > 0 else { throw .nonCanonical("empty collection", offset: at) }
            var docs: [Key: Document] = [:]
            docs.reserveCapacity(docCount)
            var lastID: Key?
            for _ in 0..<docCount {
                let id = try readKey(after: lastID)
                lastID = id
                let fat = r.offset
                let fieldCount = try r.count(minimumItemSize: 2)
                guard fieldCount > 0 else { throw .nonCanonical("empty document", offset: fat) }
                var doc = Document()
                doc.fields.reserveCapacity(fieldCount)
                var lastName: Key?
                for _ in 0..<fieldCount {
                    let nat = r.offset
                    let name = try readFieldName()
                    if let lastName, !(lastName < name) { throw .nonCanonical("field names not ascending", offset: nat) }
                    lastName = name
                    doc.fields[name] = try readField()
                }
                docs[id] = doc
            }
            store[collection] = docs
        }
        return store
    }

    mutating func readFieldName() throws(DecodeError) -> Key {
        let at = r.offset
        let ref = try r.varint()
        if ref == 0 {
            let name = Key(try r.string())
            guard let first = firstName else {
                firstName = name
                return name
            }
            if first == name || names.contains(name) { throw .nonCanonical("field name repeated inline", offset: at) }
            names.append(name)
            return name
        }
        guard let first = firstName, ref <= UInt64(names.count + 1) else {
            throw .nonCanonical("unknown field name reference", offset: at)
        }
        return ref == 1 ? first : names[Int(ref - 2)]
    }

    mutating func readTag(implicitReplica: Int? = nil) throws(DecodeError) -> Tag {
        let at = r.offset
        let i: UInt64
        if let implicitReplica { i = UInt64(implicitReplica) } else { i = try r.varint() }
        guard i < UInt64(replicas.count) else { throw .replicaIndexOutOfRange(i, offset: at) }
        let idx = Int(i)
        let step = UInt64(bitPattern: try r.signed())
        let last = tags.last(idx)
        let counter = last.counter &+ step
        let stamp = last.stamp &+ step &+ UInt64(bitPattern: try r.signed())
        tags.set(idx, counter: counter, stamp: stamp)
        guard counter > 0, counter <= Dot.maxCounter else { throw .invalidCounter(offset: at) }
        let dot = Dot(replicas[idx], counter)
        guard context.contains(dot) else { throw .entryOutsideContext(offset: at) }
        return Tag(dot: dot, stamp: Timestamp(rawValue: stamp))
    }

    mutating func readValue() throws(DecodeError) -> Value {
        let at = r.offset
        let tag = try r.byte()
        switch tag {
        case Codec.valueNull: return .null
        case Codec.valueFalse: return .bool(false)
        case Codec.valueTrue: return .bool(true)
        case Codec.valueInt: return .int(try r.signed())
        case Codec.valueDouble: return .double(Double(bitPattern: try r.u64le()))
        case Codec.valueString:
            let s = try r.string()
            guard s.utf8.count >= 128 else { throw .nonCanonical("short string in long form", offset: at) }
            return .string(s)
        case Codec.valueShortString...0xFF:
            let raw = try r.bytes(Int(tag & 0x7F))
            guard let s = String(validating: raw.assumingMemoryBound(to: UInt8.self), as: UTF8.self) else {
                throw .invalidUTF8(offset: at)
            }
            return .string(s)
        case Codec.valueBytes:
            let n = try r.count()
            return .bytes(Array(try r.bytes(n)))
        default: throw .unknownValueTag(tag, offset: at)
        }
    }

    mutating func readField() throws(DecodeError) -> Field {
        let at = r.offset
        let header = try r.byte()
        let implied = Int((header >> 4) & 7)
        var f = Field()
        var rc = Int(header & 3)
        guard implied == 0 || rc > 0 else { throw .nonCanonical("replica hint without registers", offset: at) }
        if rc == 3 {
            let cat = r.offset
            rc = try r.count(minimumItemSize: 4)
            guard rc >= 3 else { throw .nonCanonical("register count below 3 in long form", offset: cat) }
        }
        if rc > 0 {
            f.registers.reserveCapacity(rc)
            for n in 0..<rc {
                let tat = r.offset
                let tag = try readTag(implicitReplica: n == 0 && implied > 0 ? implied - 1 : nil)
                if n == 0 && implied == 0, let i = replicas.firstIndex(of: tag.dot.replica), i < 7 {
                    throw .nonCanonical("replica index below 7 not in the field header", offset: tat)
                }
                if let last = f.registers.last, !(last.tag.dot < tag.dot) {
                    throw .nonCanonical("register entries not ascending", offset: tat)
                }
                f.registers.append(RegisterEntry(tag: tag, value: try readValue()))
            }
        }
        if header & 4 != 0 {
            let cat = r.offset
            let n = try r.count(minimumItemSize: 2)
            guard n > 0 else { throw .nonCanonical("empty element list", offset: cat) }
            f.elements.reserveCapacity(n)
            var last: Value?
            for _ in 0..<n {
                let eat = r.offset
                let element = try readValue()
                if let last, !(last < element) { throw .nonCanonical("elements not ascending", offset: eat) }
                last = element
                let tc = try r.count(minimumItemSize: 3)
                if tc == 0 && kind != .delta { throw .nonCanonical("element without tags", offset: eat) }
                var list: [Tag] = []
                list.reserveCapacity(tc)
                for _ in 0..<tc {
                    let tat = r.offset
                    let tag = try readTag()
                    if let prev = list.last, !(prev.dot < tag.dot) { throw .nonCanonical("tags not ascending", offset: tat) }
                    list.append(tag)
                }
                f.elements[element] = list
            }
        }
        if header & 8 != 0 {
            let cat = r.offset
            let n = try r.count(minimumItemSize: 5)
            guard n > 0 else { throw .nonCanonical("empty counter list", offset: cat) }
            f.counters.reserveCapacity(n)
            for _ in 0..<n {
                let tat = r.offset
                let tag = try readTag()
                if let last = f.counters.last, !(last.tag.dot < tag.dot) {
                    throw .nonCanonical("counter entries not ascending", offset: tat)
                }
                f.counters.append(CounterEntry(tag: tag, increments: try r.varint(), decrements: try r.varint()))
            }
        }
        if header & 0x80 != 0 {
            let text = try readText(lean: leanText)
            if text.isEmpty { throw .nonCanonical("empty text", offset: at) }
            f.text = text
        }
        if f.isEmpty && kind != .delta { throw .nonCanonical("empty field", offset: at) }
        return f
    }
}
