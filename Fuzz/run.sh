#!/usr/bin/env bash
# Fuzz/run.sh HARNESS SECONDS — builds the libFuzzer harnesses and runs one.
# Crashers land in Fuzz/artifacts/HARNESS/; minimise one with
#   Fuzz/.build-fuzz-HARNESS/release/HARNESS -minimize_crash=1 -runs=100000 CRASHFILE
# and copy it into Fuzz/FailCases/HARNESS/ so that `swift test` replays it.
set -euo pipefail
cd "$(dirname "$0")"
harness=${1:?usage: Fuzz/run.sh HARNESS SECONDS}
seconds=${2:-60}
# swiftc keeps only the LAST -sanitize= flag, and `swift build --sanitize=fuzzer --sanitize=address`
# passes two: the code then gets ASan but no coverage counters, and libFuzzer runs blind. Pass one
# combined flag as well (SwiftPM still needs --sanitize to link a libFuzzer executable). Release
# mode, one scratch folder per harness. No manifest cache: the manifest lists the harness folders.
scratch=".build-fuzz-$harness"
LATTICE_EXCLUSIVITY_CHECKS=1 swift build -c release --manifest-cache none --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address --scratch-path "$scratch" --product "$harness" >&2
bin="$scratch/release/$harness"
sancov=$(readelf -S "$bin" | grep -c sancov || true)
asan=$(nm "$bin" | grep -c __asan_report || true)
if [ "$sancov" = 0 ] || [ "$asan" = 0 ]; then
    echo "run.sh: $bin has no coverage or no ASan instrumentation; rm -rf $scratch and retry" >&2
    exit 1
fi
mkdir -p "corpus/$harness" "artifacts/$harness"
export SWIFT_BACKTRACE=enable=no
# Seed from the replayed fail cases too, where the harness has any.
seeds=("corpus/$harness")
[ -d "FailCases/$harness" ] && seeds+=("FailCases/$harness")
exec "$bin" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="artifacts/$harness/" "${seeds[@]}"
