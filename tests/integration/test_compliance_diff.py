#!/usr/bin/env python3
"""Differential PromQL test against Prometheus 2.42: synthetic demo_* data in the shape of the PromQL
compliance tester's reference service (gauges, counters with resets, a classic histogram, an
intermittent metric with gaps) is written as OpenMetrics, loaded into Prometheus with
`promtool tsdb create-blocks-from openmetrics` and into vigil with `vigil import openmetrics`; then the
compliance query set (../shared/promql/compliance/expanded-queries.tsv, read at run time, skipped when
absent) plus our own queries run as instant and range queries against both. Labels must be exact,
values within 1e-9 relative (NaN = NaN), failures must fail in both. Output is TAP."""
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, request, shared_dir, skip, wait_http, which  # noqa: E402

VIGIL = sys.argv[1]
STEP = 15
HOURS = 2
OWN = ["demo_cpu_usage_seconds_total", 'rate(demo_cpu_usage_seconds_total{mode="idle"}[5m])',
       "histogram_quantile(0.9, rate(demo_api_request_duration_seconds_bucket[5m]))",
       "demo_intermittent_metric", "count_over_time(demo_intermittent_metric[10m])", "resets(demo_cpu_usage_seconds_total[1h])",
       'sum by (mode) (increase(demo_cpu_usage_seconds_total[15m]))', "demo_batch_last_success_timestamp_seconds < time() - 600"]


