#!/usr/bin/env python3
"""Tests/Campaign/loopback-nodes.py [N] — N real `lattice run` processes on loopback
(Docs/RELIABILITY.md, "Real processes").

Creates N nodes of one network (the first's invite), starts each as `lattice run` (release
build) listening on 127.0.0.1 with static peers — its two ring neighbours and two random others,
no discovery, no API — waits until every node has a live session, writes one change on node 0
and polls every node (`lattice get`, through its control socket) until all hold it. Prints the
time until the change was everywhere, the slowest and median node, and per-node RSS and CPU
time. Exit 1 if a node never got it within 60 s. Needs only loopback.
"""
import json, os, random, shutil, statistics, subprocess, sys, tempfile, threading, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 32
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LATTICE_BIN", os.path.join(ROOT, ".build/release/lattice"))
if not os.access(BIN, os.X_OK):
    subprocess.run(["swift", "build", "-c", "release", "--product", "lattice"], cwd=ROOT, check=True)
rng = random.Random(int(os.environ.get("LATTICE_SEED", "32")))
base_port = 31000 + os.getpid() % 2000
tmp = tempfile.mkdtemp(prefix="lattice-loopback-")


def cli(args, data, check=True):
    env = dict(os.environ)
    env.pop("LATTICE_DATA", None)
    r = subprocess.run([BIN] + args + ["--data", data], capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} on {data}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def proc_stats(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


procs = []
try:
    dirs = [os.path.join(tmp, f"n{i}") for i in range(N)]
    ids = [json.loads(cli(["init", "--json"], dirs[0]).stdout)["node_id"]]
    invite = json.loads(cli(["invite", "--json"], dirs[0]).stdout)["invite"]
    for d in dirs[1:]:
        ids.append(json.loads(cli(["init", "--json", "--join", invite], d).stdout)["node_id"])
    for i, d in enumerate(dirs):
        peers = {(i - 1) % N, (i + 1) % N}
        while len(peers) < min(4, N - 1):
            peers.add(rng.randrange(N))
        peers.discard(i)
        args = [BIN, "run", "--data", d, "--listen", f"127.0.0.1:{base_port + i}", "--no-discovery", "--no-api", "--log-level", "warn"]
        for p in sorted(peers):
            args += ["--peer", f"{ids[p]}@127.0.0.1:{base_port + p}"]
        log = open(d + ".log", "w")
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log))
    started = time.time()

    # Every node has at least one live session.
    def live(d):
        r = cli(["status", "--json"], d, check=False)
        try:
            lp = json.loads(r.stdout).get("live_peers") or []
            return any(p.get("connected") for p in lp) if isinstance(lp, list) else lp > 0
        except ValueError:
            return False
    pending = set(range(N))
    while pending and time.time() - started < 60:
        pending = {i for i in pending if not live(dirs[i])}
        time.sleep(0.2)
    if pending:
        raise SystemExit(f"nodes without a session after 60 s: {sorted(pending)}")
    connected = time.time() - started
    cpu_before = [proc_stats(p.pid)[1] for p in procs]

    # One change on node 0; every node polls for it.
    t0 = time.time()
    cli(["put", "knowledge", "probe", "title=written on node 0"], dirs[0])
    arrived = [None] * N
    arrived[0] = 0.0

    def poll(i):
        while time.time() - t0 < 60:
            if cli(["get", "knowledge", "probe"], dirs[i], check=False).returncode == 0:
                arrived[i] = time.time() - t0
                return
            time.sleep(0.005)
    threads = [threading.Thread(target=poll, args=(i,)) for i in range(1, N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    missing = [i for i, a in enumerate(arrived) if a is None]
    stats = [proc_stats(p.pid) for p in procs]
    rss = [s[0] for s in stats]
    cpu = [s[1] - b for s, b in zip(stats, cpu_before)]
    times = [a for a in arrived[1:] if a is not None]
    print(f"{N} nodes: every node had a session after {connected:.1f} s; one change on node 0 reached "
          f"{len(times)} of {N - 1} others, the last after {max(times) * 1000:.0f} ms (median {statistics.median(times) * 1000:.0f} ms, "
          f"measured by polling `lattice get`, each poll ~ one process start); RSS per node median {statistics.median(rss):.1f} MiB "
          f"(max {max(rss):.1f}); CPU per node during the write and polling median {statistics.median(cpu) * 1000:.0f} ms "
          f"(max {max(cpu) * 1000:.0f} ms); total CPU since start {sum(s[1] for s in stats):.1f} s")
    if missing:
        print(f"never arrived on nodes {missing}")
        sys.exit(1)
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
