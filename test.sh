#!/usr/bin/env bash
# Runs every Lattice test. On a fresh Debian machine with Swift it first installs what the
# tests need (libsodium-dev, pkg-config, python3 packages for interop tests).
set -euo pipefail
cd "$(dirname "$0")"
source ./.ci/deps.sh
lattice_install_test_deps
swift build --build-tests -Xswiftc -warnings-as-errors
swift test --skip-build --parallel --num-workers 2 "$@"
