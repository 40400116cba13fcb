#!/usr/bin/env bash
# Fuzz/run.sh HARNESS SECONDS — builds the libFuzzer harnesses and runs one.
# Crashers land in Fuzz/artifacts/HARNESS/; minimise one with
#   Fuzz/.build/release/HARNESS -minimize_crash=1 -runs=100000 CRASHFILE
# and copy it into Fuzz/FailCases/HARNESS/ so that `swift test` replays it.
set -euo pipefail
cd "$(dirname "$0")"
harness=${1:?usage: Fuzz/run.sh HARNESS SECONDS}
seconds=${2:-60}
# Release mode: in debug builds the link drops the __sancov sections on this toolchain, and
# libFuzzer then runs blind ("Is the code instrumented for coverage?"). Release keeps them, and
# is faster. Check the log for "Loaded 1 modules (N inline 8-bit counters)".
swift build -c release --sanitize=fuzzer --sanitize=address --product "$harness" >&2
mkdir -p "corpus/$harness" "artifacts/$harness"
export SWIFT_BACKTRACE=enable=no
exec ".build/release/$harness" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="artifacts/$harness/" "corpus/$harness" "FailCases/$harness"
