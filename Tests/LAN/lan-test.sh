#!/usr/bin/env bash
# Tests/LAN/lan-test.sh [LATTICE_BINARY] — three real `lattice run` nodes on a LAN made of network
# namespaces (a bridge in its own switch namespace; nothing in the root namespace is touched):
#   1. discovery: the nodes have no static peers and must find each other by sealed beacons; a
#      node of another network (another key) on the same LAN drops their beacons, reaches nobody,
#      and the members' /metrics count its beacons as dropped unauthenticated packets;
#   2. a change written on one is readable on the others;
#   3. impairments with nftables on every switch port (this kernel has no tc netem): LOSS % random
#      loss and DUP % duplication in both directions; host 3 partitioned away (all its frames
#      dropped) while every host writes, including concurrent edits of the same field; heal;
#      the three converge with nothing lost and the conflict listed on every node;
#   4. capture check: tcpdump on the bridge for the whole run; the plaintext marker written on
#      node 1, the nodes' identity public keys and the network key never appear in any packet,
#      beacons included (and the capture did see beacons and sync traffic);
#   5. SIGTERM: every node says goodbye and exits 0.
# Exit 0: pass; 1: a check failed (the logs are printed); 77: skipped (no root, no `ip netns`).
# Env: LAN_PREFIX (namespace prefix, default latl), LAN_SUBNET (default 10.78.0), LOSS (20), DUP (10),
# SEED (for the random test data; printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "${1:-.build/debug/lattice}")
P=${LAN_PREFIX:-latl}
SUB=${LAN_SUBNET:-10.78.0}
LOSS=${LOSS:-20}
DUP=${DUP:-10}
SEED=${SEED:-$RANDOM}
SW="$P-sw"
WORK=$(mktemp -d /tmp/lattice-lan.XXXXXX)
PIDS=()
CAPTURE_PID=

