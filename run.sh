#!/usr/bin/env bash
# Runs Lattice on a fresh Debian machine with Swift: installs libsodium-dev if it is missing,
# builds the release binary, and runs `lattice` with the given arguments (default: `help`).
# The data directory is ~/.lattice unless --data DIR or LATTICE_DATA says otherwise.
set -euo pipefail
cd "$(dirname "$0")"
source ./.ci/deps.sh
lattice_install_run_deps
swift build -c release --product lattice >&2
exec .build/release/lattice "${@:-help}"
