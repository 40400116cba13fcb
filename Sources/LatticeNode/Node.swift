#if canImport(Glibc)
    import Glibc
#endif
import CLinux
public import LatticeCRDT
public import LatticeCrypto
public import LatticeStore
public import LatticeSync

/// A static peer: its node ID and where to dial it.
public struct StaticPeer: Sendable, Equatable {
    public var node: NodeID
    public var address: SocketAddress
    public init(node: NodeID, address: SocketAddress) {
        self.node = node
        self.address = address
    }
}

/// How a node runs.
public struct NodeOptions: Sendable {
    public var listen = SocketAddress(host: "0.0.0.0", port: 7946)
    public var peers: [StaticPeer] = []
    public var isolated = false
    /// LAN discovery by sealed beacons (off for tests on a shared host, or where static peers suffice).
    public var discovery = true
    /// The UDP port beacons go to and are heard on (every node of a LAN uses the same one).
    public var discoveryPort: UInt16 = 7946
    /// Milliseconds between beacons (±20 % jitter).
    public var beaconInterval: UInt64 = 5_000
    public var sync = SyncConfig()
    public var policy = SyncPolicy()
    /// Handshakes must finish within this many ms.
    public var handshakeTimeout: UInt64 = 5_000
    /// The engine's tick period, ms.
    public var tickInterval: UInt64 = 100
    public init() {}
}

/// The networked node: one event-loop thread owns the store, the engine, every socket and timer.
public final class Node: @unchecked Sendable {  // confined to the loop thread; stop() posts
    final class Connection {
        let fd: Int32
        let id: ConnectionID
        let outbound: Bool
        let channel: SecureChannel
        var address: SocketAddress?
        var peer: ReplicaID?
        var nodeID: NodeID?
        var connecting: Bool
        var pendingWrite: [UInt8] = []
        var writeOffset = 0
        var closeAfterWrite = false
        var wantedPeer: ReplicaID?
        /// Since when bytes written to the socket may be unacknowledged (nil: none were written
        /// since the kernel last said everything was acknowledged; ``Node/reportStalls(now:)``).
        var outstandingSince: UInt64?
        init(fd: Int32, id: ConnectionID, outbound: Bool, channel: SecureChannel, connecting: Bool) {
            self.fd = fd
            self.id = id
            self.outbound = outbound
            self.channel = channel
            self.connecting = connecting
        }
    }

    public let identity: NodeIdentity
    public let store: ReplicaStore
    public let engine: SyncEngine
    public let loop: EventLoop
    public let log: NodeLog
    public private(set) var listenAddress: SocketAddress?
    private var keyRing: KeyRing
    private var trust: TrustPolicy
    private let options: NodeOptions
    private var listener: Int32 = -1
    private var connections: [ConnectionID: Connection] = [:]
    private var byFD: [Int32: ConnectionID] = [:]
    private var nextConnection: ConnectionID = 1
    private var addresses: [ReplicaID: SocketAddress] = [:]
    private var nodeIDs: [ReplicaID: NodeID] = [:]
    private var control: ControlServer?
    private var discovery: Discovery?
    /// Actions that wait for the log sync in flight (everything after a `flush`, in order).
    private var held: [SyncAction] = []
    /// Actions are being held until `durableSequence` reaches `heldUntil`.
    private var holding = false
    private var heldUntil: UInt64 = 0
    private var syncing = false
    /// Local commits appended without waiting, in log order, with their completions: they reach
    /// the engine (and peers) once durable.
    private var pendingLocal: [LoggedChange] = []
    /// The completion of each pending local commit (same order).
    private var pendingDone: [((any Error)?) -> Void] = []
    /// Entries of both lists before this one were released (a group commit usually releases a
    /// prefix while later commits wait for the next fsync: no array copy or shift per release).
    private var pendingHead = 0
    /// Called on the loop after remote changes became visible in the store's state, with the
    /// total integrated so far (for benchmarks, and the change feed of the HTTP API).
    public var onIntegrated: ((Int) -> Void)?
    /// Log syncs completed off the loop (group commits), for `lattice bench --net` and metrics.
    public private(set) var syncs = 0
    /// Local changes committed through this node (CLI, API, `submit`).
    public private(set) var localCommits = 0
    /// Connections whose handshake or session failed, by reason (for metrics).
    public private(set) var connectionFailures: [String: Int] = [:]
    /// Stream frames refused after the handshake, by reason (`auth`, `replay`, `malformed`, …):
    /// each also ends its connection.
    public private(set) var droppedFrames: [String: Int] = [:]
    /// From a remote change's HLC time on its origin to its integration here (clocks of the
    /// two machines included: NTP-level skew shows up as latency, clamped at 0).
    public private(set) var replicationLatency = Histogram()
    /// Whether the node is in isolation mode now (no peer traffic, no beacons).
    public var isolated: Bool { engine.isolated }
    private var retiredBeacons: [String: Int] = [:]
    private var durableHooks: [() -> Void] = []

