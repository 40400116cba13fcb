// swift-tools-version:6.2
import PackageDescription

/// Upcoming language features every target opts into (one place, one loop).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Lattice",
    products: [
        .library(name: "LatticeCRDT", targets: ["LatticeCRDT"]),
        .library(name: "LatticeCrypto", targets: ["LatticeCrypto"]),
        .library(name: "LatticeStore", targets: ["LatticeStore"]),
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
        .target(name: "LatticeCRDT"),
        // Keys, Noise handshake, stream/datagram ciphers, replay window, beacons.
        .target(name: "LatticeCrypto", dependencies: ["CSodium"]),
        // Durable log segments, snapshots, recovery, per-peer watermarks.
        .target(name: "LatticeStore", dependencies: ["LatticeCRDT"]),
        .executableTarget(
            name: "lattice",
            dependencies: ["LatticeCRDT", "LatticeCrypto", "LatticeStore"]
        ),
        .testTarget(name: "LatticeCRDTTests", dependencies: ["LatticeCRDT"]),
        .testTarget(
            name: "LatticeCryptoTests",
            dependencies: ["LatticeCrypto"],
            exclude: ["Interop"],
            resources: [.copy("Vectors")]
        ),
        .testTarget(name: "LatticeStoreTests", dependencies: ["LatticeStore", "LatticeCRDT"]),
        .testTarget(name: "LatticeCLITests", dependencies: ["lattice", "LatticeStore", "LatticeCRDT"]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + strictSettings
}
