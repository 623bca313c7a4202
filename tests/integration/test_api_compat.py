#!/usr/bin/env python3
"""Endpoints Grafana and the Prometheus UI call besides queries, against Prometheus 2.42 as the oracle:
/api/v1/format_query (identical answers over a table of queries and parse errors), the `stats`
parameter of /api/v1/query and /api/v1/query_range (the same JSON shape — keys, their order and
value types — and the same per-step timestamps and sample counts where the engines count alike), and
/api/v1/status/walreplay (the same shape; after a restart, the segments vigil replayed). Prometheus
runs with --enable-feature=promql-per-step-stats, which vigil behaves as if always on. Output is TAP."""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_query_oracle import push  # noqa: E402
from vigiltest import start_with_prometheus, Proc, check, finish, request, skip, wait_http, which  # noqa: E402

VIGIL = sys.argv[1]
STEP_MS = 15000
N_STEPS = 80

FORMAT = [
    "up",
    "sum(rate(http_requests_total[5m]))by(job)",
    'sum without(instance)(rate(x{a="b",c=~"d.*"}[1m] offset 5m))',
    "a+b*c^d",
    "(a + b) * c",
    "-a ^ 2",
    "topk(3, x) > bool 1",
    "x / on(a, b) group_left(c) y",
    "x and ignoring(a) y",
    "max_over_time(rate(x[1m])[10m:30s] @ 100)",
    "x @ start() offset -1m",
    'label_replace(up, "h", "$1", "instance", "(.*):.*")',
    'count_values("v", x)',
    'quantile(0.9, x)',
    '{__name__="x", job!="y"}',
    '"a string"',
    "1e3 + 0x10 - Inf",
    "NaN",
    "x[1h30m]",
    "rate(x[5m:])",
    "histogram_quantile(0.99, sum by (le) (rate(b[5m])))",
    "# a comment\nup",
    "sum by (job) (up) unless on() vector(1)",
    'x{a="\\n\\"q\\""}',
    # errors
    "",
    "sum(rate(",
    "x{",
    "1 +",
    "rate(x)",
    "foo bar",
    'label_replace(up, "h")',
    "x[5m] + 1",
    "sum by (job) (",
]

STATS = [
    ("up", "instant"), ("up", "range"), ("rate(http_requests_total[5m])", "instant"),
    ("rate(http_requests_total[5m])", "range"), ("sum(up)", "range"), ("vector(1)", "range"),
    ("count_over_time(up[2m])", "instant"), ("up[2m]", "instant"), ("time()", "instant"), ('"s"', "instant"),
]


def shape(v):
    """The JSON structure without its numbers' values: keys in order, value types (int vs float)."""
    if isinstance(v, dict):
        return [(k, shape(x)) for k, x in v.items()]
    if isinstance(v, list):
        return [shape(x) for x in v]
    return type(v).__name__