    /// Discovery's counters: beacons sent, received, accepted, own, and dropped by reason.
    public var beaconCounts: [String: Int] {
        guard let c = discovery?.counters else { return retiredBeacons }
        let current = [
            "sent": c.sent, "received": c.received, "accepted": c.accepted, "own": c.own,
            "unauthenticated": c.unauthenticated, "malformed": c.malformed, "stale": c.stale, "replayed": c.replayed,
        ]
        return current.merging(retiredBeacons, uniquingKeysWith: +)
    }
    private var staticPeers: Set<ReplicaID> = []
    /// Peers whose beacons were heard (each logged once as `peer-discovered`).
    private var discoveredPeers: Set<ReplicaID> = []

    /// This node's replica ID.
    public var replicaID: ReplicaID { ReplicaID(identity.nodeID.replicaRawValue) }

    /// Opens the node (the store takes the data directory's lock) and binds its listener.
    public init(identity: NodeIdentity, keyRing: KeyRing, trust: TrustPolicy, store: ReplicaStore, options: NodeOptions, log: NodeLog) throws {
        self.identity = identity
        self.keyRing = keyRing
        self.trust = trust
        self.store = store
        self.options = options
        self.log = log
        loop = try EventLoop()
        engine = try SyncEngine(
            node: ReplicaID(identity.nodeID.replicaRawValue), storage: store, config: options.sync, policy: options.policy,
            seed: UInt64.random(in: 0...UInt64.max), now: EventLoop.now())
        listener = try Socket.listen(options.listen)
        listenAddress = Socket.localAddress(listener)
        try loop.register(listener, events: UInt32(EPOLLIN.rawValue)) { [unowned self] _ in self.acceptAll() }
        for p in options.peers {
            let r = ReplicaID(p.node.replicaRawValue)
            addresses[r] = p.address
            nodeIDs[r] = p.node
            staticPeers.insert(r)
        }
        if options.discovery && !options.isolated { try startDiscovery() }
        store.onRemote = { [unowned self] stamp, now in
            guard let stamp else { return }
            self.replicationLatency.observe(Double(now > stamp.milliseconds ? now - stamp.milliseconds : 0) / 1_000)
        }
    }

    private func startDiscovery() throws {
        discovery = try Discovery(
            loop: loop, keyRing: keyRing, node: identity.nodeID, tcpPort: listenAddress?.port ?? options.listen.port,
            port: options.discoveryPort, interval: options.beaconInterval, log: log
        ) { [unowned self] beacon, address in self.discovered(beacon, at: address) }
    }

    private func stopDiscovery() {
        guard let d = discovery else { return }
        retiredBeacons = beaconCounts
        d.close()
        discovery = nil
    }

    // MARK: Runtime control (on the loop thread)

