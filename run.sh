#!/usr/bin/env bash
# Runs Lattice on a fresh Debian machine with Swift: installs libsodium-dev if it is missing and
# builds the release binary. With arguments it runs `lattice ARGS…`; without, it runs the node on
# its data directory (~/.lattice, or LATTICE_DATA): `lattice init` on first use, `lattice status`,
# then `lattice run` in the foreground (LAN discovery on, listening on 0.0.0.0:7946; Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")"
source ./.ci/deps.sh
lattice_install_run_deps
swift build -c release --product lattice >&2
bin=.build/release/lattice
if [ "$#" -gt 0 ]; then exec "$bin" "$@"; fi
data="${LATTICE_DATA:-$HOME/.lattice}"
if [ ! -f "$data/identity.key" ]; then "$bin" init; fi
"$bin" status
exec "$bin" run
