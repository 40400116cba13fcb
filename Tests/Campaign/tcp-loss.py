#!/usr/bin/env python3
"""How long real Linux TCP takes to deliver small messages when 20 % of packets are lost.

The simulator's stream model (Docs/SIMULATION.md) charges every lost message a retransmission
timeout of 200 ms (doubling per further loss) and holds everything behind it. This measures
what the kernel actually does, to check that model: two network namespaces on a bridge
(`../shared/tools/netns-lan.sh`-style, created and removed here), nftables dropping LOSS % of
the packets of host 1 in both directions (this kernel has no netem), one TCP connection, a
sender writing a MSG-byte message every INTERVAL ms (as a gossip session does), and the
receiver timing each message from its send (both namespaces share CLOCK_MONOTONIC).

It also checks the node's stall signal (Docs/PROTOCOL.md §5.4, `Node.reportStalls`): every
100 ms the sender applies the node's rule to its socket — TCP_INFO shows unacknowledged
segments, no acknowledgement for 50 ms, and bytes outstanding for 50 ms — and each message
records whether the stream was reported stalled when it was sent. The second table compares
the messages sent while stalled with the others: a whole change sent on a stalled stream is
what lazy push avoids.

Usage (root): python3 Tests/Campaign/tcp-loss.py [LOSS_PERCENT=20] [SECONDS=30] [INTERVAL_MS=20,100]
Prints the delivery-time distribution per interval. Needs iproute2 and nftables.
"""
import os
import subprocess
import sys

P = "tcplx"
LOSS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 30
INTERVALS = [int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "20,100").split(",")]
MSG = 100


def sh(*args, check=True, input=None):
    return subprocess.run(args, check=check, capture_output=True, text=True, input=input)


def ns(name, *args, **kw):
    return sh("ip", "netns", "exec", name, *args, **kw)


def down():
    for n in (f"{P}-h1", f"{P}-h2", f"{P}-sw"):
        sh("ip", "netns", "del", n, check=False)


def up():
    down()
    sw = f"{P}-sw"
    sh("ip", "netns", "add", sw)
    ns(sw, "ip", "link", "set", "lo", "up")
    ns(sw, "ip", "link", "add", "br0", "type", "bridge")
    ns(sw, "ip", "link", "set", "br0", "up")
    for i in (1, 2):
        h = f"{P}-h{i}"
        sh("ip", "netns", "add", h)
        ns(h, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "eth0", "netns", h, "type", "veth", "peer", "name", f"v{i}", "netns", sw)
        ns(sw, "ip", "link", "set", f"v{i}", "master", "br0")
        ns(sw, "ip", "link", "set", f"v{i}", "up")
        ns(h, "ip", "addr", "add", f"10.78.0.{i}/24", "dev", "eth0")
        ns(h, "ip", "link", "set", "eth0", "up")
    rules = f"""table bridge {P}_loss {{
  chain forward_imp {{ type filter hook forward priority 0; policy accept;
    iifname "v1" numgen random mod 100 < {LOSS} counter drop
    oifname "v1" numgen random mod 100 < {LOSS} counter drop
  }}
}}
"""
    ns(sw, "nft", "-f", "-", input=rules)


RECEIVER = r"""
import socket, struct, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.78.0.2", 7777)); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""; size = int(sys.argv[1]); out = []
while True:
    d = c.recv(65536)
    if not d: break
    buf += d
    while len(buf) >= size:
        sent, stalled = struct.unpack("<dB", buf[:9]); buf = buf[size:]
        out.append("%.6f:%d" % (time.clock_gettime(time.CLOCK_MONOTONIC) - sent, stalled))
print(" ".join(out))
"""

SENDER = r"""
import socket, struct, sys, time
size, interval, seconds = int(sys.argv[1]), float(sys.argv[2]) / 1000, float(sys.argv[3])
c = socket.create_connection(("10.78.0.2", 7777), timeout=10)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
# The node's rule, checked at its 100 ms tick (Node.reportStalls).
NOTICE = 0.050
outstanding_since = None; stalled = 0; next_tick = time.monotonic() + 0.1
def tick(now):
    global outstanding_since, stalled
    info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    unacked, since_ack_ms = struct.unpack_from("<I", info, 24)[0], struct.unpack_from("<I", info, 56)[0]
    if outstanding_since is None: stalled = 0; return
    if unacked == 0: outstanding_since = None; stalled = 0; return
    stalled = int(now - outstanding_since >= NOTICE and since_ack_ms / 1000 >= NOTICE)
end = time.monotonic() + seconds; nxt = time.monotonic()
while time.monotonic() < end:
    now = time.monotonic()
    while now >= next_tick: tick(now); next_tick += 0.1
    c.sendall(struct.pack("<dB", time.clock_gettime(time.CLOCK_MONOTONIC), stalled) + b"x" * (size - 9))
    if outstanding_since is None: outstanding_since = time.monotonic()
    nxt += interval; time.sleep(max(0, nxt - time.monotonic()))
time.sleep(5); c.close()
"""


def run(interval):
    recv = subprocess.Popen(["ip", "netns", "exec", f"{P}-h2", sys.executable, "-c", RECEIVER, str(MSG)],
                            stdout=subprocess.PIPE, text=True)
    assert recv.stdout.readline().strip() == "ready"
    ns(f"{P}-h1", sys.executable, "-c", SENDER, str(MSG), str(interval), str(SECONDS))
    out, _ = recv.communicate(timeout=120)
    pairs = [(float(t) * 1000, int(f)) for t, f in (x.split(":") for x in out.split())]
    times = sorted(t for t, _ in pairs)
    n = len(times)

    def q(p):
        return times[min(n - 1, int(p * n))]
    over = lambda ms: sum(1 for t in times if t > ms) / n * 100
    print(f"| {interval} ms | {n} | {q(0.5):.2f} | {q(0.9):.2f} | {q(0.99):.1f} | {times[-1]:.0f} | "
          f"{over(10):.1f} % | {over(100):.1f} % | {over(200):.1f} % |")
    return interval, pairs


def stall_row(interval, pairs):
    def part(flag):
        ts = sorted(t for t, f in pairs if f == flag)
        if not ts:
            return "— | — | —"
        late = sum(1 for t in ts if t > 100) / len(ts) * 100
        return f"{len(ts)} | {ts[len(ts) // 2]:.1f} | {late:.0f} %"
    print(f"| {interval} ms | {part(1)} | {part(0)} |")


def main():
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, nftables)")
    up()
    try:
        print(f"{LOSS} % of packets dropped in each direction, {MSG}-byte messages, {SECONDS:.0f} s per row, "
              f"kernel {os.uname().release}")
        print("| a message every | messages | p50 ms | p90 ms | p99 ms | max ms | > 10 ms | > 100 ms | > 200 ms |")
        print("|---|---|---|---|---|---|---|---|---|")
        rows = [run(interval) for interval in INTERVALS]
        print()
        print("| a message every | sent while reported stalled | p50 ms | > 100 ms | sent while flowing | p50 ms | > 100 ms |")
        print("|---|---|---|---|---|---|---|")
        for interval, pairs in rows:
            stall_row(interval, pairs)
    finally:
        down()


if __name__ == "__main__":
    main()