def main():
    prom = which("prometheus")
    if not prom:
        skip("api compat", "prometheus not installed")
        finish("integration_api_compat")
    tmp = tempfile.mkdtemp(prefix="vigil-compat-")
    procs = []
    try:
        vport, pport, started = start_with_prometheus(VIGIL, prom, tmp, ["--enable-feature=promql-per-step-stats"])
        procs += started
        vig = started[0]
        check("vigil and prometheus start", wait_http(vport, "/-/ready") and wait_http(pport, "/-/ready"))

        # format_query: GET and POST, identical status and body
        for q in FORMAT:
            for method in ("GET", "POST"):
                enc = urllib.parse.urlencode([("query", q)])
                if method == "GET":
                    ps, _, pb = request(pport, f"/api/v1/format_query?{enc}")
                    vs, _, vb = request(vport, f"/api/v1/format_query?{enc}")
                else:
                    h = {"Content-Type": "application/x-www-form-urlencoded"}
                    ps, _, pb = request(pport, "/api/v1/format_query", "POST", enc.encode(), h)
                    vs, _, vb = request(vport, "/api/v1/format_query", "POST", enc.encode(), h)
                check(f"format_query {method} {q!r}: identical ({ps})", (ps, pb) == (vs, vb), f"prometheus {ps} {pb}\nvigil      {vs} {vb}")
        ps, _, pb = request(pport, "/api/v1/format_query")
        vs, _, vb = request(vport, "/api/v1/format_query")
        check("format_query without a query: identical", (ps, pb) == (vs, vb), f"{pb}\n{vb}")

        # walreplay of a fresh data directory
        ps, _, pb = request(pport, "/api/v1/status/walreplay")
        vs, _, vb = request(vport, "/api/v1/status/walreplay")
        check("status/walreplay (fresh): identical", (ps, pb) == (vs, vb), f"{pb}\n{vb}")

        # stats on queries over the same samples
        t0 = (int(time.time()) // 60 * 60 - 30 * 60) * 1000
        data = []
        for inst in range(3):
            base = {"job": "api", "instance": f"h{inst}:9100"}
            data.append(({"__name__": "up", **base}, [(t0 + i * STEP_MS, 1.0) for i in range(N_STEPS)]))
            data.append(({"__name__": "http_requests_total", **base}, [(t0 + i * STEP_MS, float(i * (inst + 1))) for i in range(N_STEPS)]))
        pv, vv = push(pport, data), push(vport, data)
        check("the same series written to both", pv[0] == 204 and vv[0] == 204, (pv, vv))
        end = t0 + (N_STEPS - 1) * STEP_MS
        for q, kind in STATS:
            for stats in ("all", "true"):
                if kind == "instant":
                    path, params = "/api/v1/query", [("time", f"{(end - 4000) / 1000:.3f}")]
                else:
                    path, params = "/api/v1/query_range", [("start", f"{(t0 + 600000) / 1000:.3f}"), ("end", f"{end / 1000:.3f}"), ("step", "60")]
                qs = urllib.parse.urlencode([("query", q), ("stats", stats)] + params)
                ps, _, pb = request(pport, f"{path}?{qs}")
                vs, _, vb = request(vport, f"{path}?{qs}")
                pj, vj = json.loads(pb), json.loads(vb)
                ok = ps == vs == 200 and shape(pj) == shape(vj)
                check(f"{kind} {q} stats={stats}: the same shape", ok, f"prometheus {pb[-700:]}\nvigil      {vb[-700:]}")
                if not ok:
                    continue
                psm, vsm = pj["data"]["stats"]["samples"], vj["data"]["stats"]["samples"]
                if stats == "all":
                    check(f"{kind} {q}: per-step timestamps identical",
                          [s[0] for s in psm["totalQueryableSamplesPerStep"]] == [s[0] for s in vsm["totalQueryableSamplesPerStep"]],
                          (psm, vsm))
                check(f"{kind} {q} stats={stats}: totalQueryableSamples as Prometheus counts",
                      psm["totalQueryableSamples"] == vsm["totalQueryableSamples"]
                      and psm.get("totalQueryableSamplesPerStep") == vsm.get("totalQueryableSamplesPerStep"), (psm, vsm))
                t = vj["data"]["stats"]["timings"]
                check(f"{kind} {q} stats={stats}: timings add up", 0 <= t["execQueueTime"] <= t["execTotalTime"]
                      and t["queryPreparationTime"] + t["innerEvalTime"] + t["resultSortTime"] <= t["evalTotalTime"] * 1.000001 + 1e-9
                      and t["evalTotalTime"] <= t["execTotalTime"] * 1.000001 + 1e-9, t)
        qs = urllib.parse.urlencode([("query", "up"), ("time", f"{end / 1000:.3f}")])
        vs, _, vb = request(vport, f"/api/v1/query?{qs}")
        check("no stats parameter: no stats member", vs == 200 and "stats" not in json.loads(vb)["data"], vb)

        # walreplay after a restart: the segments replayed
        vig.stop()
        vig = Proc([VIGIL, "serve", "--listen", f"127.0.0.1:{vport}", "--data", f"{tmp}/v"], f"{tmp}/vigil2.log")
        procs.append(vig)
        check("vigil restarts on its data", wait_http(vport, "/-/ready"), vig.output()[-2000:])
        vs, _, vb = request(vport, "/api/v1/status/walreplay")
        d = json.loads(vb).get("data", {})
        check("status/walreplay after a restart: the replayed segments, replay finished",
              vs == 200 and list(d) == ["min", "max", "current"] and 1 <= d["min"] <= d["max"] == d["current"], vb)
        check("vigil survives", vig.alive(), vig.output()[-2000:])
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_api_compat")


if __name__ == "__main__":
    main()
