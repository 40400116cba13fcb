#if canImport(Glibc)
    import Glibc
#endif
import CLinux
import LatticeCrypto
import LatticeStore

/// LAN discovery: sealed beacons (`Docs/SECURITY.md`, "Beacons") over UDP to the IPv4 discovery
/// multicast group and each subnet's broadcast address, and to the IPv6 link-local group where the
/// host has IPv6. A beacon is only a hint: it names a node and its TCP port; the handshake decides.
///
/// Runs on the node's loop: readiness callbacks read datagrams, a timer re-sends every
/// `interval` ms (±20 % jitter) and joins the group on interfaces that appeared since.
final class Discovery {
    /// A beacon that authenticated and passed the replay filter, with the address to dial.
    typealias Found = (Beacon, SocketAddress) -> Void

    /// What discovery saw (for logs and tests).
    struct Counters {
        var sent = 0, received = 0, accepted = 0, own = 0, unauthenticated = 0, malformed = 0, stale = 0, replayed = 0
    }

    private let loop: EventLoop
    private let sealer: BeaconSealer
    private var filter = BeaconFilter()
    private let node: NodeID
    private let tcpPort: UInt16
    private let port: UInt16
    private let interval: UInt64
    private let instance = UInt64.random(in: 0...UInt64.max)
    private var sockets: [(fd: Int32, family: Int32)] = []
    private let found: Found
    private let log: NodeLog
    private var lastReply: UInt64 = 0
    private var stopped = false
    private(set) var counters = Counters()

    /// Opens the discovery sockets (IPv4 required, IPv6 when available) on the loop.
    init(loop: EventLoop, keyRing: KeyRing, node: NodeID, tcpPort: UInt16, port: UInt16, interval: UInt64, log: NodeLog, found: @escaping Found) throws {
        self.loop = loop
        sealer = try BeaconSealer(keyRing: keyRing)
        self.node = node
        self.tcpPort = tcpPort
        self.port = port
        self.interval = interval
        self.log = log
        self.found = found
        let v4 = clinux_discovery_socket(AF_INET, port)
        guard v4 >= 0 else { throw SystemError("discovery socket (UDP port \(port))") }
        sockets.append((v4, AF_INET))
        let v6 = clinux_discovery_socket(AF_INET6, port)
        if v6 >= 0 { sockets.append((v6, AF_INET6)) }
        for s in sockets {
            try loop.register(s.fd, events: UInt32(EPOLLIN.rawValue)) { [unowned self] _ in self.readAll(s.fd) }
        }
    }

    deinit { close() }

    /// Sends the first beacon now and schedules the rest.
    func start() {
        announce()
        scheduleNext()
    }

    /// Closes the sockets (no more beacons).
    func close() {
        stopped = true
        for s in sockets {
            loop.unregister(s.fd)
            Glibc.close(s.fd)
        }
        sockets.removeAll()
    }

    private func scheduleNext() {
        let jitter = interval / 5
        let delay = interval - jitter + UInt64.random(in: 0...(2 * jitter))
        loop.schedule(after: delay) { [weak self] in
            guard let self, !self.stopped else { return }
            for s in self.sockets { _ = clinux_discovery_join(s.fd, s.family) }
            self.announce()
            self.scheduleNext()
        }
    }

    /// Seals a fresh beacon and sends it on every interface.
    private func announce() {
        let beacon = Beacon(nodeID: node, tcpPort: tcpPort, udpPort: port, instance: instance, timestamp: ReplicaStore.wallMilliseconds())
        guard let sealed = try? sealer.seal(beacon) else {
            log.error("discovery", ["error": .string("cannot seal a beacon")])
            return
        }
        var total = 0
        for s in sockets {
            let n = sealed.withUnsafeBytes { clinux_discovery_send(s.fd, s.family, $0.baseAddress, $0.count, port) }
            if n > 0 { total += Int(n) }
        }
        counters.sent += total
        if total == 0 { log.debug("discovery", ["note": .string("no interface to announce on")]) }
    }

    private func readAll(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 512)
        var host = [CChar](repeating: 0, count: 96)
        // A bounded number per wake-up: a flood cannot starve the loop.
        for _ in 0..<64 {
            let n = buffer.withUnsafeMutableBytes { b in
                host.withUnsafeMutableBufferPointer { h in clinux_recv_from(fd, b.baseAddress, b.count, h.baseAddress, h.count) }
            }
            if n < 0 { return }
            counters.received += 1
            // MSG_TRUNC reports the real length: anything but a beacon's size is dropped unread.
            guard n == BeaconSealer.sealedLength else {
                counters.malformed += 1
                continue
            }
            receive(Array(buffer[0..<n]), from: cText(host))
        }
    }

    private func receive(_ datagram: [UInt8], from host: String) {
        let beacon: Beacon
        do { beacon = try sealer.open(datagram) } catch {
            counters.unauthenticated += 1
            log.debug("beacon-dropped", ["from": .string(host), "reason": .string("\(error)")])
            return
        }
        if beacon.nodeID == node {
            counters.own += 1
            return
        }
        switch filter.admit(beacon, now: ReplicaStore.wallMilliseconds()) {
        case .accept: break
        case .stale:
            counters.stale += 1
            log.debug("beacon-dropped", ["from": .string(host), "reason": .string("stale (clock skew over 30 s)")])
            return
        case .replayed, .overloaded:
            counters.replayed += 1
            return
        }
        counters.accepted += 1
        found(beacon, SocketAddress(host: host, port: beacon.tcpPort))
    }

    /// Answers a newly seen node at once (at most once a second), so that a node that just
    /// started finds every peer within one round trip instead of one interval.
    func greet() {
        let now = EventLoop.now()
        guard now >= lastReply + 1_000 else { return }
        lastReply = now
        announce()
    }
}
