#!/usr/bin/env bash
# Runs every Lattice test. On a fresh Debian machine with Swift it first installs what the
# tests need (libsodium-dev, pkg-config, python3 packages for interop tests, headless Chromium
# for the status page test).
set -euo pipefail
cd "$(dirname "$0")"
source ./.ci/deps.sh
lattice_install_test_deps
swift build --build-tests -Xswiftc -warnings-as-errors
swift test --skip-build --parallel --num-workers 2 "$@"
# Multi-host LAN test in network namespaces (discovery, loss, duplication, partition, capture
# check): runs where `ip netns` works (root), otherwise says why it skipped.
if [ "$#" = 0 ]; then
    rc=0
    Tests/LAN/lan-test.sh "$(swift build --show-bin-path)/lattice" || rc=$?
    if [ "$rc" = 77 ]; then echo "test.sh: LAN namespace test skipped (reason above)" >&2; elif [ "$rc" != 0 ]; then exit "$rc"; fi
    # A few seconds of each reliability campaign script (Docs/RELIABILITY.md, "CI slices"),
    # on the debug binary: long offline (from the log and behind compaction), real processes on
    # loopback, gossip at 16 nodes.
    bin="$(swift build --show-bin-path)/lattice"
    LATTICE_BIN="$bin" python3 Tests/Campaign/long-offline.py 2000
    LATTICE_BIN="$bin" COMPACT=1 python3 Tests/Campaign/long-offline.py 2000
    LATTICE_BIN="$bin" python3 Tests/Campaign/loopback-nodes.py 4
    LATTICE_BIN="$bin" DURATION=5000 python3 Tests/Campaign/gossip-scale.py 16
    # The status page of two real nodes in headless Chromium (DOM and PNG); skips without chromium.
    rc=0
    Tests/StatusPage/status-page-test.sh "$(swift build --show-bin-path)/lattice" || rc=$?
    if [ "$rc" = 77 ]; then echo "test.sh: status page test skipped (reason above)" >&2; elif [ "$rc" != 0 ]; then exit "$rc"; fi
fi