    /// Isolation mode on or off at runtime: on ends every session with a goodbye, stops
    /// beacons and refuses connections; off starts discovery again (if configured) and dials.
    public func setIsolated(_ on: Bool) throws {
        guard on != engine.isolated else { return }
        log.info("isolation", ["on": .bool(on)])
        if on {
            stopDiscovery()
            execute(engine.setIsolated(true, now: EventLoop.now()))
            // Sessions still in their handshake have no engine session yet: drop them here.
            for c in connections.values where c.peer == nil { drop(c, reason: "isolation mode") }
        } else {
            execute(engine.setIsolated(false, now: EventLoop.now()))
            if options.discovery && discovery == nil {
                try startDiscovery()
                discovery?.start()
            }
        }
    }

    /// New network keys or trust policy (after `lattice keys …` on a running node): later
    /// handshakes use them; sessions with peers the policy now refuses are ended.
    public func reload(keyRing: KeyRing, trust: TrustPolicy) {
        self.keyRing = keyRing
        self.trust = trust
        for c in connections.values {
            guard let id = c.nodeID else {
                // A handshake under way runs on the old keys and policy: start it again.
                drop(c, reason: "keys or trust changed during the handshake")
                continue
            }
            guard case .refused(let why) = trust.decide(id) else { continue }
            log.warn("peer-refused", ["peer": .string(id.description), "reason": .string("\(why)")])
            drop(c, reason: "refused by the trust policy: \(why)")
        }
        // Beacons are sealed and opened with the ring: discovery starts again with the new one.
        if discovery != nil {
            stopDiscovery()
            do {
                try startDiscovery()
                discovery?.start()
            } catch {
                log.error("discovery", ["error": .string("cannot restart after a key change: \(error)")])
            }
        }
    }

    /// Runs `body` on the loop whenever more of the log became durable (local commits, remote
    /// changes, imports): the change feed's wake-up.
    public func onDurable(_ body: @escaping () -> Void) { durableHooks.append(body) }

    private func notifyDurable() { for h in durableHooks { h() } }

    /// Whether LAN discovery is running.
    public var discovering: Bool { discovery != nil }

    /// A peer announced itself on the LAN: remember where it is and dial it (the handshake then
    /// authenticates it). Static peers keep their configured address.
    private func discovered(_ beacon: Beacon, at address: SocketAddress) {
        let r = ReplicaID(beacon.nodeID.replicaRawValue)
        if case .refused(let why) = trust.decide(beacon.nodeID) {
            log.debug("beacon-ignored", ["peer": .string(beacon.nodeID.description), "reason": .string("\(why)")])
            return
        }
        nodeIDs[r] = beacon.nodeID
        if discoveredPeers.insert(r).inserted {
            log.info("peer-discovered", ["peer": .string(beacon.nodeID.description), "address": .string(address.description)])
        }
        // A connected peer keeps the address that works (beacons come over IPv4 and IPv6 alike).
        if !staticPeers.contains(r), addresses[r] != address, engine.peers[r]?.connection == nil {
            if let old = addresses[r] {
                log.info("peer-moved", ["peer": .string(beacon.nodeID.description), "from": .string(old.description), "address": .string(address.description)])
            }
            addresses[r] = address
        }
        if engine.peers[r]?.wanted != true {
            discovery?.greet()
            execute(engine.addPeer(r, now: EventLoop.now()))
        }
    }

    /// Runs the loop on the calling thread until ``stop()``.
    public func run() {
        let now = EventLoop.now()
        log.info("started", [
            "node": .string(identity.nodeID.description), "listen": .string(listenAddress?.description ?? "?"),
            "discovery": discovery == nil ? .string("off") : .string("udp/\(options.discoveryPort)"),
        ])
        if options.isolated { execute(engine.setIsolated(true, now: now)) }
        for r in addresses.keys.sorted() { execute(engine.addPeer(r, now: now)) }
        discovery?.start()
        scheduleTick()
        loop.run()
    }

    /// Asks the loop to shut down gracefully (goodbye to every peer, flush, close); any thread.
    public func stop() {
        loop.post { [self] in
            discovery?.close()
            // Make everything durable, let held acknowledgements and forwards go, then goodbye.
            if (try? store.flush()) != nil {
                if holding {
                    holding = false
                    let resume = held
                    held.removeAll()
                    execute(resume)
                }
                releaseLocal()
            }
            execute(engine.shutdown(now: EventLoop.now()))
            for c in connections.values { flushWrites(c) }
            control?.close()
            for body in stopHooks { body() }
            loop.stop()
        }
    }

