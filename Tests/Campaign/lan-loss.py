#!/usr/bin/env python3
"""Tests/Campaign/lan-loss.py [NODES=12] [LOSS_PERCENT=10] [CHANGES=30] — real `lattice run`
processes on a lossy LAN (Docs/RELIABILITY.md, "Whole forwards only over healthy sessions").

Builds NODES network namespaces on one bridge (as `../shared/tools/netns-lan.sh` does; created
and removed here), nftables dropping LOSS % of every host's packets in both directions (this
kernel has no netem, so a packet between two hosts is lost with about twice that chance), and
runs one node per host with static peers (two ring neighbours and two random others, no
discovery). Then it writes CHANGES changes one at a time, each on a random node, and times
each from the write until every node's `lattice watch` printed it. Prints the spread
percentiles. With LATTICE_BIN_B set, runs the same schedule (same seed) with a second binary and
prints both, to compare two builds of the engine.

Usage (root): python3 Tests/Campaign/lan-loss.py [NODES] [LOSS] [CHANGES]. Needs iproute2,
nftables and a release build.
"""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 12
LOSS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
CHANGES = int(sys.argv[3]) if len(sys.argv) > 3 else 30
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
P = "lanls"
SEED = int(os.environ.get("LATTICE_SEED", "7"))


def sh(*args, check=True, input=None):
    return subprocess.run(args, check=check, capture_output=True, text=True, input=input)


def ns(i):
    return f"{P}-h{i}"


def down():
    for i in range(1, N + 1):
        sh("ip", "netns", "del", ns(i), check=False)
    sh("ip", "netns", "del", f"{P}-sw", check=False)


def up():
    down()
    sw = f"{P}-sw"
    sh("ip", "netns", "add", sw)
    sh("ip", "netns", "exec", sw, "ip", "link", "set", "lo", "up")
    sh("ip", "netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up")
    rules = [f"table bridge {P}_loss {{", "  chain forward_imp { type filter hook forward priority 0; policy accept;"]
    for i in range(1, N + 1):
        h = ns(i)
        sh("ip", "netns", "add", h)
        sh("ip", "netns", "exec", h, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "eth0", "netns", h, "type", "veth", "peer", "name", f"v{i}", "netns", sw)
        sh("ip", "netns", "exec", sw, "ip", "link", "set", f"v{i}", "master", "br0")
        sh("ip", "netns", "exec", sw, "ip", "link", "set", f"v{i}", "up")
        sh("ip", "netns", "exec", h, "ip", "addr", "add", f"10.79.0.{i}/24", "dev", "eth0")
        sh("ip", "netns", "exec", h, "ip", "link", "set", "eth0", "up")
        if LOSS > 0:
            rules.append(f'    iifname "v{i}" numgen random mod 100 < {LOSS} counter drop')
            rules.append(f'    oifname "v{i}" numgen random mod 100 < {LOSS} counter drop')
    rules += ["  }", "}"]
    sh("ip", "netns", "exec", sw, "nft", "-f", "-", input="\n".join(rules) + "\n")


