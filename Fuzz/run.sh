#!/usr/bin/env bash
# Fuzz/run.sh HARNESS SECONDS — builds the libFuzzer harnesses and runs one.
# Crashers land in Fuzz/artifacts/HARNESS/; minimise one with
#   Fuzz/.build-fuzz-HARNESS/release/HARNESS -minimize_crash=1 -runs=100000 CRASHFILE
# and copy it into Fuzz/FailCases/HARNESS/ so that `swift test` replays it.
set -euo pipefail
cd "$(dirname "$0")"
harness=${1:?usage: Fuzz/run.sh HARNESS SECONDS}
seconds=${2:-60}
# One scratch folder per harness, release mode. On this toolchain the coverage instrumentation
# (__sancov sections) is only emitted reliably for the first product built in a fresh scratch
# folder, in release mode; without it libFuzzer runs blind. So: a folder per harness, and a check.
scratch=".build-fuzz-$harness"
swift build -c release --sanitize=fuzzer --sanitize=address --scratch-path "$scratch" --product "$harness" >&2
bin="$scratch/release/$harness"
if ! readelf -S "$bin" | grep -q sancov; then
    echo "run.sh: $bin has no coverage instrumentation; rm -rf $scratch and retry" >&2
    exit 1
fi
mkdir -p "corpus/$harness" "artifacts/$harness"
export SWIFT_BACKTRACE=enable=no
exec "$bin" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="artifacts/$harness/" "corpus/$harness" "FailCases/$harness"
