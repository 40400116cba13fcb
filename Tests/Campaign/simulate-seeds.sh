#!/usr/bin/env bash
# Tests/Campaign/simulate-seeds.sh [SEEDS] [FIRST] — the simulation campaign of Docs/RELIABILITY.md.
#
# Runs SEEDS seeds (default 10000) of `lattice simulate` with 20 % datagram loss, 10 % duplication,
# stream retransmission delays (reordering), 2 partitions, 2 crashes with restarts and compaction
# every 2.5 virtual seconds, on 5 nodes ($NODES: another number; up to 32 every skipped duplicate is
# also checked for causality) for 20 virtual seconds; the seeds are split over the three
# topologies and over $JOBS parallel processes (default: every core). Prints seeds run, ok,
# divergent, lost, and the wall time; every failing seed's replay command goes to
# Tests/Campaign/failing-seeds.txt (kept as a regression case). Exit 1 when any seed failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-10000}
first=${2:-1}
jobs=${JOBS:-$(nproc)}
bin=.build/release/lattice
[ -x "$bin" ] || swift build -c release --product lattice >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s.%N)
topologies=(full ring random)
per_topology=$(( (seeds + 2) / 3 ))
k=0
pids=()
for t in "${topologies[@]}"; do
    base=$(( first + k * per_topology ))
    count=$(( seeds - k * per_topology < per_topology ? seeds - k * per_topology : per_topology ))
    k=$((k + 1))
    [ "$count" -le 0 ] && continue
    per_job=$(( (count + jobs - 1) / jobs ))
    for j in $(seq 0 $((jobs - 1))); do
        s=$(( base + j * per_job ))
        n=$(( count - j * per_job < per_job ? count - j * per_job : per_job ))
        [ "$n" -le 0 ] && continue
        # One batch per job and topology; the batches of one job run one after the other.
        echo "$t $s $n" >> "$out/plan-$j"
    done
done
for j in $(seq 0 $((jobs - 1))); do
    [ -f "$out/plan-$j" ] || continue
    (
        while read -r t s n; do
            "$bin" simulate --nodes "${NODES:-5}" --seed "$s" --seeds "$n" --duration 20000 --loss 0.2 --dup 0.1 \
                --partitions 2 --crashes 2 --compact-every 2500 --topology "$t" --json >> "$out/run-$j.jsonl" 2>> "$out/run-$j.err"
        done < "$out/plan-$j"
    ) &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
end=$(date +%s.%N)
python3 - "$out" "$start" "$end" <<'PY'
import glob, json, sys
out, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
runs = []
for f in sorted(glob.glob(out + "/run-*.jsonl")):
    for line in open(f):
        line = line.strip()
        if line.startswith("{"):
            runs.append(json.loads(line))
failing = [r for r in runs if not r["ok"]]
divergent = [r for r in failing if any("differs" in v or "did not converge" in v for v in r["violations"])]
lost = [r for r in failing if any("missing" in v for v in r["violations"])]
with open("Tests/Campaign/failing-seeds.txt", "a") as f:
    for r in failing:
        f.write(r["replay"] + "\n")
print(f"seeds {len(runs)}  ok {len(runs) - len(failing)}  divergent {len(divergent)}  lost {len(lost)}  "
      f"failing {len(failing)}  wall {end - start:.0f} s  "
      f"crashes {sum(r['crashes'] for r in runs)}  partitions {sum(r['partitions'] for r in runs)}  "
      f"messages {sum(r['messages'] for r in runs)}")
sys.exit(1 if failing else 0)
PY
