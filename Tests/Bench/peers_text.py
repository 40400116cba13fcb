#!/usr/bin/env python3
"""Peer text-CRDT baselines: pycrdt (Yrs), loro (Loro) and automerge on a
synthetic single-character editing trace.

The trace is the same one that ``lattice bench --text`` replays in the Swift
project (spec in Docs/PERFORMANCE.md); ``--trace-hash`` prints its FNV-1a
hashes so the two implementations can be cross-checked bit for bit.

Install (PyPI):

    pip install pycrdt==0.14.13 loro==1.17.1
    pip install --pre automerge==1.0.0rc1   # 0.1.x lacks save/load/sync

Run (from the project root):

    python3 Tests/Bench/peers_text.py --trace-hash           # hashes only, no CRDT
    python3 Tests/Bench/peers_text.py --quick                # CI smoke: ops=20000, reps=1
    python3 Tests/Bench/peers_text.py --out /tmp/peers_text.json   # full: 260k ops, 5 reps
    python3 Tests/Bench/peers_text.py --libs loro,pycrdt --workloads replay_batch,load --reps 3
    python3 Tests/Bench/peers_text.py --render /tmp/peers_text.json   # re-print the table

Conventions follow ../shared/bench/peers_bench.py: one fresh Python process per
(library, workload, repetition) (``--worker``), repetitions interleaved with the
library order rotated per rep, medians with (min–max), the cyclic GC disabled in
timed regions, RSS from /proc/self/status VmRSS relative to a baseline taken
after the import and an empty document.  Every run checks its result; a failed
check marks the run FAILED and keeps it out of the medians (exit status 1).

Trace (all arithmetic mod 2^64):
  SplitMix64: state += 0x9E3779B97F4A7C15; z = state;
    z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB;
    return z ^ z>>31.   uniform(n) = next() % n.
  Alphabet: "abcdefghijklmnopqrstuvwxyz" + 4 spaces + "\\n" + "etaoin" (37 chars).
  trace(seed, ops, L, c), per step:
    1. if uniform(100) < 8: c = uniform(L + 1)
    2. if L == 0 or uniform(100) < 70: insert A[uniform(37)] at c; c += 1; L += 1
       else: if c > 0 and (uniform(100) < 80 or c == L): delete at c-1; c -= 1
             else: delete at c
             L -= 1
  single  = trace(0x1A771CE, ops, 0, 0)                      (ops = 260000)
  base    = document after the first ops/2 ops of single
  twoA    = trace(0x1A771CE + 1, ops/4, len(base), len(base)//2)   on replica A
  twoB    = trace(0x1A771CE + 2, ops/4, len(base), len(base)//3)   on replica B
            (B loaded from A's base encoding; A and B concurrent, then synced)
  hash: FNV-1a 64 over the ops, insert = 0x01, pos u64 LE, char byte;
        delete = 0x02, pos u64 LE.

Workloads (``--workloads``, comma-separated): replay_batch, replay_perop,
encode, load, memory, concurrent; and the optional concurrent_perop (each
author's edits one transaction per op).  "memory after replay_batch" is
measured in the replay_batch process itself (RSS before/after the replay);
"memory" runs memory_load (import + read in a fresh process) and, only when
replay_batch is not selected, memory_build (a replay_batch without timing).
encode leaves its encodings in a temp dir for load and memory_load.

Checks: replay = the plain-list simulation's text; every encoding decodes to
it; concurrent = each side's offline text equals its simulation, both sides
equal after sync, merged length = len(base) + netA + netB + (base characters
deleted by BOTH authors, which are deleted once), and the merged multiset of
characters = textA + textB - base + those doubly-deleted characters.

Caveats:
- pycrdt/Yrs finds a text index by walking its block list from the start, so
  each op costs O(blocks before the position) and this trace (many cursor
  jumps -> ~tens of thousands of blocks) replays in ~4-5 minutes at 260k ops,
  in one transaction or one per op (1k ops/s; ~700x slower than loro).  With
  --ops > 100000 the defaults are therefore --reps-for pycrdt=1 and
  --skip pycrdt:replay_perop (~4 more minutes); lift with --reps-for '' --skip ''.
- pycrdt 0.14.13 exposes only update v1 (no encode_state_as_update_v2).
- automerge-py 1.0.0rc1's core API has no splice_text: each character is
  Transaction.insert(text, i, Str, ch) (the op a 1-char splice_text makes).
- Loro imports a snapshot lazily: "import" is cheap and the first read pays
  for decoding the state, hence import / first read / second read separately.
- "encode" and "memory after replay_batch" are measured in the replay_batch
  process, after its timed replay (RSS first, then the encodings).

Run ``python3 Tests/Bench/peers_text.py --help``.
"""
import argparse
import collections
import gc
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

LIBS = ("pycrdt", "loro", "automerge")
DEFAULT_WORKLOADS = ("replay_batch", "replay_perop", "encode", "load", "memory", "concurrent")
ALL_WORKLOADS = ("replay_batch", "replay_perop", "encode", "load", "memory_build",
                 "memory_load", "concurrent", "concurrent_perop")

SEED = 0x1A771CE
DEFAULT_OPS = 260_000
# Applied only when --ops > SLOW_OPS (Yrs needs ~5 min per full-trace replay,
# see "Caveats" in the docstring); --reps-for '' / --skip '' lift them.
SLOW_OPS = 100_000
DEFAULT_REPS_FOR = "pycrdt=1"
DEFAULT_SKIP = "pycrdt:replay_perop"
ALPHABET = "abcdefghijklmnopqrstuvwxyz" + "    " + "\n" + "etaoin"
assert len(ALPHABET) == 37
M64 = (1 << 64) - 1
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


