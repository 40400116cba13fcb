#!/usr/bin/env bash
# Runs Lattice on a fresh Debian machine with Swift: installs libsodium-dev if it is missing and
# builds the release binary. With arguments it runs `lattice ARGS…`; without, it starts the node's
# data directory (~/.lattice, or --data/LATTICE_DATA): `lattice init` on first use, then
# `lattice status`. (`lattice run`, the networked daemon, arrives with issue 6.)
set -euo pipefail
cd "$(dirname "$0")"
source ./.ci/deps.sh
lattice_install_run_deps
swift build -c release --product lattice >&2
bin=.build/release/lattice
if [ "$#" -gt 0 ]; then exec "$bin" "$@"; fi
if ! "$bin" status >/dev/null 2>&1; then "$bin" init; fi
exec "$bin" status