def om_data(t0, rng):
    """OpenMetrics text: one family after another, samples in time order per series, seconds timestamps."""
    out = []
    n = HOURS * 3600 // STEP
    insts = [f"demo.promlabs.com:{p}" for p in (10000, 10001, 10002)]
    out.append("# TYPE demo_memory_usage_bytes gauge")
    for inst in insts:
        for typ in ("buffers", "cached", "free", "used"):
            v = rng.uniform(1e8, 2e9)
            for i in range(n):
                v = max(0.0, v + rng.uniform(-1e7, 1e7))
                out.append(f'demo_memory_usage_bytes{{instance="{inst}",job="demo",type="{typ}"}} {v:.1f} {t0 + i * STEP}')
    out.append("# TYPE demo_num_cpus gauge")
    for k, inst in enumerate(insts):
        for i in range(n):
            out.append(f'demo_num_cpus{{instance="{inst}",job="demo"}} {4 + k} {t0 + i * STEP}')
    out.append("# TYPE demo_cpu_usage_seconds counter")
    for inst in insts:
        for mode in ("idle", "system", "user"):
            v = 0.0
            for i in range(n):
                v = 0.5 if (inst.endswith("1") and i == n // 3) else v + rng.uniform(0, 15)
                out.append(f'demo_cpu_usage_seconds_total{{instance="{inst}",job="demo",mode="{mode}"}} {v:.3f} {t0 + i * STEP}')
    out.append("# TYPE demo_disk_usage_bytes gauge")
    for inst in insts:
        for i in range(n):
            out.append(f'demo_disk_usage_bytes{{instance="{inst}",job="demo"}} {1e10 + i * 1e5:.0f} {t0 + i * STEP}')
    out.append("# TYPE demo_batch_last_success_timestamp_seconds gauge")
    for inst in insts:
        for i in range(n):
            out.append(f'demo_batch_last_success_timestamp_seconds{{instance="{inst}",job="demo"}} '
                       f'{t0 + (i // 40) * 40 * STEP} {t0 + i * STEP}')
    out.append("# TYPE demo_intermittent_metric gauge")
    for i in range(n):
        if (i // 20) % 3 != 2:  # gaps of 5 minutes
            out.append(f'demo_intermittent_metric{{instance="{insts[0]}",job="demo"}} {i % 7} {t0 + i * STEP}')
    out.append("# TYPE demo_api_request_duration_seconds histogram")
    les = ["0.0002", "0.0004", "0.0008", "0.0016", "0.0032", "0.0064", "0.0128", "0.0256", "0.0512", "0.1024", "0.2048", "+Inf"]
    for inst in insts:
        for method, path, status in (("GET", "/api/foo", "200"), ("POST", "/api/bar", "500")):
            cum = [0] * len(les)
            total, count = 0.0, 0
            rows = {le: [] for le in les}
            sums, counts = [], []
            for i in range(n):
                for _ in range(rng.randint(0, 30)):
                    d = rng.expovariate(40)
                    count += 1
                    total += d
                    for k, le in enumerate(les):
                        if le == "+Inf" or d <= float(le):
                            cum[k] += 1
                for k, le in enumerate(les):
                    rows[le].append(cum[k])
                sums.append(total)
                counts.append(count)
            lab = f'instance="{inst}",job="demo",method="{method}",path="{path}",status="{status}"'
            for le in les:
                for i, c in enumerate(rows[le]):
                    out.append(f'demo_api_request_duration_seconds_bucket{{{lab},le="{le}"}} {c} {t0 + i * STEP}')
            for i, c in enumerate(counts):
                out.append(f"demo_api_request_duration_seconds_count{{{lab}}} {c} {t0 + i * STEP}")
            for i, s in enumerate(sums):
                out.append(f"demo_api_request_duration_seconds_sum{{{lab}}} {s:.6f} {t0 + i * STEP}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


def values_close(a, b):
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if fa == fb:
        return True
    return abs(fa - fb) <= 1e-9 * max(abs(fa), abs(fb))


def same(pb, vb):
    try:
        p, v = json.loads(pb), json.loads(vb)
    except ValueError:
        return False
    if p["status"] != v["status"]:
        return False
    if p["status"] == "error":
        return p["errorType"] == v["errorType"]
    pd, vd = p["data"], v["data"]
    if pd["resultType"] != vd["resultType"]:
        return False
    if pd["resultType"] in ("scalar", "string"):
        return pd["result"][0] == vd["result"][0] and values_close(pd["result"][1], vd["result"][1])
    key = lambda e: json.dumps(e["metric"], sort_keys=True)
    pr, vr = sorted(pd["result"], key=key), sorted(vd["result"], key=key)
    if [key(e) for e in pr] != [key(e) for e in vr]:
        return False
    for a, b in zip(pr, vr):
        pa = [a["value"]] if "value" in a else a["values"]
        pb2 = [b["value"]] if "value" in b else b["values"]
        if len(pa) != len(pb2) or any(x[0] != y[0] or not values_close(x[1], y[1]) for x, y in zip(pa, pb2)):
            return False
    return True


def main():
    prom, promtool = which("prometheus"), which("promtool")
    sd = shared_dir()
    if not prom or not promtool:
        skip("compliance differential test", "prometheus/promtool not installed")
        finish("integration_compliance_diff")
    queries = [("OK", q) for q in OWN]
    if sd and os.path.exists(os.path.join(sd, "promql", "compliance", "expanded-queries.tsv")):
        with open(os.path.join(sd, "promql", "compliance", "expanded-queries.tsv")) as f:
            queries += [tuple(l.rstrip("\n").split("\t", 1)) for l in f if "\t" in l]
    else:
        skip("compliance query set", "../shared/promql/compliance absent: own queries only")
    tmp = tempfile.mkdtemp(prefix="vigil-compl-")
    procs = []
    try:
        t0 = (int(time.time()) // 3600 - HOURS - 1) * 3600
        with open(f"{tmp}/data.om", "w") as f:
            f.write(om_data(t0, random.Random(7)))
        p = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", f"{tmp}/data.om", f"{tmp}/p"],
                           capture_output=True, text=True)
        check("promtool creates blocks", p.returncode == 0, p.stderr[-1500:])
        p = subprocess.run([VIGIL, "import", "openmetrics", f"{tmp}/data.om", "--data", f"{tmp}/v"], capture_output=True, text=True)
        check("vigil import openmetrics", p.returncode == 0 and "skipped: 0 without timestamp, 0 invalid labels, 0 out of order" in p.stdout,
              p.stdout + p.stderr[-1500:])
        vport, pport = free_port(), free_port()
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(f"storage: {{path: {tmp}/v, retention: 30d}}\n")
        with open(f"{tmp}/prom.yml", "w") as f:
            f.write("global: {evaluation_interval: 1m}\n")
        vig = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{vport}"], f"{tmp}/vigil.log")
        pr = Proc([prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p", f"--web.listen-address=127.0.0.1:{pport}",
                   "--storage.tsdb.retention.time=30d"], f"{tmp}/prom.log")
        procs += [vig, pr]
        check("vigil and prometheus start on the loaded data", wait_http(vport, "/-/ready") and wait_http(pport, "/-/ready"))
        end = t0 + HOURS * 3600 - 600
        diffs, total, nonempty, errors = [], 0, 0, 0
        for expect, q in queries:
            for path, params in (("/api/v1/query", [("time", str(end))]),
                                 ("/api/v1/query_range", [("start", str(end - 1800)), ("end", str(end)), ("step", "30")])):
                qs = urllib.parse.urlencode([("query", q)] + params)
                ps, _, pb = request(pport, f"{path}?{qs}")
                vs, _, vb = request(vport, f"{path}?{qs}")
                total += 1
                try:
                    body = json.loads(vb)
                    nonempty += body["status"] == "success" and body["data"]["result"] not in ([], None)
                    errors += body["status"] == "error"
                except ValueError:
                    pass
                if ps != vs or not same(pb, vb):
                    diffs.append((q, path, ps, vs, pb[:300], vb[:300]))
        print(f"# compared {total} query answers ({nonempty} with data, {errors} errors in both); {len(diffs)} differ")
        check("most answers carry data (the comparison is not vacuous)", nonempty > total * 0.8, (nonempty, total))
        for d in diffs[:40]:
            print(f"#   {d[1]} {d[0]}\n#     prometheus {d[2]} {d[4]}\n#     vigil      {d[3]} {d[5]}")
        check(f"{total} instant and range answers agree with Prometheus 2.42", not diffs, f"{len(diffs)} differ")
        check("vigil survives", vig.alive(), vig.output()[-2000:])
    finally:
        for p_ in procs:
            p_.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_compliance_diff")


if __name__ == "__main__":
    main()
