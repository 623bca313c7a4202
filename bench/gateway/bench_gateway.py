#!/usr/bin/env python3
"""Gateway overhead: the median latency of a set of PromQL queries (instant and range, small and heavy)
asked directly of an engine (Prometheus, VictoriaMetrics) and through vigil in gateway mode
(storage.backend: remote) in front of that engine, interleaved request by request on two keep-alive
connections, so both see the same engine state and machine load. Prints one line per engine and query:
the two medians, the overhead in ms and as a share of the engine's median, and whether the answers were
equal (values and labels; vigil answers as the engine does).

Data: SERIES series of a counter (pod p0…, code 200/201/202) with a sample every 15 s over the last
hour, remote-written into each engine first.

usage: bench_gateway.py VIGIL_BIN [--reps 500] [--series 2000] [--engines prometheus,victoriametrics]
                         [--queries range_wide,...] [--no-cache]
       (--no-cache: vigil's query results cache off, so every range query goes to the engine and its
       answer is decoded and printed again: the gateway's own cost)
       (VIGIL_BIN: a release build; prometheus and victoria-metrics on PATH)"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from test_remote_write import snappy, write_request  # noqa: E402
from vigiltest import free_port, request, wait_http, which  # noqa: E402

STEP_MS = 15000


def queries(now_s):
    rng = {"start": now_s - 3600, "end": now_s, "step": 15}
    return [
        ("instant_small", "/api/v1/query", {"query": 'http_requests_total{pod="p7"}', "time": now_s}),
        ("instant_heavy", "/api/v1/query", {"query": "sum by (code) (rate(http_requests_total[5m]))", "time": now_s}),
        ("instant_wide", "/api/v1/query", {"query": "rate(http_requests_total[5m])", "time": now_s}),
        ("range_small", "/api/v1/query_range", {"query": 'http_requests_total{pod="p7"}', **rng}),
        ("range_heavy", "/api/v1/query_range", {"query": "sum by (code) (rate(http_requests_total[5m]))", **rng}),
        ("range_wide", "/api/v1/query_range", {"query": 'rate(http_requests_total{pod=~"p1.*"}[5m])', **rng}),
    ]


def fill(port, path, n_series, now):
    series = [({"__name__": "http_requests_total", "pod": f"p{i}", "code": str(200 + i % 3)},
               [(now - k * STEP_MS, float((240 - k) * (i % 7 + 1))) for k in range(240, -1, -1)]) for i in range(n_series)]
    for i in range(0, len(series), 200):
        st, _, body = request(port, path, method="POST", body=snappy(write_request(series[i:i + 200])),
                              headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                                       "X-Prometheus-Remote-Write-Version": "0.1.0"}, timeout=60)
        assert st in (200, 204), f"{st} {body}"


def ask(conn, path, params):
    conn.request("POST", path, body=urllib.parse.urlencode(params),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, body[:300]
    return body


def canon(body):
    """The answer's data, series sorted, so two engines' orders and key orders compare."""
    d = json.loads(body)["data"]
    res = d["result"]
    if isinstance(res, list):
        res = sorted(json.dumps(s, sort_keys=True) for s in res)
    return d["resultType"], res


def start(argv, log):
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vigil")
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--engines", default="prometheus,victoriametrics")
    ap.add_argument("--queries", default="", help="comma-separated query names (default: all)")
    ap.add_argument("--no-cache", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-gateway-")
    procs = []
    log = open(f"{tmp}/log", "w")
    try:
        engines = []
        for name in a.engines.split(","):
            port = free_port()
            if name == "prometheus":
                binary = which("prometheus")
                with open(f"{tmp}/prom.yml", "w") as f:
                    f.write("global: {evaluation_interval: 1m}\n")
                procs.append(start([binary, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p",
                                    f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver"], log))
                engines.append((name, port, "/-/ready", "/api/v1/write"))
            elif name == "victoriametrics":
                binary = which("victoria-metrics", "victoria-metrics-prod")
                procs.append(start([binary, f"-storageDataPath={tmp}/vm", f"-httpListenAddr=127.0.0.1:{port}",
                                    "-search.latencyOffset=0s", "-search.disableCache"], log))
                engines.append((name, port, "/health", "/api/v1/write"))
            else:
                sys.exit(f"unknown engine {name}")
        now = (int(time.time() * 1000) // STEP_MS) * STEP_MS
        for name, port, ready, write in engines:
            assert wait_http(port, ready, timeout=30), f"{name} did not start (log: {tmp}/log)"
            fill(port, write, a.series, now)
        if any(e[0] == "victoriametrics" for e in engines):
            request(engines[[e[0] for e in engines].index("victoriametrics")][1], "/internal/force_flush")
            time.sleep(2)
        for name, eport, _, _ in engines:
            vport = free_port()
            with open(f"{tmp}/{name}.yml", "w") as f:
                f.write(f"storage: {{path: {tmp}/v-{name}, backend: remote}}\nlog: {{level: warn}}\nauth: {{anonymous: true}}\n"
                        f"remote_query: {{url: 'http://127.0.0.1:{eport}'}}\n"
                        + ("query_cache: {enabled: false}\n" if a.no_cache else ""))
            procs.append(start([a.vigil, "serve", "--config", f"{tmp}/{name}.yml", "--listen", f"127.0.0.1:{vport}"], log))
            assert wait_http(vport, "/-/ready", timeout=30)
            direct = http.client.HTTPConnection("127.0.0.1", eport, timeout=60)
            via = http.client.HTTPConnection("127.0.0.1", vport, timeout=60)
            for qname, path, params in queries(now / 1000):
                if a.queries and qname not in a.queries.split(","):
                    continue
                same = canon(ask(direct, path, params)) == canon(ask(via, path, params))
                lat = {"direct": [], "via": []}
                for _ in range(a.reps):
                    for kind, conn in (("direct", direct), ("via", via)):
                        t0 = time.perf_counter()
                        ask(conn, path, params)
                        lat[kind].append(time.perf_counter() - t0)
                md, mv = statistics.median(lat["direct"]) * 1e3, statistics.median(lat["via"]) * 1e3
                print(f"gateway_overhead engine={name} query={qname} reps={a.reps} series={a.series}: "
                      f"direct {md:.3f} ms, via vigil {mv:.3f} ms, overhead {mv - md:+.3f} ms "
                      f"({100 * (mv - md) / md:+.1f}%), same_answer={same}", flush=True)
            direct.close()
            via.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
