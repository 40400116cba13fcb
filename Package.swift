// swift-tools-version:6.2
import Foundation
import PackageDescription

/// Upcoming language features every target opts into (one place, one loop).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The CRDT core's release builds skip the runtime exclusivity checks, as the Swift standard
/// library's do: about 10 dynamic access checks per text edit were a fifth of the replay time
/// (Docs/PERFORMANCE.md, "Text"). Static enforcement stays, and debug builds — every test,
/// law and property run — keep the runtime checks; so do the fuzzers (`Fuzz/run.sh` sets
/// LATTICE_EXCLUSIVITY_CHECKS=1).
let crdtSettings: [SwiftSetting] =
    ProcessInfo.processInfo.environment["LATTICE_EXCLUSIVITY_CHECKS"] == "1"
    ? [] : [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Lattice",
    products: [
        .library(name: "LatticeCRDT", targets: ["LatticeCRDT"]),
        .library(name: "LatticeCrypto", targets: ["LatticeCrypto"]),
        .library(name: "LatticeStore", targets: ["LatticeStore"]),
        .library(name: "LatticeSync", targets: ["LatticeSync"]),
        .library(name: "LatticeSimulation", targets: ["LatticeSimulation"]),
        .library(name: "LatticeNode", targets: ["LatticeNode"]),
        .library(name: "LatticeAPI", targets: ["LatticeAPI"]),
        .executable(name: "lattice", targets: ["lattice"]),
    ],
    dependencies: [],
    targets: [
        // The system C library libsodium (Debian: libsodium-dev). Only LatticeCrypto imports it.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // Pure CRDT values and the binary codec: no I/O, no crypto, no Foundation.
        .target(name: "LatticeCRDT", swiftSettings: crdtSettings),
        // Keys, Noise handshake, stream/datagram ciphers, replay window, beacons.
        .target(name: "LatticeCrypto", dependencies: ["CSodium"]),
        // Durable log segments, snapshots, recovery, per-peer watermarks.
        .target(name: "LatticeStore", dependencies: ["CCRC32C", "LatticeCRDT"]),
        // CRC-32C with the CPU's crc32 instruction (the store's record checksums).
        .target(name: "CCRC32C"),
        // The sans-I/O replication engine: protocol messages, sessions, anti-entropy, gossip.
        .target(name: "LatticeSync", dependencies: ["LatticeCRDT", "LatticeStore"]),
        // Deterministic cluster simulator: engines over a virtual clock and network.
        .target(name: "LatticeSimulation", dependencies: ["LatticeCRDT", "LatticeStore", "LatticeSync"]),
        // The real node: epoll loop, sockets, secure channels, discovery; drives engine and store.
        .target(name: "LatticeNode", dependencies: ["CLinux", "LatticeCRDT", "LatticeCrypto", "LatticeStore", "LatticeSync"]),
        // epoll, eventfd, signalfd, accept4 and C's stdout, which the Glibc module does not export
        // (or not as concurrency-safe).
        .target(name: "CLinux"),
        // The node's commands and its HTTP API (routes, change feed, metrics, status page), run
        // inside a node or on a stopped node's data directory; the executable parses and starts.
        .target(name: "LatticeAPI", dependencies: ["CLinux", "LatticeCRDT", "LatticeCrypto", "LatticeStore", "LatticeSync", "LatticeNode"]),
        .executableTarget(
            name: "lattice",
            dependencies: ["LatticeCRDT", "LatticeCrypto", "LatticeStore", "LatticeSync", "LatticeSimulation", "LatticeNode", "LatticeAPI"]
        ),
        .testTarget(name: "LatticeCRDTTests", dependencies: ["LatticeCRDT"]),
        .testTarget(name: "LatticeSyncTests", dependencies: ["LatticeCRDT", "LatticeStore", "LatticeSync", "LatticeSimulation"]),
        .testTarget(
            name: "LatticeCryptoTests",
            dependencies: ["LatticeCrypto"],
            exclude: ["Interop"],
            resources: [.copy("Vectors")]
        ),
        .testTarget(name: "LatticeStoreTests", dependencies: ["LatticeStore", "LatticeCRDT"]),
        .testTarget(name: "LatticeCLITests", dependencies: ["lattice", "LatticeStore", "LatticeCRDT"]),
        .testTarget(name: "LatticeAPITests", dependencies: ["LatticeAPI", "LatticeCRDT", "LatticeCrypto", "LatticeNode", "LatticeStore", "LatticeSync"]),
        .testTarget(name: "LatticeNodeTests", dependencies: ["LatticeCRDT", "LatticeCrypto", "LatticeNode", "LatticeStore", "LatticeSync"]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + strictSettings
}
