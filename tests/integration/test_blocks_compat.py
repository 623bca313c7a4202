#!/usr/bin/env python3
"""Persistent blocks against Prometheus 2.42's own tools: promtool writes blocks from an OpenMetrics
file; `vigil tsdb dump` must print the same samples as `promtool tsdb dump`; `vigil tsdb export
--format prometheus` must give blocks promtool can list, analyze and dump to the same samples; a
dense export must be smaller than the XOR one on decimal data and dump the same samples. Output is
TAP; the byte sizes of each encoding are printed as diagnostics."""
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import check, finish, skip, which  # noqa: E402

VIGIL = sys.argv[1]
T0 = 1680000000  # seconds


def openmetrics():
    """Counters, gauges with decimals, NaN, +Inf, many label values, over 4 h (two 2 h blocks)."""
    rnd = random.Random(42)
    out = []
    out.append("# TYPE http_requests counter")
    for inst in range(40):
        for code in ("200", "404", "500"):
            v = rnd.randint(0, 100)
            for k in range(0, 4 * 3600, 30):
                v += rnd.randint(0, 7)
                out.append(f'http_requests_total{{instance="host-{inst:02d}:9100",code="{code}",path="/a b\\"q\\""}} {v} {T0 + k}')
    out.append("# TYPE temperature gauge")
    for room in range(25):
        for k in range(0, 4 * 3600, 60):
            v = round(20 + rnd.random() * 5, 2)
            if k % 3600 == 600 and room % 5 == 0:
                v = "NaN"
            elif k == 7200 and room == 3:
                v = "+Inf"
            out.append(f'temperature{{room="r{room}",unit="celsius"}} {v} {T0 + k}')
    out.append("# TYPE ratio gauge")
    for k in range(0, 4 * 3600, 15):
        out.append(f"ratio {rnd.random()} {T0 + k}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def dump_lines(tool, d, *extra):
    if tool == "promtool":
        os.makedirs(os.path.join(d, "wal"), exist_ok=True)  # promtool's read-only DB wants one
        rc, out, err = run(["promtool", "tsdb", "dump", *extra, d])
    else:
        rc, out, err = run([VIGIL, "tsdb", "dump", *extra, d])
    return rc, sorted(out.splitlines()), err


def du(d):
    total = 0
    for root, _, files in os.walk(d):
        if os.path.basename(root) in ("wal", "chunks_head"):
            continue
        for f in files:
            if f in ("index", "meta.json", "tombstones") or os.path.basename(root) == "chunks":
                total += os.path.getsize(os.path.join(root, f))
    return total


def main():
    if not which("promtool"):
        skip("blocks compatibility", "promtool not installed")
        finish("blocks_compat")
    tmp = tempfile.mkdtemp(prefix="vigil-blocks-")
    try:
        om = os.path.join(tmp, "data.om")
        with open(om, "w") as f:
            f.write(openmetrics())
        src, xor, dense = (os.path.join(tmp, n) for n in ("src", "xor", "dense"))
        rc, out, err = run(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, src])
        if not check("promtool create-blocks-from", rc == 0, err):
            finish("blocks_compat")

        # (a) vigil reads Prometheus' blocks
        rc_p, want, err_p = dump_lines("promtool", src)
        rc_v, got, err_v = dump_lines("vigil", src)
        check("promtool dump of the source", rc_p == 0 and len(want) > 10000, err_p)
        check("vigil dump equals promtool dump (Prometheus' blocks)", rc_v == 0 and got == want,
              err_v or "\n".join(sorted(set(got) ^ set(want))[:20]))
        for sel in ('temperature{room=~"r1.*"}', 'http_requests_total{code!="200",instance="host-07:9100"}'):
            args = ("--match", sel, "--min-time", str(T0 * 1000 + 3600000), "--max-time", str(T0 * 1000 + 9000000))
            rc_p, w, _ = dump_lines("promtool", src, *args)
            rc_v, g, e = dump_lines("vigil", src, *args)
            check(f"dump --match {sel} with a time range", rc_v == 0 and g == w and len(w) > 0,
                  e or "\n".join(sorted(set(g) ^ set(w))[:20]))
        rc, out, err = run([VIGIL, "tsdb", "verify", src])
        check("vigil tsdb verify on Prometheus' blocks", rc == 0, err)
        rc, out, err = run([VIGIL, "tsdb", "list", src])
        rc2, out2, _ = run(["promtool", "tsdb", "list", src])
        vl = sorted(l.split()[:7] for l in out.splitlines()[1:])
        pl = sorted(l.split()[:7] for l in out2.splitlines()[1:])
        check("vigil tsdb list matches promtool tsdb list (ULID, times, duration, counts)", rc == 0 and vl == pl,
              out + "\n" + out2)

        # (b) vigil's XOR blocks are Prometheus blocks
        rc, out, err = run([VIGIL, "tsdb", "export", "--format", "prometheus", src, xor])
        check("vigil tsdb export --format prometheus", rc == 0, err)
        rc, out, err = run(["promtool", "tsdb", "analyze", xor])
        check("promtool tsdb analyze on vigil's blocks", rc == 0 and "Series:" in out, err)
        rc, out, err = run(["promtool", "tsdb", "list", xor])
        check("promtool tsdb list on vigil's blocks", rc == 0 and len(out.splitlines()) == len(pl) + 1, out + err)
        rc_p, got, err = dump_lines("promtool", xor)
        check("promtool dump of vigil's XOR export equals the original dump", rc_p == 0 and got == want,
              err or "\n".join(sorted(set(got) ^ set(want))[:20]))

        # (c) dense blocks: smaller, same samples
        rc, out, err = run([VIGIL, "tsdb", "export", "--format", "dense", src, dense])
        check("vigil tsdb export --format dense", rc == 0, err)
        rc_v, got, err = dump_lines("vigil", dense)
        check("vigil dump of the dense export equals the original dump", rc_v == 0 and got == want,
              err or "\n".join(sorted(set(got) ^ set(want))[:20]))
        rc, out, err = run([VIGIL, "tsdb", "verify", dense])
        check("vigil tsdb verify on dense blocks", rc == 0, err)
        b_prom, b_xor, b_dense = du(src), du(xor), du(dense)
        print(f"# bytes for {len(want)} samples: prometheus {b_prom}, vigil xor {b_xor}, vigil dense {b_dense}")
        check("dense export is smaller than the XOR export", b_dense < b_xor, f"{b_dense} >= {b_xor}")

        # errors: clear message, exit 1
        rc, out, err = run([VIGIL, "tsdb", "list", os.path.join(tmp, "missing")])
        check("a missing directory is an error", rc == 1 and "missing" in err, err)
        blk = next(d for d in os.listdir(xor) if len(d) == 26)
        with open(os.path.join(xor, blk, "index"), "r+b") as f:
            f.seek(-3, 2)
            f.write(b"\xff")
        rc, out, err = run([VIGIL, "tsdb", "dump", xor])
        check("a corrupt index is reported, exit 1", rc == 1 and "index" in err and "checksum" in err, err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish("blocks_compat")


main()
