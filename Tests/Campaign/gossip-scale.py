#!/usr/bin/env python3
"""Tests/Campaign/gossip-scale.py [NODES ...] — gossip at scale (Docs/RELIABILITY.md, "Scale").

For each N (default 16 64 256 512) runs `lattice simulate` (release build) on the full topology
(every node knows every other, as on a LAN after discovery) with faults — 20 % loss, 10 %
duplication, 2 partitions, 2 crashes — for DURATION virtual ms (default 60000), at a cluster-wide
write rate of RATE changes/s (default 10: each node writes RATE/N per second). Prints, per N:
per-change spread (virtual ms and forwarding hops until every node held a sampled change:
p50/p90/max), bytes every node sent per change over the change's own bytes, the mean view
(sessions a change is forwarded over), the targets, and the simulator's wall time and peak RSS.
Environment: DURATION, RATE, TOPOLOGY (full|random), FAULTS=0 (no faults), LATTICE_BIN.
Exit 1 if a run fails its invariants (divergence, a lost change).
"""
import json, math, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LATTICE_BIN", os.path.join(ROOT, ".build/release/lattice"))
if not os.access(BIN, os.X_OK):
    subprocess.run(["swift", "build", "-c", "release", "--product", "lattice"], cwd=ROOT, check=True)
sizes = [int(a) for a in sys.argv[1:]] or [16, 64, 256, 512]
duration = int(os.environ.get("DURATION", "60000"))
rate = float(os.environ.get("RATE", "10"))
topology = os.environ.get("TOPOLOGY", "full")
faults = os.environ.get("FAULTS", "1") != "0"
failed = False
print(f"topology {topology}, {duration / 1000:g} virtual s, {rate:g} changes/s in all, "
      + ("20 % loss, 10 % dup, 2 partitions, 2 crashes" if faults else "no faults"))
print("| nodes | spread ms p50/p90/max | hops p50/p90/max | ≤ 2·log2 N | bytes/node ÷ payload | view | ≤ 1.2 × view | wall s | RSS MiB | ok |")
print("|---|---|---|---|---|---|---|---|---|---|")
for n in sizes:
    args = [BIN, "simulate", "--nodes", str(n), "--topology", topology, "--duration", str(duration),
            "--writes", f"{rate / n:.6f}", "--seed", "4242", "--json"]
    if faults:
        args += ["--loss", "0.2", "--dup", "0.1", "--partitions", "2", "--crashes", "2"]
    start = time.time()
    r = subprocess.run(["/usr/bin/time", "-f", "RSS %M"] + args, capture_output=True, text=True)
    wall = time.time() - start
    rss = int(next((l.split()[1] for l in r.stderr.splitlines() if l.startswith("RSS ")), "0")) / 1024
    try:
        d = json.loads(r.stdout.splitlines()[0])
    except (IndexError, json.JSONDecodeError):
        print(f"| {n} | run failed: {r.stderr.strip()[-300:]} |")
        failed = True
        continue
    s = d["spread"]
    bound = 2 * math.log2(n)
    ratio = d["bytes_per_node_per_payload_byte"]
    view = d["mean_sessions"]
    ok = d["ok"] and s["incomplete"] == 0
    failed |= not d["ok"]
    print(f"| {n} | {s['ms_p50']}/{s['ms_p90']}/{s['ms_max']} | {s['hops_p50']}/{s['hops_p90']}/{s['hops_max']} "
          f"| {bound:.0f} {'met' if (s['hops_max'] or 0) <= bound else 'MISSED'} | {ratio:.2f} | {view:.1f} "
          f"| {1.2 * view:.1f} {'met' if ratio <= 1.2 * view else 'MISSED'} | {wall:.1f} | {rss:.0f} | {'yes' if ok else 'NO: ' + '; '.join(d['violations'][:2])} |",
          flush=True)
    if not d["ok"]:
        print("  replay:", d["replay"])
sys.exit(1 if failed else 0)
