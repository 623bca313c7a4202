#!/usr/bin/env python3
"""Blocks on the real binary: a vigil with 1m blocks, XOR chunks and 30m retention is fed 50 minutes
of samples by remote_write (timestamps spread over the past); blocks must appear from the head, be
compacted into larger ranges and fall out of retention; /api/v1/status/tsdb and /metrics report them;
a range query over the retained window returns exactly what was written, before and after a restart;
promtool tsdb analyze accepts the compacted blocks; a block whose index has flipped bytes is moved
aside at the next start and reported in /api/v1/status while the rest is served. Output is TAP."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, results, finish, free_port, get_json, request, wait_http, wait_until, which  # noqa: E402
from test_remote_write import post, snappy, write_request  # noqa: E402

VIGIL = sys.argv[1]
SERIES = 20
STEP = 10_000  # ms
SPAN = 50 * 60_000  # ms of data written
WINDOW = 20 * 60_000  # checked window, inside the 30m retention

CONFIG = """storage:
  path: {data}
  block_duration: 1m
  block_chunk_encoding: xor
  retention: 30m
"""


def value(s, t):
    return round((t // STEP) * 0.5 + s * 1000 + (s % 3) * 0.25, 2)


def metrics(port):
    out = {}
    for line in request(port, "/metrics")[2].splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def block_dirs(data):
    return sorted(d for d in os.listdir(data) if len(d) == 26 and os.path.isdir(os.path.join(data, d)))


def metas(data):
    res = []
    for d in block_dirs(data):
        with open(os.path.join(data, d, "meta.json")) as f:
            res.append(json.load(f))
    return res


def window(port, end):
    """Every sample of metric sb in [end - WINDOW, end] as {series: [(t, v), ...]}."""
    q = urllib.parse.quote(f"sb[{WINDOW // 1000}s]")
    st, body = get_json(port, f"/api/v1/query?query={q}&time={end / 1000:.3f}")
    if st != 200:
        return st, body
    return st, {r["metric"]["s"]: [(round(float(t) * 1000), float(v)) for t, v in r["values"]]
                for r in body["data"]["result"]}


def start(cfg, port, log):
    vig = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}"], log)
    if not wait_http(port, "/api/v1/ready", timeout=60):
        print(vig.output()[-3000:])
        return None
    return vig


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-storage-blocks-")
    data = os.path.join(tmp, "data")
    cfg = os.path.join(tmp, "vigil.yml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(data=data))
    port = free_port()
    vig = start(cfg, port, os.path.join(tmp, "vigil.log"))
    check("vigil starts", vig)
    if not vig:
        finish("storage_blocks")
    try:
        now = int(time.time() * 1000) // STEP * STEP
        t0 = now - SPAN
        written = {str(s): [] for s in range(SERIES)}
        ok = True
        for lo in range(t0, now + 1, 5 * 60_000):
            batch = []
            for s in range(SERIES):
                smp = [(t, value(s, t)) for t in range(lo, min(lo + 5 * 60_000, now + 1), STEP)]
                written[str(s)] += smp
                batch.append(({"__name__": "sb", "s": str(s), "job": "blocks"}, smp))
            st, _, body = post(port, snappy(write_request(batch)))
            ok = ok and st == 204
        check("remote_write of 50 minutes spread over the past → 204", ok)

        def compacted():
            m = metrics(port)
            return (m.get('vigil_tsdb_compactions_total{kind="level"}', 0) >= 1
                    and m.get("vigil_tsdb_time_retentions_total", 0) >= 1)
        check("blocks are cut from the head, compacted into larger ranges and dropped by retention",
              wait_until(compacted, timeout=90, step=0.5),
              {k: v for k, v in metrics(port).items() if k.startswith("vigil_tsdb")})

        def settled():  # nothing left to compact: two reads a second apart agree with the disk
            a = metrics(port).get("vigil_tsdb_compaction_duration_seconds_count")
            time.sleep(1)
            return a == metrics(port).get("vigil_tsdb_compaction_duration_seconds_count") and \
                len(block_dirs(data)) == metrics(port).get("vigil_tsdb_blocks_loaded")
        wait_until(settled, timeout=60, step=0.1)
        ms = metas(data)
        levels = sorted({m["compaction"]["level"] for m in ms})
        check("compacted blocks on disk: level >= 2 with parents and sources",
              any(m["compaction"]["level"] >= 2 and len(m["compaction"].get("parents", [])) >= 2
                  and len(m["compaction"]["sources"]) >= 2 for m in ms), levels)
        spans = sorted((m["minTime"], m["maxTime"]) for m in ms)
        check("blocks on disk do not overlap",
              all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans)
        check("retention removed the oldest blocks (none ends 30m before the newest)",
              all(spans[-1][1] - mx <= 30 * 60_000 for _, mx in spans), spans)
        m = metrics(port)
        st, body = get_json(port, "/api/v1/status/tsdb")
        bs = body.get("data", {}).get("vigil", {}).get("blockStats", {})
        hs = body.get("data", {}).get("headStats", {})
        check("/api/v1/status/tsdb: headStats in Prometheus' shape",
              st == 200 and all(k in hs for k in ("numSeries", "numLabelPairs", "chunkCount", "minTime", "maxTime"))
              and hs["numSeries"] == SERIES, body)
        check("/api/v1/status/tsdb: vigil.blockStats count, bytes and times match the disk",
              bs.get("numBlocks") == len(ms) and bs.get("bytes", 0) > 0 and bs.get("minTime") == spans[0][0]
              and bs.get("maxTime") == spans[-1][1], (bs, spans))
        check("/metrics: blocks loaded, bytes, lowest timestamp, compaction histogram",
              m.get("vigil_tsdb_blocks_loaded") == len(ms) and m.get("vigil_tsdb_storage_blocks_bytes") == bs.get("bytes")
              and m.get("vigil_tsdb_lowest_timestamp") == spans[0][0]
              and m.get("vigil_tsdb_compaction_duration_seconds_count", 0) >= 2,
              {k: v for k, v in m.items() if k.startswith("vigil_tsdb")})

        # Prometheus 2.42's range selectors include their left edge
        want = {s: [(t, v) for t, v in smp if now - WINDOW <= t <= now] for s, smp in written.items()}
        st, got = window(port, now)
        check(f"range query over the last {WINDOW // 60000}m (blocks and head) returns exactly what was written",
              st == 200 and got == want,
              (st, {s: (len(got.get(s, [])), len(want[s])) for s in list(want)[:3]} if st == 200 else got))

        # promtool accepts the compacted XOR blocks
        if which("promtool"):
            okp, detail = True, ""
            for mm in ms:
                if mm["compaction"]["level"] < 2:
                    continue
                d = os.path.join(tmp, "promtool-" + mm["ulid"])
                os.makedirs(os.path.join(d, "wal"))
                shutil.copytree(os.path.join(data, mm["ulid"]), os.path.join(d, mm["ulid"]))
                p = subprocess.run(["promtool", "tsdb", "analyze", d, mm["ulid"]], capture_output=True, text=True)
                okp = okp and p.returncode == 0 and "Block ID: " + mm["ulid"] in p.stdout
                detail += p.stdout[-400:] + p.stderr[-400:]
            check("promtool tsdb analyze accepts every compacted block", okp, detail)

        # restart: the same answers
        vig.stop()
        vig = start(cfg, port, os.path.join(tmp, "vigil2.log"))
        check("restart", vig)
        st, got2 = window(port, now)
        check("after a restart the same window reads the same", st == 200 and got2 == want)
        st, body = get_json(port, "/api/v1/status")
        check("healthy storage before the corruption",
              body["data"]["components"]["storage"]["status"] == "up", body["data"]["components"].get("storage"))

        # a block with flipped bytes in its index (the symbol table, checked at open) is set aside
        vig.stop()
        victim = block_dirs(data)[0]
        with open(os.path.join(data, victim, "index"), "r+b") as f:
            f.seek(20)
            b = f.read(4)
            f.seek(20)
            f.write(bytes(x ^ 0xFF for x in b))
        vig = start(cfg, port, os.path.join(tmp, "vigil3.log"))
        check("vigil starts with a corrupt block", vig)
        check("the corrupt block was moved aside to <ULID>.corrupt",
              os.path.isdir(os.path.join(data, victim + ".corrupt")) and victim not in block_dirs(data))
        st, body = get_json(port, "/api/v1/status")
        comp = body["data"]["components"].get("storage", {})
        check("/api/v1/status: storage degraded, naming the block and the reason",
              comp.get("status") == "degraded" and victim in comp.get("message", "")
              and "index" in comp.get("message", ""), comp)
        m = metrics(port)
        check("/metrics: vigil_tsdb_blocks_corrupt 1", m.get("vigil_tsdb_blocks_corrupt") == 1, m.get("vigil_tsdb_blocks_corrupt"))
        st, got3 = window(port, now)
        recent = {s: [(t, v) for t, v in smp if t > now - 2 * 60_000] for s, smp in want.items()}
        got3r = {s: [(t, v) for t, v in smp if t > now - 2 * 60_000] for s, smp in (got3 if st == 200 else {}).items()}
        check("the rest is served: the recent data reads the same", st == 200 and got3r == recent)
        st, body = get_json(port, "/api/v1/status/tsdb")
        check("/api/v1/status/tsdb reports the corrupt block",
              body["data"]["vigil"]["blockStats"]["corrupt"] == 1
              and body["data"]["vigil"]["blockStats"]["lastCorrupt"] == victim, body["data"].get("vigil"))
        rc = vig.stop()
        with open(vig.log_path) as f:
            out = f.read()
        check("clean shutdown without sanitizer reports", rc == 0 and "ERROR: " not in out
              and "runtime error" not in out, out[-2000:])
        vig = None
    finally:
        if vig:
            vig.stop()
        if False in results:
            for lg in sorted(glob.glob(os.path.join(tmp, "*.log"))):
                print("# " + lg + "\n" + "\n".join("# " + x for x in open(lg).read()[-3000:].splitlines()))
        shutil.rmtree(tmp, ignore_errors=True)
    finish("storage_blocks")


if __name__ == "__main__":
    main()