# ----------------------------------------------------------------------------
# the trace (generated outside every timed region)
# ----------------------------------------------------------------------------
def trace(seed, ops, start_length, start_cursor):
    """List of ops: (pos, ch) for an insert of the 1-char string ch at pos,
    (pos, "") for a delete of the character at pos."""
    state = seed & M64

    def uniform(n):
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return (z ^ (z >> 31)) % n

    L, c = start_length, start_cursor
    out = []
    append = out.append
    for _ in range(ops):
        if uniform(100) < 8:
            c = uniform(L + 1)
        if L == 0 or uniform(100) < 70:
            append((c, ALPHABET[uniform(37)]))
            c += 1
            L += 1
        else:
            if c > 0 and (uniform(100) < 80 or c == L):
                append((c - 1, ""))
                c -= 1
            else:
                assert c < L
                append((c, ""))
            L -= 1
    return out


def serialise(ops):
    b = bytearray()
    for pos, ch in ops:
        if ch:
            b.append(1)
            b += pos.to_bytes(8, "little")
            b.append(ord(ch))
        else:
            b.append(2)
            b += pos.to_bytes(8, "little")
    return bytes(b)


def fnv1a64(data):
    h = FNV_OFFSET
    for x in data:
        h = ((h ^ x) * FNV_PRIME) & M64
    return h


def simulate(ops, text=b"", ids=None):
    """Plain replay (no CRDT).  With ids (an array of identities parallel to
    text), also return the set of identities deleted."""
    buf = bytearray(text)
    deleted = set()
    for pos, ch in ops:
        if ch:
            buf.insert(pos, ord(ch))
            if ids is not None:
                ids.insert(pos, -1)
        else:
            del buf[pos]
            if ids is not None:
                i = ids.pop(pos)
                if i >= 0:
                    deleted.add(i)
    return bytes(buf), deleted