say() { echo "lan-test: $*" >&2; }
skip() { say "SKIP: $*"; exit 77; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
node() { local i=$1; shift; nsx "$P-h$i" "$BIN" "$@" --data "$WORK/n$i"; }

[ -x "$BIN" ] || { say "no lattice binary at $BIN (swift build first)"; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null || skip "iproute2 is not installed"
command -v nft >/dev/null || skip "nftables is not installed"
command -v tcpdump >/dev/null || skip "tcpdump is not installed"
ip netns add "$P-probe" 2>/dev/null || skip "ip netns does not work here (no CAP_SYS_ADMIN or no netns support)"
ip netns del "$P-probe"

teardown() {
    local rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
        say "FAILED (seed $SEED; replay with SEED=$SEED LOSS=$LOSS DUP=$DUP $0)"
        for i in 1 2 3; do
            echo "--- node $i peers and documents"
            timeout 5 ip netns exec "$P-h$i" "$BIN" peers --data "$WORK/n$i" 2>&1 || true
            timeout 5 ip netns exec "$P-h$i" "$BIN" export --data "$WORK/n$i" 2>/dev/null | grep -vc lattice_state || true
        done
        [ -n "${KEEP:-}" ] && { cp -r "$WORK" /tmp/lattice-lan-failed; say "kept in /tmp/lattice-lan-failed"; }
        say "node logs:"
        for i in 1 2 3; do echo "--- node $i (last 40 lines)"; tail -n 40 "$WORK/n$i.log" 2>/dev/null || true; done
    fi
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    [ -n "$CAPTURE_PID" ] && kill "$CAPTURE_PID" 2>/dev/null || true
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^$P-" || true); do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
    exit "$rc"
}
trap teardown EXIT
for ns in $(ip netns list | awk '{print $1}' | grep -E "^$P-" || true); do ip netns del "$ns"; done

# --- the LAN: switch namespace with br0, hosts h1..h3 with eth0 = $SUB.i/24 ------------------
ip netns add "$SW"
nsx "$SW" ip link set lo up
nsx "$SW" ip link add br0 type bridge mcast_snooping 0 stp_state 0
nsx "$SW" ip link set br0 up
for i in 1 2 3; do
    ip netns add "$P-h$i"
    nsx "$P-h$i" ip link set lo up
    ip link add eth0 netns "$P-h$i" type veth peer name "v$i" netns "$SW"
    nsx "$SW" ip link set "v$i" master br0
    nsx "$SW" ip link set "v$i" up
    nsx "$P-h$i" ip addr add "$SUB.$i/24" brd + dev eth0
    nsx "$P-h$i" ip link set eth0 up
    nsx "$P-h$i" ip route add 224.0.0.0/4 dev eth0
done
say "LAN up: $P-h1..3 on $SUB.0/24 (seed $SEED)"

# --- three nodes of one network; no static peers ---------------------------------------------
"$BIN" init --name n1 --data "$WORK/n1" >/dev/null
INVITE=$("$BIN" invite --data "$WORK/n1" | grep -o 'lattice1:[^ ]*' | head -1)
[ -n "$INVITE" ] || { say "no invite"; exit 1; }
for i in 2 3; do "$BIN" init --name "n$i" --join "$INVITE" --data "$WORK/n$i" >/dev/null; done

ip netns exec "$SW" tcpdump -i br0 -U -s 0 -w "$WORK/lan.pcap" >/dev/null 2>"$WORK/tcpdump.log" &
CAPTURE_PID=$!
sleep 1
for i in 1 2 3; do
    # `ip netns exec` execs the command: $! is the node's own pid.
    ip netns exec "$P-h$i" "$BIN" run --listen 0.0.0.0:7946 --data "$WORK/n$i" 2>"$WORK/n$i.log" &
    PIDS+=($!)
done

# wait_until SECONDS DESCRIPTION COMMAND...: polls every 0.2 s.
wait_until() {
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || { say "timed out after ${limit} s: $what"; return 1; }
        sleep 0.2
    done
    say "ok: $what"
}
connected_peers() { node "$1" peers --json | python3 -c 'import json,sys; print(sum(p["connected"] for p in json.load(sys.stdin)["peers"]))'; }
all_connected() { for i in 1 2 3; do [ "$(connected_peers "$i")" = 2 ] || return 1; done; }
wait_until 40 "every node discovered and connected to both others (no static peers)" all_connected
# A node may be dialed by the others before it hears their beacons: its own peer-discovered lines
# follow within a beacon interval.
discovered_both() { [ "$(grep -c '"event": *"peer-discovered"' "$WORK/n$1.log")" -ge 2 ]; }
for i in 1 2 3; do wait_until 15 "node $i heard both others' beacons" discovered_both "$i"; done

# --- a node of another network on the same LAN: it hears the beacons but learns nothing ---------
"$BIN" init --name foreign --data "$WORK/foreign" >/dev/null
ip netns exec "$P-h3" "$BIN" run --listen 0.0.0.0:7948 --no-api --log-level debug --data "$WORK/foreign" 2>"$WORK/foreign.log" &
FOREIGN=$!
PIDS+=("$FOREIGN")
sleep 7  # more than one beacon interval (5 s ± 20 %)
grep -q '"event": *"beacon-dropped"' "$WORK/foreign.log" || { say "the foreign node heard no beacon (the test would prove nothing)"; exit 1; }
if grep -qE '"event": *"(peer-discovered|handshake)"' "$WORK/foreign.log"; then say "a node with another network key discovered or reached a member"; exit 1; fi
for i in 1 2 3; do [ "$(connected_peers "$i")" = 2 ] || { say "node $i's peers changed when a foreign node appeared"; exit 1; }; done
kill -TERM "$FOREIGN"
wait "$FOREIGN" || { say "the foreign node did not exit 0 after SIGTERM"; exit 1; }
unset 'PIDS[3]'
say "ok: a node with another network key on the LAN dropped every beacon it heard and reached no member"
# The members heard the foreign node's beacons too: /metrics (the node's API on the namespace's
# loopback) counts them as dropped unauthenticated packets.
metric() {
    ip netns exec "$P-h$1" python3 -c 'import sys, urllib.request
r = urllib.request.Request("http://127.0.0.1:7947/metrics", headers={"Authorization": "Bearer " + open(sys.argv[1]).read().strip()})
for line in urllib.request.urlopen(r, timeout=5).read().decode().splitlines():
    if line.split(" ")[0] == sys.argv[2]: print(line.split(" ")[1])' "$WORK/n$1/api.token" "$2"
}
dropped=$(metric 1 'lattice_packets_dropped_total{transport="udp",reason="auth"}')
[ "${dropped:-0}" -ge 1 ] || { say "node 1's /metrics counted no unauthenticated beacon (got '$dropped')"; exit 1; }
say "ok: node 1's /metrics counted $dropped unauthenticated beacon(s) (the foreign node's) as dropped packets"

# --- a change on one node is readable on the others --------------------------------------------
MARKER="LATTICE-PLAINTEXT-MARKER-$SEED-7f3a9c"
node 1 put notes marker "body=$MARKER" >/dev/null
has_marker() { node "$1" get notes marker | grep -q "$MARKER"; }
wait_until 20 "the marker written on node 1 is readable on node 2" has_marker 2
wait_until 20 "the marker written on node 1 is readable on node 3" has_marker 3

# --- impairments: loss and duplication on every switch port, both directions ------------------
nsx "$SW" nft -f - <<EOF
table bridge ${P}_loss {
  chain forward_imp { type filter hook forward priority 0; policy accept;
    numgen random mod 100 < $LOSS counter drop
  }
}
table bridge ${P}_part {
  chain forward_part { type filter hook forward priority -10; policy accept; }
}
table netdev ${P}_dup {
  chain dup1 { type filter hook egress device "v1" priority 0; policy accept; numgen random mod 100 < $DUP counter dup to "v1"; }
  chain dup2 { type filter hook egress device "v2" priority 0; policy accept; numgen random mod 100 < $DUP counter dup to "v2"; }
  chain dup3 { type filter hook egress device "v3" priority 0; policy accept; numgen random mod 100 < $DUP counter dup to "v3"; }
}
EOF
say "impaired: $LOSS % loss and $DUP % duplication on every port"
nsx "$SW" nft add rule bridge "${P}_part" forward_part iifname v3 counter drop
nsx "$SW" nft add rule bridge "${P}_part" forward_part oifname v3 counter drop
say "partitioned: host 3 cut off"

# Writes everywhere while host 3 is away: knowledge items and memories, set elements, counters,
# and the same register written on both sides (a conflict).
N=${WRITES:-30}
declare -a EXPECT=()
for k in $(seq 1 "$N"); do
    for i in 1 2 3; do
        node "$i" put knowledge "k$i-$k" "title=item $k from node $i" "confidence:=0.$((SEED % 9 + 1))" >/dev/null
        EXPECT+=("knowledge k$i-$k")
    done
    node $(( k % 3 + 1 )) incr memories shared hits >/dev/null
    node $(( k % 3 + 1 )) set add memories shared tags "t$k" >/dev/null
done
node 1 put knowledge contested "title=from the majority side" >/dev/null
node 3 put knowledge contested "title=from the partitioned side" >/dev/null
sleep 2
node 3 get knowledge k1-1 >/dev/null 2>&1 && { say "the partition leaked: node 3 sees node 1's write"; exit 1; }
say "ok: node 3 saw nothing of the others during the partition"

nsx "$SW" nft list table bridge "${P}_part" | grep -E "counter packets" | sed 's/^ */lan-test:   partition: /' >&2 || true
nsx "$SW" nft flush chain bridge "${P}_part" forward_part
HEALED=$SECONDS
say "healed (loss and duplication stay on)"

documents() { node "$1" export | grep -v '"lattice_state"' | sort; }
converged() {
    local a b c
    a=$(documents 1) && b=$(documents 2) && c=$(documents 3) || return 1
    [ "$a" = "$b" ] && [ "$b" = "$c" ] || return 1
    for e in "${EXPECT[@]}"; do
        set -- $e
        grep -q "\"id\": *\"$2\"" <<<"$a" || return 1
    done
}
node 1 sync >/dev/null || true
wait_until 90 "all three converged with all $((3 * N)) items present, under loss and duplication" converged
say "converged $((SECONDS - HEALED)) s after the heal (polled by CLI calls through each node)"

for i in 1 2 3; do
    hits=$(node "$i" get memories shared --json | python3 -c 'import json,sys; d=json.load(sys.stdin); f=d["fields"]["hits"]; print(f.get("value", f))')
    [ "$hits" = "$N" ] || { say "node $i: counter hits = $hits, expected $N (an increment was lost or doubled)"; exit 1; }
    node "$i" conflicts | grep -q contested || { say "node $i does not list the contested field as a conflict"; exit 1; }
done
say "ok: counter = $N on every node (no increment lost or duplicated); the conflict is listed everywhere"
nsx "$SW" nft list ruleset | grep -E "counter packets [1-9]" | sed 's/^ */lan-test:   injected: /' >&2 || true
nsx "$SW" nft delete table bridge "${P}_loss"
nsx "$SW" nft delete table netdev "${P}_dup"

# --- graceful shutdown ---------------------------------------------------------------------------
for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
for idx in 0 1 2; do
    rc=0
    wait "${PIDS[$idx]}" || rc=$?
    [ "$rc" = 0 ] || { say "node $((idx + 1)) exited $rc after SIGTERM"; exit 1; }
done
PIDS=()
say "ok: every node exited 0 after SIGTERM"

# --- capture check -------------------------------------------------------------------------------
sleep 1
kill "$CAPTURE_PID"
wait "$CAPTURE_PID" 2>/dev/null || true
CAPTURE_PID=
packets=$(tcpdump -r "$WORK/lan.pcap" -nn 2>/dev/null | wc -l)
beacons=$(tcpdump -r "$WORK/lan.pcap" -nn 'udp port 7946' 2>/dev/null | wc -l)
streams=$(tcpdump -r "$WORK/lan.pcap" -nn 'tcp port 7946' 2>/dev/null | wc -l)
[ "$beacons" -gt 0 ] && [ "$streams" -gt 100 ] || { say "the capture saw too little ($beacons beacon, $streams TCP packets)"; exit 1; }
for i in 1 2 3; do node "$i" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["node_id"])'; done >"$WORK/node-ids"
python3 - "$WORK" "$MARKER" <<'EOF'
import base64, glob, sys
work, marker = sys.argv[1], sys.argv[2]
capture = open(f"{work}/lan.pcap", "rb").read()
secrets = {"the plaintext marker": marker.encode()}
# Key files (Sources/LatticeCrypto/KeyFile.swift): 8-byte header, then 32-byte keys.
for path in sorted(glob.glob(f"{work}/n*/network.key") + glob.glob(f"{work}/n*/identity.key")):
    raw = open(path, "rb").read()
    secrets[path[len(work) + 1:]] = raw[8:40]
# Node IDs: base32 of the Ed25519 public key and a checksum; the identity must not leak either
# (Noise XX encrypts the static keys).
for line in open(f"{work}/node-ids").read().split():
    text = line.replace("-", "")
    raw = base64.b32decode(text + "=" * (-len(text) % 8))
    secrets[f"identity public key {line[:7]}"] = raw[:32]
bad = [name for name, needle in secrets.items() if needle in capture]
if bad:
    print("lan-test: FOUND IN CLEARTEXT ON THE WIRE:", ", ".join(bad), file=sys.stderr)
    sys.exit(1)
print(f"lan-test: ok: {len(capture)} captured bytes hold none of {len(secrets)} secrets (marker, network keys, identity seeds and public keys)", file=sys.stderr)
EOF
say "ok: capture of $packets packets ($beacons beacon datagrams, $streams TCP segments) holds no plaintext"
say "PASS"