    private func scheduleTick() {
        loop.schedule(after: options.tickInterval) { [weak self] in
            guard let self else { return }
            let now = EventLoop.now()
            self.reportStalls(now: now)
            self.execute(self.engine.tick(now: now))
            self.scheduleTick()
        }
    }

    private var stopHooks: [() -> Void] = []

    /// Runs `body` on the loop when the node shuts down (before the loop stops): servers that
    /// share the loop close there.
    public func onStop(_ body: @escaping () -> Void) { stopHooks.append(body) }

    /// Serves the local control channel on a Unix socket (0600); `handler` runs on the loop.
    public func serveControl(at path: String, handler: @escaping ([UInt8]) -> [UInt8]) throws {
        control = try ControlServer(path: path, loop: loop, handler: handler)
    }

    /// Every known peer with its address and node ID, for `lattice peers` and `status`.
    public var peerReport: [(info: PeerInfo, node: NodeID?, address: SocketAddress?)] {
        engine.peers.values.sorted { $0.peer < $1.peer }.map { ($0, nodeIDs[$0.peer], addresses[$0.peer] ?? connectionAddress($0.connection)) }
    }

    private func connectionAddress(_ id: ConnectionID?) -> SocketAddress? { id.flatMap { connections[$0]?.address } }

    /// Pending (unacknowledged) changes per peer, from the engine's view.
    public func forceSync() { execute(engine.syncNow(now: EventLoop.now())) }

    // MARK: Local changes

    /// Makes a local change durably and pushes it to peers (on the loop thread; blocks the loop
    /// for one fsync — for occasional writes such as a CLI command; see ``submit(_:done:)``).
    @discardableResult
    public func commit(_ body: (inout Replica, inout Delta) throws -> Void) throws -> CommitResult {
        let r = try store.commit(body)
        if !r.delta.isEmpty {
            defer { notifyDurable() }
            localCommits += 1
            if pendingHead == pendingLocal.count {
                execute(engine.localChange(sequence: r.sequence, delta: r.delta, now: EventLoop.now()))
            } else {
                // Earlier group-committed changes are durable too now: keep log order.
                pendingLocal.append(LoggedChange(sequence: r.sequence, delta: r.delta, encoded: r.encoded))
                pendingDone.append { _ in }
                releaseLocal()
            }
        }
        return r
    }

    /// Group commit: makes a local change without blocking the loop (on the loop thread). The
    /// record is appended at once; when the log's sync thread has made it durable (together with
    /// every other change appended meanwhile: one fsync for many writers), it is pushed to peers
    /// and `done` is called with nil — or with the error that prevented durability.
    /// - Returns: the commit (its sequence, dots and delta), or throws what `body` or the store threw.
    @discardableResult
    public func submit(_ body: (inout Replica, inout Delta) throws -> Void, done: @escaping ((any Error)?) -> Void) throws -> CommitResult {
        let r = try store.commit(durably: false, body)
        if r.delta.isEmpty {
            done(nil)
            return r
        }
        localCommits += 1
        pendingLocal.append(LoggedChange(sequence: r.sequence, delta: r.delta, encoded: r.encoded))
        pendingDone.append(done)
        requestSync()
        return r
    }

