#!/usr/bin/env python3
"""PromQL over HTTP against Prometheus 2.42 as the oracle: the same samples are remote-written into
vigil and into a real Prometheus (--web.enable-remote-write-receiver), then a set of dashboard-style
queries (rates, histogram quantiles, topk, aggregations, vector matching, subqueries, offsets, @, label
functions, errors) is asked of both as instant and range queries at fixed times; the HTTP status and
the JSON bodies must be identical, byte for byte. Output is TAP."""
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import snappy, write_request  # noqa: E402
from vigiltest import start_with_prometheus, check, finish, request, skip, wait_http, which  # noqa: E402

VIGIL = sys.argv[1]
STEP_MS = 15000
N_STEPS = 200  # 50 minutes: inside both heads' accepted range

QUERIES = [
    "up",
    "http_requests_total",
    'sum by (job) (rate(http_requests_total[5m]))',
    'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
    "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[10m]))",
    "topk(3, rate(node_network_receive_bytes_total[5m]))",
    "bottomk(2, node_memory_MemAvailable_bytes)",
    "avg_over_time(node_load1[10m])",
    "max_over_time(node_load1[10m]) - min_over_time(node_load1[10m])",
    "count by (job) (up)",
    'count_values("value", node_cpu_count)',
    "1 - (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
    "node_memory_MemAvailable_bytes / on (instance) group_left (job) up",
    'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay", mountpoint!="/boot"}',
    "increase(http_requests_total[15m])",
    "irate(http_requests_total[5m])",
    "delta(node_load1[10m])",
    "deriv(node_load1[10m])",
    "predict_linear(node_memory_MemAvailable_bytes[15m], 3600)",
    "resets(http_requests_total[30m])",
    "changes(node_load1[30m])",
    "stddev by (job) (node_load1)",
    "quantile(0.9, node_load1)",
    "quantile_over_time(0.9, node_load1[10m])",
    "rate(http_requests_total[5m] offset 10m)",
    "max_over_time(rate(http_requests_total[1m])[10m:1m])",
    'label_replace(up, "host", "$1", "instance", "(.*):.*")',
    'label_join(up, "id", "/", "job", "instance")',
    "sort_desc(sum by (instance) (node_load1))",
    "absent(nonexistent_metric)",
    'absent(up{job="nope"})',
    "vector(1) + up",
    "time() - node_boot_time_seconds",
    "clamp(node_load1, 0.5, 2)",
    "round(node_load1, 0.1)",
    "node_load1 > 1",
    "node_load1 > bool 1",
    "up and on (job) node_load1",
    "up unless up{job=\"api\"}",
    "sum(node_load1) by (job) or vector(0)",
    "holt_winters(node_load1[10m], 0.5, 0.5)",
    "exp(node_load1) / ln(node_load1 + 1)",
    "sum without (instance) (rate(http_requests_total[5m]))",
    "group by (job) (up)",
    "timestamp(up)",
    "scalar(sum(up))",
    "{__name__=~\"node_load.*\", job=\"api\"}",
    "http_requests_total @ end()",
    "rate(http_requests_total[5m] @ start())",
    # errors
    "sum(rate(",
    "http_requests_total + on (job) http_requests_total",
    'label_replace(up, "x", "y", "job", "(")',
]


