#!/usr/bin/env python3
"""The cluster overview and the query results cache, end to end on the real binary (use the release
build). One vigil scrapes a node_exporter as cluster c1 and holds 24 h of a remote-written counter
(SERIES series in GROUPS groups, a sample every 30 s, written with `vigil import openmetrics`).

  overview: median latency of /api/v1/clusters, /clusters/c1/node-metrics and /clusters/c1/metrics
            (10min), cold (every request a cache miss: query_cache.ttl 1s, requests 1.2 s apart) and
            warm (back-to-back requests within the TTL). Goal: warm < 2 ms.
  query_range: `sum by (group) (rate(bench_requests_total[5m]))` over the last 24 h at 60 s steps
            (start and end aligned to the step), asked again and again as a dashboard refresh does;
            cold = query_cache.enabled false, warm = the cache on (after the first request). Every
            answer of the warm run is compared with the uncached answer for the same window. Goal:
            warm >= 10x faster, identical answers.

Prints one line per case: name, median ms, p90 ms, n.

usage: bench_clusters.py VIGIL_BIN [--series 200] [--groups 10] [--reps 200]"""
import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from vigiltest import Proc, free_port, request, wait_http, which  # noqa: E402

QUERY = "sum by (group) (rate(bench_requests_total[5m]))"


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path, **params):
        q = urllib.parse.urlencode(params)
        t0 = time.perf_counter()
        self.c.request("GET", f"{path}?{q}" if q else path)
        r = self.c.getresponse()
        body = r.read()
        dt = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            raise SystemExit(f"{path}: {r.status} {body[:200]!r}")
        return dt, body


def line(name, xs):
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(len(xs) * 0.9))]
    print(f"{name:<44} median {statistics.median(xs):9.3f} ms   p90 {p90:9.3f} ms   n {len(xs)}")
    return statistics.median(xs)


def config(tmp, ne_port, cache, ttl):
    return f"""storage: {{path: {tmp}/data}}
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
query_cache: {{enabled: {str(cache).lower()}, ttl: {ttl}}}
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ['127.0.0.1:{ne_port}'], labels: {{cluster: c1}}}}]
"""


def start(vigil, tmp, ne_port, cache, ttl, name):
    port = free_port()
    with open(f"{tmp}/{name}.yml", "w") as f:
        f.write(config(tmp, ne_port, cache, ttl))
    p = Proc([vigil, "serve", "--config", f"{tmp}/{name}.yml", "--listen", f"127.0.0.1:{port}"], f"{tmp}/{name}.log")
    if not wait_http(port, "/-/ready", timeout=120):
        raise SystemExit(p.output())
    return p, port


def backfill(vigil, tmp, n_series, n_groups, now_ms):
    """24 h of the counter through `vigil import openmetrics` (the server's head accepts only its last hour)."""
    t0 = now_ms - 24 * 3600 * 1000 - 15 * 60 * 1000
    ts = list(range(t0, now_ms - 60 * 1000, 30 * 1000))
    with open(f"{tmp}/backfill.om", "w") as f:
        f.write("# TYPE bench_requests counter\n")
        for s in range(n_series):
            lab = f'group="{s % n_groups}",job="bench",series="{s}"'
            f.writelines(f"bench_requests_total{{{lab}}} {k * (1 + s % 7)} {t / 1000:.3f}\n" for k, t in enumerate(ts))
        f.write("# EOF\n")
    r = subprocess.run([vigil, "import", "openmetrics", f"{tmp}/backfill.om", "--data", f"{tmp}/data"], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"import: {r.stdout} {r.stderr}")


def window():
    end = int(time.time()) // 60 * 60
    return end - 86400, end


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vigil")
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--groups", type=int, default=10)
    ap.add_argument("--reps", type=int, default=200)
    a = ap.parse_args()
    ne = which("prometheus-node-exporter", "node_exporter")
    tmp = tempfile.mkdtemp(prefix="vigil-bench-clusters-")
    ne_port = free_port()
    procs = [Proc([ne, f"--web.listen-address=127.0.0.1:{ne_port}"], f"{tmp}/ne.log")]
    try:
        backfill(a.vigil, tmp, a.series, a.groups, int(time.time() * 1000))
        v, port = start(a.vigil, tmp, ne_port, True, "1s", "overview")
        procs.append(v)
        time.sleep(12)  # node_exporter scrapes for the rates
        c = Client(port)
        paths = [("/api/v1/clusters", {}), ("/api/v1/clusters/c1/node-metrics", {}),
                 ("/api/v1/clusters/c1/metrics", {"time_range": "10min"})]
        for path, params in paths:
            cold = []
            for _ in range(15):
                time.sleep(1.2)  # past the 1 s TTL: every query of the request misses
                cold.append(c.get(path, **params)[0])
            warm = [c.get(path, **params)[0] for _ in range(a.reps)]
            line(f"overview cold {path}", cold)
            line(f"overview warm {path}", warm)
        v.stop()
        procs.remove(v)

        # query_range: the same storage, cache off (cold) then on (warm)
        results = {}
        medians = {}
        compared = 0
        for cache in (False, True):
            v, port = start(a.vigil, tmp, ne_port, cache, "30s", f"range-{cache}")
            procs.append(v)
            c = Client(port)
            lat = []
            for i in range(max(20, a.reps // 10) if not cache else a.reps):
                s, e = window()
                dt, body = c.get("/api/v1/query_range", query=QUERY, start=s, end=e, step=60)
                lat.append(dt)
                if not cache:
                    results[(s, e)] = body
                elif (s, e) in results:  # the same window answered without the cache
                    if results[(s, e)] != body:
                        raise SystemExit(f"answers differ for window {s}-{e}")
                    compared += 1
                time.sleep(0.01)
            name = "query_range 24h/60s " + ("warm (cache on)" if cache else "cold (cache off)")
            medians[cache] = line(name, lat[1:] if cache else lat)
            if cache:
                line("query_range 24h/60s first request (cache on, empty)", lat[:1])
            v.stop()
            procs.remove(v)
        print(f"query_range speed-up warm vs cold: {medians[False] / medians[True]:.1f}x; "
              f"{compared} warm answers compared byte for byte with the cold answer of the same window: identical")
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