def build_traces(ops):
    """Every trace, its expected results and hashes."""
    import array
    n_single, n_base, n_author = ops, ops // 2, ops // 4
    single = trace(SEED, n_single, 0, 0)
    single_text, _ = simulate(single)
    base_text, _ = simulate(single[:n_base])
    lb = len(base_text)
    two_a = trace(SEED + 1, n_author, lb, lb // 2)
    two_b = trace(SEED + 2, n_author, lb, lb // 3)
    ta, del_a = simulate(two_a, base_text, array.array("i", range(lb)))
    tb, del_b = simulate(two_b, base_text, array.array("i", range(lb)))
    net_a = sum(1 if ch else -1 for _, ch in two_a)
    net_b = sum(1 if ch else -1 for _, ch in two_b)
    both = del_a & del_b
    # characters of the merged text: base minus (deleted by A or B) plus A's
    # and B's surviving inserts = textA + textB - base + (deleted by both).
    # A base char deleted by both sides is deleted once, so the merged length
    # is len(base) + netA + netB + |both|.
    cnt = collections.Counter(ta)
    cnt.update(tb)
    cnt.subtract(base_text)
    for i in both:
        cnt[base_text[i]] += 1
    merged_len = lb + net_a + net_b + len(both)
    assert sum(cnt.values()) == merged_len and min(cnt.values()) >= 0
    return {
        "ops": ops, "n_single": n_single, "n_base": n_base, "n_author": n_author,
        "single": single, "single_text": single_text.decode("ascii"),
        "base_len": lb,
        "two_a": two_a, "two_b": two_b,
        "text_a": ta.decode("ascii"), "text_b": tb.decode("ascii"),
        "net_a": net_a, "net_b": net_b,
        "base_deleted_a": len(del_a), "base_deleted_b": len(del_b),
        "base_deleted_both": len(both),
        "merged_len": merged_len,
        "merged_counts": {chr(k): v for k, v in cnt.items() if v},
        "hash_single": fnv1a64(serialise(single)),
        "hash_two_a": fnv1a64(serialise(two_a)),
        "hash_two_b": fnv1a64(serialise(two_b)),
        "hash_single_text": fnv1a64(single_text),
    }


def print_trace_hash(T, file=None):
    print(f"single 0x{T['hash_single']:016x} ops={T['n_single']} start_length=0 start_cursor=0", file=file)
    lb = T["base_len"]
    print(f"twoA 0x{T['hash_two_a']:016x} ops={T['n_author']} start_length={lb} start_cursor={lb // 2}", file=file)
    print(f"twoB 0x{T['hash_two_b']:016x} ops={T['n_author']} start_length={lb} start_cursor={lb // 3}", file=file)
    print(f"single final_length={len(T['single_text'])} "
          f"text_fnv1a64=0x{T['hash_single_text']:016x}", file=file)
    print(f"two-author base_ops={T['n_base']} base_length={lb} "
          f"netA={T['net_a']} netB={T['net_b']} "
          f"base_chars_deleted A={T['base_deleted_a']} B={T['base_deleted_b']} "
          f"both={T['base_deleted_both']} merged_length={T['merged_len']}", file=file)


def load_traces(path, ops):
    if path:
        with open(path, "rb") as fh:
            T = pickle.load(fh)
        if T["ops"] == ops:
            return T
    return build_traces(ops)


# ----------------------------------------------------------------------------
# measurement helpers (as in peers_bench.py)
# ----------------------------------------------------------------------------
def rss_now_kib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def peak_rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Timer:
    """perf_counter wall time (and process CPU time) with the cyclic GC off."""

    def __enter__(self):
        gc.collect()
        gc.disable()
        self.c0 = time.process_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        gc.enable()
        return False


# ----------------------------------------------------------------------------
# library adapters: thinnest public binding API, inner loops inline.
# text(doc) returns the handle of the root text "t"; ops are (pos, ch), ch ""
# = delete one character at pos.  All three index text by Unicode scalar
# (code point) by default, i.e. by character for this ASCII trace.
# ----------------------------------------------------------------------------
class PycrdtLib:
    name = "pycrdt"
    formats = ("update_v1",)          # pycrdt 0.14.13 exposes no v2 encoder

    def __init__(self):
        import pycrdt
        self.m = pycrdt
        self.version = f"pycrdt {getattr(pycrdt, '__version__', '?')} (Yrs)"

    def new(self, peer):
        return self.m.Doc(client_id=peer)

    def text(self, doc):
        return doc.get("t", type=self.m.Text)

    def replay(self, doc, t, ops, mode):
        ins = t.insert
        if mode == "batch":
            with doc.transaction():
                for pos, ch in ops:
                    if ch:
                        ins(pos, ch)
                    else:
                        del t[pos]
        else:
            txn = doc.transaction
            for pos, ch in ops:
                with txn():
                    if ch:
                        ins(pos, ch)
                    else:
                        del t[pos]

    def read(self, doc, t):
        return str(t)

    def export(self, doc, fmt):
        return doc.get_update()

    def load(self, data, peer, fmt=None):
        d = self.m.Doc(client_id=peer)
        d.apply_update(data)
        return d

    def sync(self, a, b):
        """Exchange state vectors, then each sends get_update(peer_sv)."""
        sva = a.get_state()
        svb = b.get_state()
        da = a.get_update(svb)
        db = b.get_update(sva)
        b.apply_update(da)
        a.apply_update(db)
        return {"meta_bytes": len(sva) + len(svb), "a2b_bytes": len(da),
                "b2a_bytes": len(db), "rounds": 1, "payloads": [da, db]}


class LoroLib:
    name = "loro"
    formats = ("snapshot", "shallow_snapshot", "updates")

    def __init__(self):
        import loro
        self.m = loro
        self.version = f"loro {getattr(loro, 'LORO_VERSION', '?')}"

    def new(self, peer):
        d = self.m.LoroDoc()
        d.peer_id = peer
        return d

    def text(self, doc):
        return doc.get_text("t")

    def replay(self, doc, t, ops, mode):
        ins, dele = t.insert, t.delete
        if mode == "batch":
            for pos, ch in ops:
                if ch:
                    ins(pos, ch)
                else:
                    dele(pos, 1)
            doc.commit()
        else:
            commit = doc.commit
            for pos, ch in ops:
                if ch:
                    ins(pos, ch)
                else:
                    dele(pos, 1)
                commit()

    def read(self, doc, t):
        return t.to_string()

    def export(self, doc, fmt):
        EM = self.m.ExportMode
        if fmt == "snapshot":
            return doc.export(EM.Snapshot())
        if fmt == "updates":
            return doc.export(EM.Updates(self.m.VersionVector()))
        return doc.export(EM.ShallowSnapshot(doc.oplog_frontiers))

    def load(self, data, peer, fmt=None):
        d = self.new(peer)
        d.import_(data)
        return d

    def sync(self, a, b):
        """Exchange encoded oplog version vectors, then export Updates(from=peer vv)."""
        VV, EM = self.m.VersionVector, self.m.ExportMode
        vva = a.oplog_vv.encode()
        vvb = b.oplog_vv.encode()
        da = a.export(EM.Updates(VV.decode(vvb)))
        db = b.export(EM.Updates(VV.decode(vva)))
        b.import_(da)
        a.import_(db)
        return {"meta_bytes": len(vva) + len(vvb), "a2b_bytes": len(da),
                "b2a_bytes": len(db), "rounds": 1, "payloads": [da, db]}


class AutomergeLib:
    name = "automerge"
    formats = ("save",)

    def __init__(self):
        import automerge.core as core
        from importlib.metadata import version
        self.m = core
        self.version = f"automerge {version('automerge')} (automerge-py, core API)"

    @staticmethod
    def _actor(peer):
        return peer.to_bytes(16, "big")

    def new(self, peer):
        core = self.m
        d = core.Document(actor_id=self._actor(peer))
        with d.transaction() as tx:           # the root text object "t"
            tx.put_object(core.ROOT, "t", core.ObjType.Text)
        return d

    def text(self, doc):
        r = doc.get(self.m.ROOT, "t")
        assert r is not None and r[0] == self.m.ObjType.Text, r
        return r[1]

    def replay(self, doc, t, ops, mode):
        # automerge-py's core API has no splice_text: a 1-char Str inserted
        # into a Text object is the same op a 1-char splice_text makes.
        STR = self.m.ScalarType.Str
        if mode == "batch":
            with doc.transaction() as tx:
                ins, dele = tx.insert, tx.delete
                for pos, ch in ops:
                    if ch:
                        ins(t, pos, STR, ch)
                    else:
                        dele(t, pos)
        else:
            txn = doc.transaction
            for pos, ch in ops:
                with txn() as tx:
                    if ch:
                        tx.insert(t, pos, STR, ch)
                    else:
                        tx.delete(t, pos)

    def read(self, doc, t):
        return doc.text(t)

    def export(self, doc, fmt):
        return doc.save()

    def load(self, data, peer, fmt=None):
        d = self.m.Document.load(data)
        d.set_actor(self._actor(peer))
        return d

    def sync(self, a, b):
        """Automerge sync protocol, fresh SyncState per side, messages
        round-tripped through bytes, until both sides are quiet."""
        core = self.m
        sa, sb = core.SyncState(), core.SyncState()
        a2b = b2a = rounds = 0
        payloads = []
        for rounds in range(1, 101):             # bounded
            ma = a.generate_sync_message(sa)
            if ma is not None:
                raw = ma.encode()
                a2b += len(raw)
                payloads.append(raw)
                b.receive_sync_message(sb, core.Message.decode(raw))
            mb = b.generate_sync_message(sb)
            if mb is not None:
                raw = mb.encode()
                b2a += len(raw)
                payloads.append(raw)
                a.receive_sync_message(sa, core.Message.decode(raw))
            if ma is None and mb is None:
                break
        # heads/bloom metadata and changes travel together: all counted as payload
        return {"meta_bytes": 0, "a2b_bytes": a2b, "b2a_bytes": b2a, "rounds": rounds,
                "payloads": payloads}


ADAPTERS = {"pycrdt": PycrdtLib, "loro": LoroLib, "automerge": AutomergeLib}
PRIMARY = {"pycrdt": "update_v1", "loro": "snapshot", "automerge": "save"}


# ----------------------------------------------------------------------------
# workloads (each runs once in a fresh process and returns a dict of metrics)
# ----------------------------------------------------------------------------
def build(lib, T, peer=1, mode="batch"):
    doc = lib.new(peer)
    t = lib.text(doc)
    lib.replay(doc, t, T["single"], mode)
    return doc, t


def warm(lib):
    """Warm the binding (allocators, lazy statics) with an empty document, then
    return the RSS baseline."""
    d0 = lib.new(9)
    lib.read(d0, lib.text(d0))
    del d0
    gc.collect()
    return rss_now_kib()


def encode_all(lib, doc, T, src=None):
    """Encode doc in every format the binding offers (each timed), check each
    encoding by decoding it (untimed).  With src (a directory), also leave the
    encodings there for load/memory_load."""
    n, chars = len(T["single"]), len(T["single_text"])
    res = {"ok": True}
    for fmt in lib.formats:
        with Timer() as tm:
            data = lib.export(doc, fmt)
        res[f"{fmt}.encode_s"] = tm.s
        res[f"{fmt}.bytes"] = len(data)
        res[f"{fmt}.bytes_per_op"] = len(data) / n
        res[f"{fmt}.bytes_per_char"] = len(data) / chars
        res[f"{fmt}.bytes_zlib"] = len(zlib.compress(data, 6))
        fresh = lib.load(data, 2, fmt)
        ok = lib.read(fresh, lib.text(fresh)) == T["single_text"]
        res[f"{fmt}.ok"] = ok
        res["ok"] = res["ok"] and ok
        if src and ok:
            path = os.path.join(src, f"{lib.name}.{fmt}.bin")
            if not os.path.exists(path):
                with open(path + ".tmp", "wb") as fh:
                    fh.write(data)
                os.replace(path + ".tmp", path)
        del fresh, data
    return res


def w_replay(lib, T, mode, encode=False, src=None, **_):
    """Replay the single trace.  Also reports the RSS the resulting document
    holds (the 'memory after replay_batch' figure) and, with encode, the
    encode workload on that same document (after all RSS readings)."""
    ops = T["single"]
    base_rss = warm(lib)
    doc = lib.new(1)
    t = lib.text(doc)
    with Timer() as tm:
        lib.replay(doc, t, ops, mode)
    gc.collect()
    after = rss_now_kib()
    with Timer() as tr:
        got = lib.read(doc, t)
    ok = got == T["single_text"]
    n, final_len = len(ops), len(got)
    del got
    gc.collect()
    after_read = rss_now_kib()
    res = {"ok": ok, "time_s": tm.s, "ops_per_s": n / tm.s,
           "cpu_s": tm.cpu, "cpu_over_wall": tm.cpu / tm.s, "read_s": tr.s,
           "final_len": final_len, "ops": n,
           "base_rss_kib": base_rss, "state_rss_kib": after - base_rss,
           "state_rss_after_read_kib": after_read - base_rss, "peak_rss_kib": peak_rss_kib()}
    if encode and ok:
        enc = encode_all(lib, doc, T, src)
        res.update({k: v for k, v in enc.items() if k != "ok"})
        res["encode_ok"] = enc["ok"]
        res["ok"] = enc["ok"]
    return res


def w_encode(lib, T, src=None, **_):
    """The encode workload on its own (only when replay_batch is not selected)."""
    doc, _t = build(lib, T)
    return encode_all(lib, doc, T, src)


def w_load(lib, T, src, **_):
    res = {"ok": True}
    for fmt in lib.formats:
        with open(os.path.join(src, f"{lib.name}.{fmt}.bin"), "rb") as fh:
            data = fh.read()
        with Timer() as ti:
            fresh = lib.load(data, 2, fmt)
        with Timer() as tr:
            got = lib.read(fresh, lib.text(fresh))
        ok = got == T["single_text"]
        res[f"{fmt}.bytes"] = len(data)
        res[f"{fmt}.import_s"] = ti.s
        res[f"{fmt}.read_s"] = tr.s
        res[f"{fmt}.total_s"] = ti.s + tr.s
        res[f"{fmt}.ok"] = ok
        res["ok"] = res["ok"] and ok
        # a second full read (Loro decodes a snapshot's state lazily on first access)
        with Timer() as tr2:
            lib.read(fresh, lib.text(fresh))
        res[f"{fmt}.second_read_s"] = tr2.s
        del fresh, got, data
    return res


def w_memory(lib, T, src=None, **_):
    """RSS held by a process holding the replay_batch state.  src=None: build
    it by replaying; src=dir: import the primary encoding, then read it."""
    ops = T["single"]
    data = None
    if src is not None:
        with open(os.path.join(src, f"{lib.name}.{PRIMARY[lib.name]}.bin"), "rb") as fh:
            data = fh.read()
    base_rss = warm(lib)
    if src is None:
        doc = lib.new(1)
        lib.replay(doc, lib.text(doc), ops, "batch")
    else:
        doc = lib.load(data, 1, PRIMARY[lib.name])
        data = None
    gc.collect()
    after = rss_now_kib()
    got = lib.read(doc, lib.text(doc))
    ok = got == T["single_text"]
    del got
    gc.collect()
    after_read = rss_now_kib()
    return {"ok": ok, "base_rss_kib": base_rss, "rss_after_kib": after,
            "rss_after_read_kib": after_read, "state_rss_kib": after - base_rss,
            "state_rss_after_read_kib": after_read - base_rss,
            "peak_rss_kib": peak_rss_kib()}


def w_concurrent(lib, T, mode="batch", **_):
    a = lib.new(1)
    lib.replay(a, lib.text(a), T["single"][:T["n_base"]], "batch")
    base_data = lib.export(a, lib.formats[0])
    b = lib.load(base_data, 2, lib.formats[0])
    ta, tb = lib.text(a), lib.text(b)
    base_a, base_b = lib.read(a, ta), lib.read(b, tb)
    ok_base = base_a == base_b and len(base_a) == T["base_len"]
    with Timer() as te:
        lib.replay(a, ta, T["two_a"], mode)
        lib.replay(b, tb, T["two_b"], mode)
    # each side alone must equal the plain simulation
    ok_offline = lib.read(a, ta) == T["text_a"] and lib.read(b, tb) == T["text_b"]
    with Timer() as ts:
        st = lib.sync(a, b)
    payloads = st.pop("payloads")
    zbytes = st["meta_bytes"] + sum(len(zlib.compress(x, 6)) for x in payloads)
    sa, sb = lib.read(a, lib.text(a)), lib.read(b, lib.text(b))
    converged = sa == sb
    len_ok = len(sa) == T["merged_len"]
    chars_ok = collections.Counter(sa) == collections.Counter(T["merged_counts"])
    total = st["meta_bytes"] + st["a2b_bytes"] + st["b2a_bytes"]
    res = {"ok": bool(ok_base and ok_offline and converged and len_ok and chars_ok),
           "base_ok": ok_base, "offline_ok": ok_offline, "converged": converged,
           "length_ok": len_ok, "chars_ok": chars_ok,
           "merged_len": len(sa), "expected_len": T["merged_len"],
           "base_bytes": len(base_data),
           "edit_s": te.s, "sync_s": ts.s, "bytes_total": total,
           "bytes_total_zlib": zbytes, "edits_per_side": len(T["two_a"]),
           "bytes_per_edit": total / (len(T["two_a"]) + len(T["two_b"]))}
    res.update(st)
    return res


def w_dump(lib, T, src, **_):
    doc, t = build(lib, T)
    ok = lib.read(doc, t) == T["single_text"]
    for fmt in lib.formats:
        with open(os.path.join(src, f"{lib.name}.{fmt}.bin"), "wb") as fh:
            fh.write(lib.export(doc, fmt))
    return {"ok": ok}


def run_worker(args):
    lib = ADAPTERS[args.lib]()
    T = load_traces(args.trace_cache, args.ops)
    wl = args.workload
    kw = dict(lib=lib, T=T, src=args.src)
    if wl == "replay_batch":
        r = w_replay(mode="batch", encode=args.with_encode, **kw)
    elif wl == "replay_perop":
        r = w_replay(mode="perop", **kw)
    elif wl == "encode":
        r = w_encode(**kw)
    elif wl == "load":
        r = w_load(**kw)
    elif wl == "memory_build":
        kw["src"] = None
        r = w_memory(**kw)
    elif wl == "memory_load":
        r = w_memory(**kw)
    elif wl == "concurrent":
        r = w_concurrent(mode="batch", **kw)
    elif wl == "concurrent_perop":
        r = w_concurrent(mode="perop", **kw)
    elif wl == "dump":
        r = w_dump(**kw)
    else:
        raise SystemExit(f"unknown workload {wl}")
    r["version"] = lib.version
    r["loadavg_1m_at_end"] = os.getloadavg()[0]
    r["worker_peak_rss_kib"] = peak_rss_kib()
    print(json.dumps(r))


# ----------------------------------------------------------------------------
# orchestrator
# ----------------------------------------------------------------------------
def spawn(lib, wl, args, cache, src=None, with_encode=False):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--lib", lib,
           "--workload", wl, "--ops", str(args.ops), "--trace-cache", cache]
    if with_encode:
        cmd.append("--with-encode")
    if src:
        cmd += ["--src", src]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timeout after {args.timeout}s"}
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"ok": False, "error": f"rc={p.returncode}: " + " | ".join(tail)}
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": "no JSON from worker: " + p.stdout[-300:]}