def series_set(rng, t0):
    """[(labels, [(t, v)])]: node-exporter-like and app series over N_STEPS steps."""
    out = []
    for inst in range(4):
        job = ["api", "web"][inst % 2]
        base = {"job": job, "instance": f"10.0.0.{inst}:9100"}
        pts = lambda f: [(t0 + i * STEP_MS, f(i)) for i in range(N_STEPS)]
        out.append(({"__name__": "up", **base}, pts(lambda i: 1.0)))
        load = [rng.uniform(0.2, 3.0)]
        for _ in range(N_STEPS - 1):
            load.append(max(0.0, load[-1] + rng.uniform(-0.3, 0.3)))
        out.append(({"__name__": "node_load1", **base}, pts(lambda i: round(load[i], 2))))
        out.append(({"__name__": "node_memory_MemTotal_bytes", **base}, pts(lambda i: 8e9)))
        out.append(({"__name__": "node_memory_MemAvailable_bytes", **base}, pts(lambda i: 4e9 + (i * 7919 % 1000) * 1e6)))
        out.append(({"__name__": "node_boot_time_seconds", **base}, pts(lambda i: 1.7e9)))
        out.append(({"__name__": "node_cpu_count", **base}, pts(lambda i: float(2 + inst % 3))))
        for dev in ("eth0", "lo"):
            out.append(({"__name__": "node_network_receive_bytes_total", "device": dev, **base},
                        pts(lambda i, d=dev: float(i * (1000 + inst * 37) * (3 if d == "eth0" else 1)))))
        for mp, fs in (("/", "ext4"), ("/boot", "ext4"), ("/run", "tmpfs")):
            out.append(({"__name__": "node_filesystem_avail_bytes", "mountpoint": mp, "fstype": fs, **base},
                        pts(lambda i: 5e10 - i * 1e6)))
        for code in ("200", "500"):
            total = [0.0]
            for i in range(1, N_STEPS):
                # a counter reset in the middle for one series
                inc = rng.randint(0, 50) if code == "200" else rng.randint(0, 3)
                total.append(inc if (inst == 1 and i == N_STEPS // 2) else total[-1] + inc)
            out.append(({"__name__": "http_requests_total", "code": code, **base}, pts(lambda i, tt=total: tt[i])))
        cum = [0.0] * 6
        buckets = {le: [] for le in ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")}
        for i in range(N_STEPS):
            n = rng.randint(0, 20)
            for _ in range(n):
                d = rng.expovariate(5)
                for k, le in enumerate(("0.05", "0.1", "0.25", "0.5", "1", "+Inf")):
                    if le == "+Inf" or d <= float(le):
                        cum[k] += 1
            for k, le in enumerate(buckets):
                buckets[le].append((t0 + i * STEP_MS, cum[k]))
        for le, p in buckets.items():
            out.append(({"__name__": "http_request_duration_seconds_bucket", "le": le, **base}, p))
    return out


def same(query, pb, vb, inexact):
    """Identical answers: status, types, labels and timestamps exactly; values identical as strings, or
    (counted in `inexact`) within 1e-12 relative where the last digits differ (libm and summation order).
    Instant vectors compare as sets except for sort()/sort_desc() (Prometheus gives no order otherwise)."""
    if pb == vb:
        return True
    try:
        p, v = json.loads(pb), json.loads(vb)
    except ValueError:
        return False
    if p.get("status") != "success" or v.get("status") != "success":
        return p == v
    pd, vd = p["data"], v["data"]
    if pd["resultType"] != vd["resultType"]:
        return False
    if pd["resultType"] in ("scalar", "string"):
        pr, vr = [pd["result"]], [vd["result"]]
        pts = lambda r: [r]
    else:
        key = lambda e: json.dumps(e["metric"], sort_keys=True)
        pr, vr = pd["result"], vd["result"]
        if pd["resultType"] == "vector" and "sort" not in query:
            pr, vr = sorted(pr, key=key), sorted(vr, key=key)
        if [key(e) for e in pr] != [key(e) for e in vr]:
            return False
        pts = lambda e: [e["value"]] if "value" in e else e["values"]
    for a, b in zip(pr, vr):
        pa, pb2 = pts(a), pts(b)
        if len(pa) != len(pb2):
            return False
        for (ta, xa), (tb, xb) in zip(pa, pb2):
            if ta != tb:
                return False
            if xa == xb:
                continue
            fa, fb = float(xa), float(xb)
            if not (math.isfinite(fa) and math.isfinite(fb) and abs(fa - fb) <= 1e-12 * max(abs(fa), abs(fb))):
                return False
            inexact.append((query, xa, xb))
    return True


def push(port, series):
    for i in range(0, len(series), 20):
        body = snappy(write_request(series[i:i + 20]))
        st, _, text = request(port, "/api/v1/write", method="POST", body=body,
                              headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                                       "X-Prometheus-Remote-Write-Version": "0.1.0"})
        if st not in (200, 204):
            return st, text
    return 204, ""


def main():
    prom = which("prometheus")
    if not prom:
        skip("query oracle", "prometheus not installed")
        finish("integration_query_oracle")
    tmp = tempfile.mkdtemp(prefix="vigil-query-")
    procs = []
    try:
        vport, pport, started = start_with_prometheus(VIGIL, prom, tmp)
        procs += started
        vig = started[0]
        check("vigil and prometheus start", wait_http(vport, "/-/ready") and wait_http(pport, "/-/ready"))
        rng = random.Random(42)
        t0 = (int(time.time()) // 60 * 60 - 55 * 60) * 1000
        data = series_set(rng, t0)
        pv, vv = push(pport, data), push(vport, data)
        check(f"the same {len(data)} series × {N_STEPS} samples written to both", pv[0] == 204 and vv[0] == 204, (pv, vv))
        end = t0 + (N_STEPS - 1) * STEP_MS
        times = [end, end - 7 * STEP_MS + 3000, t0 + 40 * STEP_MS]
        inexact = []
        for q in QUERIES:
            for kind, params in (("instant", [("time", f"{t / 1000:.3f}") for t in times[:1]]),
                                 ("instant2", [("time", f"{times[1] / 1000:.3f}")]),
                                 ("range", [("start", f"{times[2] / 1000:.3f}"), ("end", f"{end / 1000:.3f}"), ("step", "60")])):
                path = "/api/v1/query_range" if kind == "range" else "/api/v1/query"
                qs = urllib.parse.urlencode([("query", q)] + params)
                ps, _, pb = request(pport, f"{path}?{qs}")
                vs, _, vb = request(vport, f"{path}?{qs}")
                check(f"{kind} {q}: identical ({ps})", ps == vs and same(q, pb, vb, inexact),
                      f"prometheus {ps} {pb[:600]}\nvigil      {vs} {vb[:600]}")
        # promtool is a Prometheus client: its query commands must work against vigil as against Prometheus
        promtool = which("promtool")
        if promtool:
            t = f"{end / 1000:.3f}"
            for args in (["instant", "--time", t, "QUERY", "sum by (job) (up)"], ["range", "--start", f"{times[2] / 1000:.3f}",
                         "--end", t, "--step", "1m", "QUERY", "count(up)"], ["series", "--match", "up", "QUERY"], ["labels", "QUERY", "job"]):
                outs = []
                for port in (pport, vport):
                    argv = [promtool, "query", "-o", "json"] + [f"http://127.0.0.1:{port}" if a == "QUERY" else a for a in args]
                    r = __import__("subprocess").run(argv, capture_output=True, text=True, timeout=30)
                    outs.append((r.returncode, r.stdout))
                check(f"promtool query {args[0]} works against vigil and answers as against Prometheus",
                      outs[1][0] == 0 and outs[0] == outs[1], outs)
        # regexes on long label values: the answer Prometheus (RE2) gives, under =~ and !~
        long_v = "ab" * 2047 + "!"
        rx = [({"__name__": "rx_long", "v": long_v}, [(end, 1)]), ({"__name__": "rx_long", "v": "ab" * 2047 + "a"}, [(end, 2)]),
              ({"__name__": "rx_long", "v": "xyz" * 1365 + "q"}, [(end, 3)]), ({"__name__": "rx_bomb", "v": "a" * 30 + "c"}, [(end, 4)])]
        pv, vv = push(pport, rx), push(vport, rx)
        check("long-value series written to both", pv[0] == 204 and vv[0] == 204, (pv, vv))
        t = f"{end / 1000:.3f}"
        for q in ('rx_long{v=~"(a|b)+!"}', 'rx_long{v!~"(a|b)+!"}', 'rx_long{v=~"((a|b)(a|b))+!"}',
                  'rx_long{v=~".*x.*y.*z"}', 'rx_long{v!~".*x.*y.*z"}', 'rx_bomb{v!~"(a|a)+"}',
                  'label_replace(rx_long, "d", "$2", "v", "(a|b)+(!)")'):
            qs = urllib.parse.urlencode([("query", q), ("time", t)])
            ps, _, pb = request(pport, f"/api/v1/query?{qs}")
            vs, _, vb = request(vport, f"/api/v1/query?{qs}")
            check(f"long values: {q}: identical ({ps})", ps == vs == 200 and same(q, pb, vb, inexact),
                  f"prometheus {ps} {pb[:300]}\nvigil      {vs} {vb[:300]}")
        # a capture only the backtracker can report, which gives up: vigil fails the query (Prometheus,
        # on RE2, answers); never the series left unchanged as if the regex had not matched
        qs = urllib.parse.urlencode([("query", 'label_replace(rx_bomb, "d", "$2", "v", "(a|a)+b|(a+c)")'), ("time", t)])
        vs, _, vb = request(vport, f"/api/v1/query?{qs}")
        j = json.loads(vb)
        check("label_replace whose regex cannot be evaluated → 422 execution",
              vs == 422 and j.get("errorType") == "execution" and "could not be evaluated" in j.get("error", ""), vb[:300])
        by_query = sorted({q for q, _, _ in inexact})
        print(f"# {len(inexact)} values differ from Prometheus in the last digits (within 1e-12), in: {by_query}")
        check("vigil survives", vig.alive(), vig.output()[-2000:])
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_query_oracle")


if __name__ == "__main__":
    main()