def run(binary, label):
    rng = random.Random(SEED)
    tmp = tempfile.mkdtemp(prefix="lattice-lanloss-")
    procs, watchers = [], []
    arrivals = {}  # document → {node: monotonic time}
    lock = threading.Lock()

    def cli(i, *args, check=True):
        env = dict(os.environ)
        env.pop("LATTICE_DATA", None)
        r = subprocess.run(["ip", "netns", "exec", ns(i + 1), binary, *args, "--data", dirs[i]], capture_output=True, text=True, env=env)
        if check and r.returncode != 0:
            raise SystemExit(f"{label}: {' '.join(args)} on node {i}: {r.stderr.strip()}")
        return r

    try:
        dirs = [os.path.join(tmp, f"n{i}") for i in range(N)]
        ids = [json.loads(cli(0, "init", "--json").stdout)["node_id"]]
        invite = json.loads(cli(0, "invite", "--json").stdout)["invite"]
        for i in range(1, N):
            ids.append(json.loads(cli(i, "init", "--json", "--join", invite).stdout)["node_id"])
        for i in range(N):
            peers = {(i - 1) % N, (i + 1) % N}
            while len(peers) < min(4, N - 1):
                peers.add(rng.randrange(N))
            peers.discard(i)
            args = ["ip", "netns", "exec", ns(i + 1), binary, "run", "--data", dirs[i], "--listen", f"10.79.0.{i + 1}:7100",
                    "--no-discovery", "--log-level", "warn"]
            for p in sorted(peers):
                args += ["--peer", f"{ids[p]}@10.79.0.{p + 1}:7100"]
            procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(dirs[i] + ".log", "w")))
        time.sleep(3)

        def watch(i):
            w = subprocess.Popen(["ip", "netns", "exec", ns(i + 1), binary, "watch", "--json", "--data", dirs[i]],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            watchers.append(w)
            for line in w.stdout:
                try:
                    docs = [d.get("id") for d in json.loads(line).get("documents", [])]
                except (ValueError, AttributeError):
                    continue
                now = time.monotonic()
                with lock:
                    for doc in docs:
                        arrivals.setdefault(doc, {}).setdefault(i, now)
        threads = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(N)]
        for t in threads:
            t.start()
        time.sleep(5)  # sessions up, watchers attached

        spreads, missing = [], 0
        for k in range(CHANGES):
            origin = rng.randrange(N)
            doc = f"probe{k}"
            t0 = time.monotonic()
            cli(origin, "put", "knowledge", doc, f"title=change {k} on node {origin}")
            while time.monotonic() - t0 < 20:
                with lock:
                    got = len(arrivals.get(doc, {}))
                if got == N:
                    break
                time.sleep(0.005)
            with lock:
                times = arrivals.get(doc, {})
                if len(times) == N:
                    spreads.append((max(times.values()) - t0) * 1000)
                else:
                    missing += 1
            time.sleep(0.3)
        stalls = 0
        fetch = ("import sys, urllib.request; d = sys.argv[1]; a = open(d + '/api.address').read().strip(); "
                 "t = open(d + '/api.token').read().strip(); r = urllib.request.Request('http://' + a + '/metrics', "
                 "headers={'Authorization': 'Bearer ' + t}); print(urllib.request.urlopen(r, timeout=5).read().decode())")
        for i in range(N):
            r = subprocess.run(["ip", "netns", "exec", ns(i + 1), sys.executable, "-c", fetch, dirs[i]], capture_output=True, text=True)
            for line in r.stdout.splitlines():
                if line.startswith("lattice_stream_stalls_total "):
                    stalls += int(float(line.split()[1]))
        spreads.sort()
        q = lambda p: spreads[min(len(spreads) - 1, int(p * len(spreads)))] if spreads else float("nan")
        print(f"| {label} | {N} | {LOSS} % per port | {len(spreads)} of {CHANGES} | {q(0.5):.0f} | {q(0.9):.0f} | "
              f"{spreads[-1] if spreads else float('nan'):.0f} | {statistics.mean(spreads) if spreads else float('nan'):.0f} | {stalls} |")
        return missing == 0
    finally:
        for p in procs + watchers:
            p.terminate()
        for p in procs + watchers:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, nftables)")
    a = os.environ.get("LATTICE_BIN", os.path.join(ROOT, ".build/release/lattice"))
    b = os.environ.get("LATTICE_BIN_B")
    up()
    try:
        print(f"kernel {os.uname().release}, seed {SEED}; ms from the write until every node's `lattice watch` printed it")
        print("| build | nodes | loss | changes everywhere | p50 ms | p90 ms | max ms | mean ms | stalls reported |")
        print("|---|---|---|---|---|---|---|---|---|")
        ok = run(a, os.environ.get("LABEL_A", "A"))
        if b:
            ok = run(b, os.environ.get("LABEL_B", "B")) and ok
    finally:
        down()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
