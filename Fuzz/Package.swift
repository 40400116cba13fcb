// swift-tools-version:6.2
// libFuzzer harnesses for Lattice: one executable per folder under Sources/.
// Build: swift build --sanitize=fuzzer --sanitize=address   (see Fuzz/run.sh)
import Foundation
import PackageDescription

let harnesses = ((try? FileManager.default.contentsOfDirectory(atPath: Context.packageDirectory + "/Sources")) ?? [])
    .filter { !$0.hasPrefix(".") }
    .sorted()

/// The parent package's identity is its folder name (a path dependency), whatever the clone is called.
let parent = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "LatticeFuzz",
    dependencies: [.package(path: "..")],
    targets: harnesses.map { name in
        .executableTarget(
            name: name,
            dependencies: [
                .product(name: "LatticeCRDT", package: parent),
                .product(name: "LatticeCrypto", package: parent),
                .product(name: "LatticeStore", package: parent),
                .product(name: "LatticeSync", package: parent),
                .product(name: "LatticeSimulation", package: parent),
                .product(name: "LatticeNode", package: parent),
            ],
            path: "Sources/\(name)",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    }
)
