#!/usr/bin/env bash
# Tests/Campaign/run-all.sh [OUT] — the whole reliability campaign of Docs/RELIABILITY.md, one
# command (hours on 2 cores). Each campaign's output goes to OUT/NAME.log (default
# /tmp/lattice-campaign-DATE); a summary line per campaign goes to stdout. FUZZ_SECONDS (default
# 3600) is each fuzz harness's budget. Exit 1 when any campaign failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/lattice-campaign-$(date +%Y%m%d-%H%M)}
mkdir -p "$out"
fuzz_seconds=${FUZZ_SECONDS:-3600}
swift build -c release --product lattice >&2 || exit 1
swift build --build-tests >&2 || exit 1
export LATTICE_BIN=$PWD/.build/release/lattice
failed=0
run() {
    local name=$1
    shift
    local start=$(date +%s)
    if "$@" >"$out/$name.log" 2>&1; then status=ok; else status=FAILED; failed=1; fi
    echo "$name: $status in $(( $(date +%s) - start )) s ($out/$name.log)"
}
run simulation Tests/Campaign/simulate-seeds.sh 10000
run crash env LATTICE_CRASH_CYCLES=1000 swift test --skip-build --filter CrashTests
run log-damage env LATTICE_DAMAGE_SEEDS=10000 swift test --skip-build --filter randomDamageCampaign
run full-disk swift test --skip-build --filter FullDiskTests
run hostile-network env LATTICE_HOSTILE_SCALE=50 swift test --skip-build --filter "HostileNetworkTests|TamperedSessionTests"
run loopback-32 python3 Tests/Campaign/loopback-nodes.py 32
run long-offline python3 Tests/Campaign/long-offline.py 1000000
run long-offline-compacted env COMPACT=1 python3 Tests/Campaign/long-offline.py 1000000
run gossip-scale python3 Tests/Campaign/gossip-scale.py 16 64 256 512
run gossip-scale-no-faults env FAULTS=0 python3 Tests/Campaign/gossip-scale.py 16 64 256 512
run tcp-loss python3 Tests/Campaign/tcp-loss.py 20 30 20,100
run lan-loss python3 Tests/Campaign/lan-loss.py 16 10 40
for harness in $(ls Fuzz/Sources); do
    run "fuzz-$harness" env SWIFT_BACKTRACE=enable=no Fuzz/run.sh "$harness" "$fuzz_seconds"
done
exit $failed
