#!/usr/bin/env python3
"""A/B query timing of vigil builds on one data directory (see docs/performance.md).

Starts each binary on its own copy of DATA (no scraping), sends the shared harness' 20 query variants
(../shared/bench/bench.py QUERIES, instant at T and over [T-range, T] at step) round-robin over the
binaries after one warm-up round, prints per-query medians and checks that every binary's answers are
byte-identical to the first one's.

  query_ab.py --data /tmp/bench-data-vigil-XXXX --t 1796686125 --reps 9 OLD/vigil NEW/vigil
"""
import os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.parse, urllib.request
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "bench"))
from bench import QUERIES  # noqa: E402

def freeport():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def get(url, params):
    u = url + "?" + urllib.parse.urlencode(params)
    t0 = time.perf_counter()
    with urllib.request.urlopen(u, timeout=120) as r:
        body = r.read()
    return (time.perf_counter() - t0) * 1000, body

def main():
    import argparse
    import math
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--t", type=float, required=True)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--range", type=int, default=3600)
    ap.add_argument("--step", type=int, default=15)
    ap.add_argument("--only", default="")
    ap.add_argument("--dump", default="")
    ap.add_argument("bins", nargs="+")
    a = ap.parse_args()
    procs, urls = [], []
    work = tempfile.mkdtemp(prefix="vigil-query-ab-")
    cfg = os.path.join(work, "empty.yml")
    open(cfg, "w").write("global:\n  scrape_interval: 1h\n")
    for i, b in enumerate(a.bins):
        d = os.path.join(work, "data-%d" % i)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(a.data, d)
        port = freeport()
        p = subprocess.Popen([b, "serve", "--config", cfg, "--listen", "127.0.0.1:%d" % port, "--data", d],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "server-%d.log" % i), "w"))
        procs.append(p); urls.append("http://127.0.0.1:%d" % port)
    try:
        for u in urls:
            for _ in range(600):
                try:
                    get(u + "/api/v1/query", {"query": "1"}); break
                except Exception:
                    time.sleep(0.2)
        jobs = []
        for name, q in QUERIES:
            if a.only and a.only not in name: continue
            jobs.append((name, "instant", "/api/v1/query", {"query": q, "time": "%.3f" % a.t}))
            jobs.append((name, "range", "/api/v1/query_range", {"query": q, "start": "%.3f" % (a.t - a.range),
                         "end": "%.3f" % a.t, "step": str(a.step)}))
        lat = {(j[0], j[1], i): [] for j in jobs for i in range(len(urls))}
        bodies = {}
        for rep in range(-1, a.reps):
            for name, var, path, params in jobs:
                for i, u in enumerate(urls):
                    ms, body = get(u + path, params)
                    if rep >= 0: lat[(name, var, i)].append(ms)
                    else: bodies[(name, var, i)] = body
        same = True
        for name, var, _, _ in jobs:
            b0 = bodies[(name, var, 0)]
            for i in range(1, len(urls)):
                if bodies[(name, var, i)] != b0:
                    same = False; print("DIFF", name, var, "bin", i)
        if a.dump:
            os.makedirs(a.dump, exist_ok=True)
            for (name, var, i), b in bodies.items():
                open(os.path.join(a.dump, "%s.%s.%d.json" % (name, var, i)), "wb").write(b)
        print("%-22s %-7s " % ("query", "variant") + " ".join("%10s" % ("bin%d" % i) for i in range(len(urls))) + "   ratio")
        gm = [0.0] * len(urls)
        for name, var, _, _ in jobs:
            meds = [statistics.median(lat[(name, var, i)]) for i in range(len(urls))]
            for i, m in enumerate(meds): gm[i] += math.log(m)
            print("%-22s %-7s " % (name, var) + " ".join("%10.2f" % m for m in meds) +
                  "   %.2fx" % (meds[-1] / meds[0]))
        print("%-30s " % "geomean" + " ".join("%10.2f" % math.exp(g / len(jobs)) for g in gm))
        print("answers identical:", same)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try: p.wait(30)
            except Exception: p.kill()
        shutil.rmtree(work, ignore_errors=True)

main()
