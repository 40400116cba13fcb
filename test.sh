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
    # The status page of two real nodes in headless Chromium (DOM and PNG); skips without chromium.
    rc=0
    Tests/StatusPage/status-page-test.sh "$(swift build --show-bin-path)/lattice" || rc=$?
    if [ "$rc" = 77 ]; then echo "test.sh: status page test skipped (reason above)" >&2; elif [ "$rc" != 0 ]; then exit "$rc"; fi
fi
