#!/usr/bin/env python3
"""Tests/Campaign/long-offline.py [CHANGES] — a node that was offline while its peer wrote
CHANGES changes (default 1,000,000) comes back (Docs/RELIABILITY.md, "Long offline").
With COMPACT=1, A compacts its log while writing: B is then behind compaction.

Node A and node B (one network) are created; while both are stopped — B "offline" — A writes
CHANGES changes into its log (`lattice crash-writer`, one change per record, fsync off for
speed). Then both run on loopback (release build) and B catches up from A's log. Prints the time
until B holds every document, the sync bytes both ways (A's /metrics, `lattice_peer_bytes_total`),
bytes per change, and B's RSS. Exit 1 if B is not complete within 10 minutes.
"""
import json, os, re, shutil, socket, subprocess, sys, tempfile, time

CHANGES = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
# COMPACT=1: A snapshots and compacts every CHANGES/10 changes while writing, so B (never seen,
# no watermark) is behind compaction and needs a state catch-up instead of the log.
COMPACT = os.environ.get("COMPACT") == "1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LATTICE_BIN", os.path.join(ROOT, ".build/release/lattice"))
if not os.access(BIN, os.X_OK):
    subprocess.run(["swift", "build", "-c", "release", "--product", "lattice"], cwd=ROOT, check=True)
tmp = tempfile.mkdtemp(prefix="lattice-offline-")
port = 33000 + os.getpid() % 2000


def cli(args, data, check=True):
    env = dict(os.environ)
    env.pop("LATTICE_DATA", None)
    r = subprocess.run([BIN] + args + ["--data", data], capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def metrics(data):
    address = open(os.path.join(data, "api.address")).read().strip()
    token = open(os.path.join(data, "api.token")).read().strip()
    host, p = address.rsplit(":", 1)
    with socket.create_connection((host, int(p)), timeout=10) as s:
        s.sendall(f"GET /metrics HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
        body = b""
        while chunk := s.recv(65536):
            body += chunk
    return body.decode(errors="replace")


procs = []
try:
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    a_id = json.loads(cli(["init", "--json", "--fsync", "none"], a).stdout)["node_id"]
    invite = json.loads(cli(["invite", "--json"], a).stdout)["invite"]
    cli(["init", "--json", "--join", invite], b)
    t = time.time()
    with open(os.devnull, "w") as null:
        extra = ["--compact-every", str(max(1, CHANGES // 10)), "--segment-size", str(max(16_384, min(1 << 20, CHANGES * 6)))] if COMPACT else []
        subprocess.run([BIN, "crash-writer", "--data", a, "--count", str(CHANGES), "--prefix", "x"] + extra, stdout=null, check=True)
    written = time.time() - t
    documents = CHANGES + 1  # crash/x-i and crash/counter
    log_a = json.loads(cli(["status", "--json"], a).stdout)["log_bytes"]

    procs.append(subprocess.Popen([BIN, "run", "--data", a, "--listen", f"127.0.0.1:{port}", "--no-discovery", "--api", "127.0.0.1:0", "--log-level", "warn"],
                                  stdout=subprocess.DEVNULL, stderr=open(a + ".log", "w")))
    time.sleep(0.5)
    t0 = time.time()
    procs.append(subprocess.Popen([BIN, "run", "--data", b, "--listen", "127.0.0.1:0", "--no-discovery", "--api", "127.0.0.1:0", "--log-level", "warn",
                                   "--peer", f"{a_id}@127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=open(b + ".log", "w")))
    have = 0
    while time.time() - t0 < 600:
        r = cli(["status", "--json"], b, check=False)
        try:
            have = json.loads(r.stdout)["documents"]
        except (ValueError, KeyError):
            have = 0
        if have >= documents:
            break
        time.sleep(0.2)
    caught_up = time.time() - t0
    text = metrics(a)
    sent = sum(float(v) for v in re.findall(r'^lattice_peer_bytes_total\{[^}]*direction="out"[^}]*\} (\S+)', text, re.M))
    received = sum(float(v) for v in re.findall(r'^lattice_peer_bytes_total\{[^}]*direction="in"[^}]*\} (\S+)', text, re.M))
    rss = 0.0
    with open(f"/proc/{procs[1].pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    catchups = re.findall(r'^lattice_catchups_total\{([^}]*)\} (\S+)', text, re.M)
    print(f"long offline{' (A compacted: B behind compaction)' if COMPACT else ''}: catch-ups {catchups}; A wrote {CHANGES:,} changes in {written:.0f} s ({log_a / 1e6:.1f} MB of log) while B was offline; "
          f"B back: {have:,} of {documents:,} documents after {caught_up:.1f} s ({CHANGES / caught_up:,.0f} changes/s); "
          f"sync bytes A->B {sent / 1e6:.1f} MB, B->A {received / 1e6:.2f} MB ({sent / CHANGES:.1f} B per change); B's RSS {rss:.0f} MiB")
    sys.exit(0 if have >= documents else 1)
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