    /// Local commits now durable go to the engine, in log order.
    private func releaseLocal() {
        let durable = store.durableSequence
        var end = pendingHead
        while end < pendingLocal.count, pendingLocal[end].sequence <= durable { end += 1 }
        guard end > pendingHead else { return }
        let start = pendingHead
        pendingHead = end
        // The completions are taken out first: one may commit again (re-entering this function).
        let done = Array(pendingDone[start..<end])
        for i in start..<end { pendingDone[i] = { _ in } }  // release what they captured now
        execute(engine.localChanges(pendingLocal[start..<end], now: EventLoop.now()))
        for d in done { d(nil) }
        if pendingHead == pendingLocal.count {
            pendingLocal.removeAll(keepingCapacity: true)
            pendingDone.removeAll(keepingCapacity: true)
            pendingHead = 0
        } else if pendingHead >= 4_096 && pendingHead * 2 >= pendingLocal.count {
            pendingLocal.removeFirst(pendingHead)
            pendingDone.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    /// Asks the log's sync thread for durability of everything appended so far; the loop goes on
    /// meanwhile and ``synced(_:)`` resumes the held actions and local commits.
    private func requestSync() {
        guard !syncing else { return }
        syncing = true
        store.whenDurable { [loop, self] result in
            let failure: StoreError? = if case .failure(let e) = result { e } else { nil }
            loop.post { self.synced(failure) }
        }
    }

    private func synced(_ failure: StoreError?) {
        syncing = false
        syncs += 1
        if let failure {
            try? store.flush()  // records the failure: later commits refuse
            log.error("storage", ["error": .string("\(failure)")])
            held.removeAll()  // nothing after an unflushed change may happen
            holding = false
            let failed = pendingDone[pendingHead...]
            pendingLocal.removeAll()
            pendingDone.removeAll()
            pendingHead = 0
            for done in failed { done(failure) }
            return
        }
        defer { notifyDurable() }
        if holding && store.durableSequence >= heldUntil {
            holding = false
            let resume = held
            held.removeAll()
            execute(resume)
        }
        releaseLocal()
        // Appended while this sync ran: the next one.
        if holding || pendingHead < pendingLocal.count { requestSync() }
    }

    /// An import was joined into the store (a catch-up record): peers lacking it get it.
    public func imported(_ catchUp: StateDelta, before: CausalContext) {
        execute(engine.localCatchUp(catchUp, before: before, now: EventLoop.now()))
        notifyDurable()
    }

    // MARK: Actions

    /// Executes engine actions in order. At a `flush`, if anything appended is not durable yet,
    /// the rest (and every later action) is held until the log's sync thread reports durability;
    /// the loop keeps serving sockets meanwhile (the engine's state is already updated — the
    /// simulator models exactly this).
    func execute(_ actions: [SyncAction]) {
        if holding {
            held += actions
            return
        }
        for (k, a) in actions.enumerated() {
            switch a {
            case .flush:
                let target = store.appendedSequence
                if store.durableSequence >= target { continue }
                holding = true
                heldUntil = target
                held = Array(actions[(k + 1)...])
                requestSync()
                return
            case .send(let conn, let bytes, _):
                guard let c = connections[conn] else { continue }
                do {
                    c.pendingWrite += try c.channel.seal(bytes)
                    flushWrites(c)
                } catch {
                    drop(c, reason: "seal failed: \(error)")
                }
            case .dial(let peer):
                dial(peer)
            case .close(let conn, let reason):
                guard let c = connections[conn] else { continue }
                c.closeAfterWrite = true
                log.info("close", ["peer": .string(c.peer?.description ?? "?"), "reason": .string(reason)])
                flushWrites(c)
            case .event(let e):
                logEvent(e)
            }
        }
    }

    private func logEvent(_ e: SyncEvent) {
        switch e {
        case .connected(let p, let outbound): log.info("peer-connected", ["peer": .string(name(p)), "outbound": .bool(outbound)])
        case .disconnected(let p, let reason): log.info("peer-disconnected", ["peer": .string(name(p)), "reason": .string(reason)])
        case .synced(let p): log.info("peer-synced", ["peer": .string(name(p))])
        case .quarantined(let p, let reason, let until):
            log.warn("peer-quarantined", ["peer": .string(name(p)), "reason": .string(reason), "for_ms": .uint(until - min(until, EventLoop.now()))])
        case .forbidden(let p, let c): log.warn("change-forbidden", ["peer": .string(name(p)), "collection": .string(c)])
        case .regressed(let p): log.warn("data-regressed", ["peer": .string(name(p))])
        case .storageFailed(let m): log.error("storage", ["error": .string(m)])
        }
    }

    func name(_ r: ReplicaID) -> String { nodeIDs[r]?.description ?? r.description }

    /// The node ID of a node replica: this node's, or a peer's this node has met.
    public func nodeID(of replica: ReplicaID) -> NodeID? {
        replica == replicaID ? identity.nodeID : nodeIDs[replica]
    }

    // MARK: Connections

    private func dial(_ peer: ReplicaID) {
        let now = EventLoop.now()
        guard let address = addresses[peer] else {
            engine.dialFailed(peer, now: now, reason: "no known address")
            return
        }
        do {
            let fd = try Socket.connect(address)
            let driver = HandshakeDriver(
                initiator: identity, networkKey: keyRing.current, trust: trust, deadline: (now + options.handshakeTimeout) * 1_000_000)
            let c = Connection(fd: fd, id: nextConnection, outbound: true, channel: SecureChannel(driver: driver), connecting: true)
            nextConnection += 1
            c.address = address
            c.wantedPeer = peer
            connections[c.id] = c
            byFD[fd] = c.id
            try loop.register(fd, events: UInt32(EPOLLOUT.rawValue)) { [unowned self] bits in self.ready(c, bits) }
            armHandshakeTimeout(c)
        } catch {
            log.warn("dial-failed", ["peer": .string(name(peer)), "address": .string(address.description), "error": .string("\(error)")])
            engine.dialFailed(peer, now: now, reason: "\(error)")
        }
    }

    private func acceptAll() {
        while true {
            let accepted: (Int32, SocketAddress?)?
            do { accepted = try Socket.accept(listener) } catch {
                log.warn("accept", ["error": .string("\(error)")])
                return
            }
            guard let (fd, address) = accepted else { return }
            if engine.isolated {
                close(fd)  // isolation mode: no handshake, not a byte
                continue
            }
            do {
                let now = EventLoop.now()
                let driver = HandshakeDriver(responder: identity, keyRing: keyRing, trust: trust, deadline: (now + options.handshakeTimeout) * 1_000_000)
                let c = Connection(fd: fd, id: nextConnection, outbound: false, channel: SecureChannel(driver: driver), connecting: false)
                nextConnection += 1
                c.address = address
                connections[c.id] = c
                byFD[fd] = c.id
                try loop.register(fd, events: UInt32(EPOLLIN.rawValue)) { [unowned self] bits in self.ready(c, bits) }
                armHandshakeTimeout(c)
            } catch {
                close(fd)
                log.warn("accept", ["error": .string("\(error)")])
            }
        }
    }

    private func armHandshakeTimeout(_ c: Connection) {
        loop.schedule(after: options.handshakeTimeout) { [weak self, weak c] in
            guard let self, let c, self.connections[c.id] != nil, c.peer == nil else { return }
            self.connectionFailures["timeout", default: 0] += 1
            self.drop(c, reason: "handshake timed out")
        }
    }

    private func ready(_ c: Connection, _ bits: UInt32) {
        guard connections[c.id] != nil else { return }
        if c.connecting {
            let e = Socket.pendingError(c.fd)
            guard e == 0 else {
                drop(c, reason: "connect: \(String(cString: strerror(e)))")
                return
            }
            c.connecting = false
            do {
                c.pendingWrite += try c.channel.start()
                try loop.modify(c.fd, events: UInt32(EPOLLIN.rawValue))
                flushWrites(c)
            } catch {
                drop(c, reason: "handshake: \(error)")
                return
            }
        }
        if bits & UInt32(EPOLLOUT.rawValue) != 0 { flushWrites(c) }
        if bits & (UInt32(EPOLLIN.rawValue) | UInt32(EPOLLHUP.rawValue) | UInt32(EPOLLERR.rawValue)) != 0 { readAll(c) }
    }

    private func readAll(_ c: Connection) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while connections[c.id] != nil {
            let n = buffer.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, $0.count) }
            if n == 0 {
                abortedHandshake(c, "connection closed by peer")
                drop(c, reason: "connection closed by peer")
                return
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
                let reason = "read: \(String(cString: strerror(errno)))"
                abortedHandshake(c, reason)
                drop(c, reason: reason)
                return
            }
            let now = EventLoop.now()
            do {
                let (send, outputs) = try c.channel.receive(Array(buffer[0..<n]), now: now * 1_000_000)
                if !send.isEmpty {
                    c.pendingWrite += send
                    flushWrites(c)
                }
                for o in outputs {
                    switch o {
                    case .established(let session):
                        let peer = ReplicaID(session.peer.replicaRawValue)
                        // The policy may have changed while the handshake ran.
                        if case .refused(let why) = trust.decide(session.peer) {
                            connectionFailures["identityRefused", default: 0] += 1
                            drop(c, reason: "refused by the trust policy: \(why)")
                            return
                        }
                        if let wanted = c.wantedPeer, wanted != peer {
                            drop(c, reason: "dialed \(name(wanted)) but \(session.peer) answered")
                            return
                        }
                        c.peer = peer
                        c.nodeID = session.peer
                        nodeIDs[peer] = session.peer
                        log.info("handshake", ["peer": .string(session.peer.description), "address": .string(c.address?.description ?? "?"), "outbound": .bool(c.outbound)])
                        execute(engine.connected(c.id, peer: peer, outbound: c.outbound, now: now))
                    case .message(let bytes):
                        let before = engine.stats.integrated
                        execute(engine.receive(bytes, on: c.id, channel: .stream, now: now))
                        if engine.stats.integrated != before { onIntegrated?(engine.stats.integrated) }
                    }
                    if connections[c.id] == nil { return }
                }
            } catch {
                if c.peer == nil {
                    log.warn("connection-refused", ["address": .string(c.address?.description ?? "?"), "error": .string("\(error)")])
                    connectionFailures[Self.failureReason(error), default: 0] += 1
                } else {
                    log.warn("frame-dropped", ["peer": .string(c.nodeID?.description ?? "?"), "error": .string("\(error)")])
                    droppedFrames[Self.frameReason(error), default: 0] += 1
                }
                drop(c, reason: "\(error)")
                return
            }
        }
    }

    /// How long sent bytes may wait for the peer's acknowledgement, with none arriving, before
    /// the engine is told the stream is stalled (a healthy LAN link acknowledges in well under
    /// a millisecond; a lost segment waits at least one retransmission timeout, 200 ms on Linux).
    static let stallNotice: UInt64 = 50

    /// Tells the engine which session streams are stalled (Docs/PROTOCOL.md §5.4): bytes the
    /// kernel could not take yet, or bytes sent `stallNotice` ago or more that the peer has not
    /// acknowledged, with no acknowledgement for as long (TCP_INFO). Lazy push then sends whole
    /// forwards over the other sessions. Checked every tick; one `getsockopt` per session.
    private func reportStalls(now: UInt64) {
        for c in connections.values where c.peer != nil && !c.connecting {
            var stalled = c.writeOffset < c.pendingWrite.count
            if !stalled, let since = c.outstandingSince {
                var unacked: UInt32 = 0
                var sinceAck: UInt32 = 0
                if clinux_tcp_progress(c.fd, &unacked, &sinceAck) == 0 {
                    if unacked == 0 {
                        c.outstandingSince = nil
                    } else {
                        stalled = now >= since + Self.stallNotice && UInt64(sinceAck) >= Self.stallNotice
                    }
                }
            }
            engine.transportStalled(c.id, stalled)  // a no-op unless it changed
        }
    }

    private func flushWrites(_ c: Connection) {
        guard connections[c.id] != nil, !c.connecting else { return }
        while c.writeOffset < c.pendingWrite.count {
            let n = c.pendingWrite.withUnsafeBytes { p in
                send(c.fd, p.baseAddress! + c.writeOffset, p.count - c.writeOffset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    try? loop.modify(c.fd, events: UInt32(EPOLLIN.rawValue | EPOLLOUT.rawValue))
                    return
                }
                if errno == EINTR { continue }
                drop(c, reason: "write: \(String(cString: strerror(errno)))")
                return
            }
            c.writeOffset += n
            if n > 0, c.outstandingSince == nil { c.outstandingSince = EventLoop.now() }
        }
        c.pendingWrite.removeAll(keepingCapacity: true)
        c.writeOffset = 0
        try? loop.modify(c.fd, events: UInt32(EPOLLIN.rawValue))
        if c.closeAfterWrite { drop(c, reason: "closed") }
    }

    /// A connection that closed part-way through its handshake, before its deadline: counted
    /// (`handshake_failures_total{reason="aborted"}`) and logged, as refused ones are.
    private func abortedHandshake(_ c: Connection, _ reason: String) {
        guard c.peer == nil, !c.connecting else { return }
        connectionFailures["aborted", default: 0] += 1
        log.info("handshake aborted", ["address": .string(c.address?.description ?? "?"), "outbound": .bool(c.outbound), "reason": .string(reason)])
    }

    private func drop(_ c: Connection, reason: String) {
        guard connections.removeValue(forKey: c.id) != nil else { return }
        byFD[c.fd] = nil
        loop.unregister(c.fd)
        close(c.fd)
        let now = EventLoop.now()
        if c.peer != nil {
            // A session that ends (timeout, close) in the middle of a frame received a cut
            // frame: refused like a forged one, and counted.
            if c.channel.endsMidFrame {
                log.warn("frame-dropped", ["peer": .string(c.nodeID?.description ?? "?"), "error": .string("the session ended inside a frame (\(reason))")])
                droppedFrames["truncated", default: 0] += 1
            }
            execute(engine.disconnected(c.id, now: now, reason: reason))
        } else if let wanted = c.wantedPeer {
            engine.dialFailed(wanted, now: now, reason: reason)
        }
    }
}