def summarize(runs):
    """median/min/max of every numeric metric over the successful runs."""
    good = [r for r in runs if r.get("ok")]
    out = {"runs": len(runs), "ok_runs": len(good),
           "errors": sorted({r.get("error", "verification failed") for r in runs if not r.get("ok")})}
    keys = sorted({k for r in good for k, v in r.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)})
    for k in keys:
        vals = [r[k] for r in good if k in r]
        out[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    for k in sorted({k for r in good for k, v in r.items() if isinstance(v, str)}):
        out[k] = sorted({r[k] for r in good if k in r})
    return out


def expand_workloads(spec):
    """Names -> worker workloads, in the canonical order of ALL_WORKLOADS (so
    encode, which leaves the encodings behind, runs before load).  "memory" is
    memory_load plus, unless replay_batch is selected (its process already
    reports the RSS its document holds), memory_build.  Likewise "encode" runs
    inside the replay_batch process when both are selected."""
    asked = [w.strip() for w in spec.split(",") if w.strip()]
    for w in asked:
        if w not in ALL_WORKLOADS and w != "memory":
            raise SystemExit(f"unknown workload {w}; known: {', '.join(ALL_WORKLOADS)}, memory")
    want = set()
    for w in asked:
        if w == "memory":
            want.add("memory_load")
            if "replay_batch" not in asked:
                want.add("memory_build")
        elif w == "encode" and "replay_batch" in asked:
            pass                    # done by the replay_batch process (see spawn)
        elif w in ALL_WORKLOADS:
            want.add(w)
        else:
            raise SystemExit(f"unknown workload {w}; known: {', '.join(ALL_WORKLOADS)}, memory")
    return [w for w in ALL_WORKLOADS if w in want]


def parse_reps_for(spec, libs, reps):
    caps = {l: reps for l in libs}
    for item in (spec or "").split(","):
        if item.strip():
            l, _, n = item.partition("=")
            if l.strip() in caps:
                caps[l.strip()] = min(reps, int(n))
    return caps


def orchestrate(args):
    """Repetitions interleaved: rep 1 of every (workload, library), then rep 2,
    ..., the library order rotated each rep."""
    libs = [l.strip() for l in args.libs.split(",") if l.strip()]
    for l in libs:
        if l not in ADAPTERS:
            raise SystemExit(f"unknown library {l}; known: {', '.join(LIBS)}")
    wls = expand_workloads(args.workloads)
    asked = {w.strip() for w in args.workloads.split(",")}
    encode_in_replay = "encode" in asked and "replay_batch" in wls
    skip = {tuple(x.strip().split(":", 1)) for x in (args.skip or "").split(",") if ":" in x}
    tmpdir = tempfile.mkdtemp(prefix="peers_text_")
    try:
        t0 = time.perf_counter()
        T = build_traces(args.ops)
        cache = os.path.join(tmpdir, "trace.pkl")
        with open(cache, "wb") as fh:
            pickle.dump(T, fh, protocol=pickle.HIGHEST_PROTOCOL)
        print(f"trace built in {time.perf_counter() - t0:.1f}s:", file=sys.stderr)
        print_trace_hash(T, file=sys.stderr)
        trace_info = {k: T[k] for k in ("ops", "n_single", "n_base", "n_author", "base_len",
                                        "net_a", "net_b", "base_deleted_a", "base_deleted_b",
                                        "base_deleted_both", "merged_len")}
        trace_info["final_len"] = len(T["single_text"])
        for k in ("hash_single", "hash_two_a", "hash_two_b", "hash_single_text"):
            trace_info[k] = f"0x{T[k]:016x}"
        print("  " + json.dumps(trace_info), file=sys.stderr)
        del T
        results = {"ops": args.ops, "reps": args.reps, "trace": trace_info,
                   "python": sys.version.split()[0],
                   "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                   "order": "interleaved (rep-major, library order rotated per rep)",
                   "libs": {}}
        caps = parse_reps_for(args.reps_for, libs, args.reps)
        results["reps_per_lib"] = caps
        runs, dump_err = {}, {}
        needs_files = [w for w in wls if w in ("load", "memory_load")]
        results["skipped"] = sorted(f"{l}:{w}" for l, w in skip if l in libs and w in wls)
        results["encode_in_replay_batch_process"] = encode_in_replay
        if needs_files and not ("encode" in wls or encode_in_replay):
            for lib in libs:
                d = spawn(lib, "dump", args, cache, src=tmpdir)
                if not d.get("ok"):
                    dump_err[lib] = d.get("error", "verification failed")
        for rep in range(args.reps):
            order = libs[rep % len(libs):] + libs[:rep % len(libs)]
            for wl in wls:
                for lib in order:
                    if rep >= caps[lib] or (lib, wl) in skip:
                        continue
                    key = (lib, wl)
                    if wl in needs_files and not all(
                            os.path.exists(os.path.join(tmpdir, f"{lib}.{f}.bin"))
                            for f in ADAPTERS[lib].formats):
                        err = dump_err.get(lib) or "encode workload failed"
                        runs.setdefault(key, []).append({"ok": False, "error": f"no encoding: {err}"})
                        continue
                    t1 = time.perf_counter()
                    r = spawn(lib, wl, args, cache, src=tmpdir,
                              with_encode=encode_in_replay and wl == "replay_batch")
                    r["process_wall_s"] = time.perf_counter() - t1
                    runs.setdefault(key, []).append(r)
                    status = "ok" if r.get("ok") else f"FAILED {r.get('error', 'verification')}"
                    print(f"rep {rep + 1}/{caps[lib]} [{lib:9s}] {wl:16s} {status} "
                          f"({r['process_wall_s']:.1f}s)", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    failed = False
    for lib in libs:
        results["libs"][lib] = {}
        for wl in wls:
            if (lib, wl) in skip:
                continue
            rr = runs.get((lib, wl), [])
            s = summarize(rr)
            failed |= s["ok_runs"] != s["runs"]
            results["libs"][lib][wl] = s
            results["libs"][lib][wl]["raw"] = rr
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    out = args.out or os.path.join(tempfile.gettempdir(),
                                   f"peers_text_{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(out, "w") as fh:
        json.dump(results, fh, indent=1, sort_keys=True)
    print(f"wrote {out}", file=sys.stderr)
    print(render_table(results))
    return 1 if failed else 0


# ----------------------------------------------------------------------------
# table
# ----------------------------------------------------------------------------
def _get(s, wl, key):
    try:
        return s[wl][key]
    except (KeyError, TypeError):
        return None


def _m(s, wl, key, fmt="{:.3g}", scale=1.0):
    d = _get(s, wl, key)
    if not isinstance(d, dict):
        e = s.get(wl, {}).get("errors") if isinstance(s.get(wl), dict) else None
        return "FAILED" if e else "-"
    return fmt.format(d["median"] * scale)


def _range(s, wl, key, fmt, scale=1.0):
    d = _get(s, wl, key)
    if not isinstance(d, dict):
        return ""
    return f" ({fmt.format(d['min'] * scale)}–{fmt.format(d['max'] * scale)})"


def render_table(results):
    L = results["libs"]
    libs = [l for l in LIBS if l in L] + [l for l in L if l not in LIBS]
    rows = []
    enc = "replay_batch" if results.get("encode_in_replay_batch_process") else "encode"

    skipped = set(results.get("skipped", []))

    def cell(l, wl, key, fmt, scale, rng):
        if f"{l}:{wl}" in skipped:
            return "not run"
        v = _m(L[l], wl, key, fmt, scale)
        return v + (_range(L[l], wl, key, fmt, scale) if rng and v not in ("-", "FAILED") else "")

    def row(label, wl, key, fmt="{:.3g}", scale=1.0, rng=None, only=None):
        if not any(wl in L[l] for l in libs):
            return
        if rng is None:
            rng = key.endswith("_s")
        rows.append([label] + [cell(l, wl, key, fmt, scale, rng) if (only is None or l == only) else ""
                               for l in libs])

    def prim_row(label, wl, key, fmt="{:.3g}", scale=1.0):
        if wl == "encode":
            wl = enc
        if not any(wl in L[l] for l in libs):
            return
        rng = key.endswith("_s")
        rows.append([label] + [cell(l, wl, f"{PRIMARY.get(l)}.{key}", fmt, scale, rng) for l in libs])

    for mode, tag in (("batch", "1 txn"), ("perop", "1 txn per op")):
        wl = f"replay_{mode}"
        row(f"replay ({tag}): time (s)", wl, "time_s")
        row(f"replay ({tag}): ops/s", wl, "ops_per_s", "{:,.0f}", rng=True)
        row(f"replay ({tag}): process CPU / wall", wl, "cpu_over_wall", "{:.2f}")
        row(f"replay ({tag}): read whole text (s)", wl, "read_s")
    if any(enc in L[l] for l in libs):
        rows.append([f"encode: primary format (measured in the {enc} process)"] + [PRIMARY.get(l, "?") for l in libs])
    prim_row("encode: time (s)", "encode", "encode_s")
    prim_row("encode: size (bytes)", "encode", "bytes", "{:,.0f}")
    prim_row("encode: bytes per op", "encode", "bytes_per_op", "{:.2f}")
    prim_row("encode: bytes per char of final text", "encode", "bytes_per_char", "{:.2f}")
    prim_row("encode: size after zlib -6 (bytes)", "encode", "bytes_zlib", "{:,.0f}")
    if "pycrdt" in L and enc in L["pycrdt"]:
        rows.append(["encode: pycrdt update v2"] + [
            "not exposed by pycrdt 0.14.13" if l == "pycrdt" else "" for l in libs])
    for f in ("shallow_snapshot", "updates"):
        if "loro" in L and enc in L["loro"]:
            rows.append([f"encode: loro {f}: size (bytes) / zlib / time (s)"] + [
                (f"{_m(L[l], enc, f'{f}.bytes', '{:,.0f}')} / "
                 f"{_m(L[l], enc, f'{f}.bytes_zlib', '{:,.0f}')} / "
                 f"{_m(L[l], enc, f'{f}.encode_s')}"
                 f"{_range(L[l], enc, f'{f}.encode_s', '{:.3g}')}") if l == "loro" else ""
                for l in libs])
    prim_row("load: import into fresh replica (s)", "load", "import_s")
    prim_row("load: first full read to str (s)", "load", "read_s")
    prim_row("load: import + first read (s)", "load", "total_s")
    prim_row("load: second full read (s)", "load", "second_read_s")
    for f in ("shallow_snapshot", "updates"):
        if "loro" in L and "load" in L["loro"]:
            rows.append([f"load: loro {f}: import / first read / sum (s)"] + [
                (f"{_m(L[l], 'load', f'{f}.import_s')} / {_m(L[l], 'load', f'{f}.read_s')} / "
                 f"{_m(L[l], 'load', f'{f}.total_s')}{_range(L[l], 'load', f'{f}.total_s', '{:.3g}')}")
                if l == "loro" else "" for l in libs])
    K = 1 / 1024
    mb = "replay_batch" if any("replay_batch" in L[l] for l in libs) else "memory_build"
    row(f"memory: RSS held after replay_batch (MiB; {mb} process)", mb, "state_rss_kib", "{:.1f}", K, rng=True)
    row("memory:   ... after a full read (MiB)", mb, "state_rss_after_read_kib", "{:.1f}", K, rng=True)
    row("memory: peak RSS of that process (MiB)", mb, "peak_rss_kib", "{:.1f}", K)
    row("memory: RSS held after replay_perop (MiB)", "replay_perop", "state_rss_kib", "{:.1f}", K, rng=True)
    row("memory: RSS held after import of primary encoding (MiB)", "memory_load", "state_rss_kib", "{:.1f}", K, rng=True)
    row("memory:   ... after a full read (MiB)", "memory_load", "state_rss_after_read_kib", "{:.1f}", K, rng=True)
    row("memory: peak RSS of that process (MiB)", "memory_load", "peak_rss_kib", "{:.1f}", K)
    for wl, tag in (("concurrent", "1 txn per author"), ("concurrent_perop", "1 txn per op")):
        row(f"concurrent ({tag}): offline edits, both authors (s)", wl, "edit_s")
        row(f"concurrent ({tag}): sync time both ways (s)", wl, "sync_s")
        row(f"concurrent ({tag}): total bytes exchanged", wl, "bytes_total", "{:,.0f}")
        row(f"concurrent ({tag}): state-vector/vv bytes", wl, "meta_bytes", "{:,.0f}")
        if any(wl in L[l] for l in libs):
            rows.append([f"concurrent ({tag}): A->B / B->A payload bytes"] + [
                f"{_m(L[l], wl, 'a2b_bytes', '{:,.0f}')} / {_m(L[l], wl, 'b2a_bytes', '{:,.0f}')}"
                for l in libs])
        row(f"concurrent ({tag}): bytes per edit", wl, "bytes_per_edit", "{:.2f}")
        row(f"concurrent ({tag}): total bytes if each message zlib-6'd", wl, "bytes_total_zlib", "{:,.0f}")
        row(f"concurrent ({tag}): message rounds", wl, "rounds", "{:.0f}")
        row(f"concurrent ({tag}): merged length (expected {results['trace']['merged_len']:,})",
            wl, "merged_len", "{:,.0f}")
    for wl in ALL_WORKLOADS:
        if any(wl in L[l] for l in libs):
            rows.append([f"checks passed: {wl}" + (" (+ encode)" if wl == enc == "replay_batch" else "")] + [
                f"{L[l][wl]['ok_runs']}/{L[l][wl]['runs']}" if wl in L[l] else "" for l in libs])

    def version(l):
        for wl in ALL_WORKLOADS:
            v = L[l].get(wl, {}).get("version")
            if v:
                return v[0]
        return l

    tr = results["trace"]
    hdr = ["metric (median of reps; (min–max))"] + [version(l) for l in libs]
    lines = [f"trace: {tr['n_single']:,} ops -> {tr['final_len']:,} chars "
             f"(hash {tr['hash_single']}, text {tr['hash_single_text']}); two-author: base "
             f"{tr['n_base']:,} ops = {tr['base_len']:,} chars, {tr['n_author']:,} ops per author "
             f"(net +{tr['net_a']:,} / +{tr['net_b']:,}; {tr['base_deleted_both']} base chars "
             f"deleted by both) -> {tr['merged_len']:,} chars; reps = {results['reps']}"
             + "".join(f"; {l}: {n} rep(s)" for l, n in results.get("reps_per_lib", {}).items()
                       if n != results["reps"])
             + (f"; not run: {', '.join(results['skipped'])}" if results.get("skipped") else ""), "",
             "| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    fails = []
    for l in libs:
        for wl, s in L[l].items():
            if isinstance(s, dict) and s.get("errors"):
                fails.append(f"- {l} {wl}: {s['ok_runs']}/{s['runs']} ok; {'; '.join(map(str, s['errors']))}")
    if fails:
        lines += ["", "Failures:"] + fails
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=None,
                    help=f"single-trace ops (default {DEFAULT_OPS}); two-author uses ops/2 base, ops/4 per author")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 5)")
    ap.add_argument("--quick", action="store_true", help="CI smoke: ops=20000, reps=1 (unless given)")
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                    help="comma-separated, from: " + ", ".join(ALL_WORKLOADS) + ", memory")
    ap.add_argument("--reps-for", default=None, metavar="LIB=N,...",
                    help=f"cap the repetitions of slow libraries (default {DEFAULT_REPS_FOR!r} "
                         f"when --ops > {SLOW_OPS}, else none: Yrs replays the full trace in "
                         "minutes, see the docstring); '' = no cap")
    ap.add_argument("--skip", default=None, metavar="LIB:WORKLOAD,...",
                    help=f"(library, workload) pairs not to run (default {DEFAULT_SKIP!r} "
                         f"when --ops > {SLOW_OPS}, else none); '' = none")
    ap.add_argument("--timeout", type=int, default=1800, help="per worker process (s)")
    ap.add_argument("--out", default=None, help="results JSON (default: a new file in the temp dir)")
    ap.add_argument("--render", metavar="JSON", help="only re-render the table of a results JSON")
    ap.add_argument("--trace-hash", action="store_true",
                    help="print the trace hashes, final length and text hash; no CRDT")
    # worker mode
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--lib", help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    ap.add_argument("--trace-cache", help=argparse.SUPPRESS)
    ap.add_argument("--with-encode", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ops is None:
        args.ops = 20_000 if args.quick else DEFAULT_OPS
    if args.reps is None:
        args.reps = 1 if args.quick else 5
    slow = args.ops > SLOW_OPS
    if args.reps_for is None:
        args.reps_for = DEFAULT_REPS_FOR if slow else ""
    if args.skip is None:
        args.skip = DEFAULT_SKIP if slow else ""
    if args.worker:
        run_worker(args)
    elif args.render:
        with open(args.render) as fh:
            print(render_table(json.load(fh)))
    elif args.trace_hash:
        print_trace_hash(build_traces(args.ops))
    else:
        sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