extension Node {
    /// A short, bounded label for a failed connection (metrics must not grow with free text).
    static func failureReason(_ error: any Error) -> String {
        if let e = error as? CryptoError { return "\(e.code)" }
        return "other"
    }

    /// Why a frame of an established session was refused: `auth`, `replay`, `malformed` or
    /// `other` (bounded: metric labels). A session that ends inside a frame counts `truncated`.
    static func frameReason(_ error: any Error) -> String {
        guard let e = error as? CryptoError else { return "other" }
        switch e.code {
        case .authenticationFailed: return "auth"
        case .replayed: return "replay"
        case .malformedMessage, .invalidArgument: return "malformed"
        default: return "\(e.code)"
        }
    }

    /// Blocks SIGINT and SIGTERM for the process and handles them on the loop through a
    /// signalfd: the first one shuts down gracefully.
    /// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts later: call
    /// first thing, before the store starts its sync thread.
    public static func blockTerminationSignals() throws {
        var mask = terminationSignals
        guard pthread_sigmask(SIG_BLOCK, &mask, nil) == 0 else { throw SystemError("pthread_sigmask") }
    }

    /// Asks the kernel to send this process SIGTERM when `parent` (the thread that started it)
    /// exits — a graceful stop through the signalfd. False if `parent` is already gone.
    public static func terminateWithParent(_ parent: Int32) -> Bool {
        clinux_exit_with_parent(SIGTERM, parent) != 1
    }

    static var terminationSignals: sigset_t {
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        sigaddset(&mask, SIGTERM)
        return mask
    }

    public func handleTerminationSignals() throws {
        try Self.blockTerminationSignals()
        var mask = Self.terminationSignals
        let fd = signalfd(-1, &mask, Int32(SFD_NONBLOCK | SFD_CLOEXEC))
        guard fd >= 0 else { throw SystemError("signalfd") }
        try loop.register(fd, events: UInt32(EPOLLIN.rawValue)) { [unowned self] _ in
            var info = signalfd_siginfo()
            _ = read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
            self.log.info("signal", ["signal": .uint(UInt64(info.ssi_signo))])
            self.stop()
        }
    }
}
