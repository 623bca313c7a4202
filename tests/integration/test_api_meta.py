#!/usr/bin/env python3
"""Series metadata API against Prometheus 2.42 as the oracle: vigil and Prometheus scrape the same
targets; /api/v1/series, /api/v1/labels and /api/v1/label/<name>/values must give identical bodies
for a set of match[]/start/end combinations, and identical status codes and errors for bad input.
Output is TAP."""
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]

BODY = b"""# TYPE http_requests_total counter
http_requests_total{method="GET",code="200",handler="/api/v1/query"} 10
http_requests_total{method="GET",code="500",handler="/api/v1/query"} 1
http_requests_total{method="POST",code="200",handler="/api/v1/write"} 7
# TYPE queue_length gauge
queue_length{queue="a"} 3
queue_length{queue="b",Zone="EU"} 4
weird_value{v="quote\\" back\\\\slash nl\\n unicode \xc3\xa9"} 1
"""


class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *a):
        pass


def get(port, path, params):
    q = urllib.parse.urlencode(params, doseq=True)
    st, _, body = request(port, f"{path}?{q}" if q else path)
    return st, body


QUERIES = [
    ("/api/v1/series", [("match[]", "up")]),
    ("/api/v1/series", [("match[]", "http_requests_total")]),
    ("/api/v1/series", [("match[]", 'http_requests_total{code=~"2.."}'), ("match[]", "queue_length")]),
    ("/api/v1/series", [("match[]", '{__name__=~"queue.*", queue!="a"}')]),
    ("/api/v1/series", [("match[]", '{job="app", code=""}')]),
    ("/api/v1/series", [("match[]", "weird_value")]),
    ("/api/v1/series", [("match[]", "up"), ("match[]", "up")]),
    ("/api/v1/series", [("match[]", "nonexistent_metric")]),
    ("/api/v1/labels", []),
    ("/api/v1/labels", [("match[]", "queue_length")]),
    ("/api/v1/labels", [("match[]", "queue_length"), ("match[]", "up")]),
    ("/api/v1/label/__name__/values", []),
    ("/api/v1/label/job/values", []),
    ("/api/v1/label/code/values", [("match[]", 'http_requests_total{method="GET"}')]),
    ("/api/v1/label/Zone/values", []),
    ("/api/v1/label/nolabel/values", []),
    ("/api/v1/label/v/values", []),
    ("/api/v1/metadata", []),
    ("/api/v1/metadata", [("metric", "queue_length")]),
    ("/api/v1/metadata", [("metric", "nothing")]),
    ("/api/v1/query_exemplars", [("query", "up")]),
    ("/api/v1/targets/metadata", [("metric", "queue_length")]),
    ("/api/v1/targets/metadata", [("match_target", '{job="app"}'), ("metric", "http_requests_total")]),
    ("/api/v1/targets/metadata", [("match_target", '{job="nope"}')]),
]

# /federate: the same families, labels, values (and external labels) as Prometheus; timestamps differ
# (each scraped at its own instant), so they are compared separately.
FEDERATE = [
    [("match[]", "queue_length")],
    [("match[]", '{__name__=~"http.*"}'), ("match[]", "up"), ("match[]", "http_requests_total")],
    [("match[]", "weird_value")],
    [("match[]", "nonexistent_metric")],
    [],
]


def federate_lines(body):
    """The exposition lines with each sample's timestamp cut off, and whether every sample has one."""
    out, stamped = [], True
    for line in body.splitlines():
        if not line.startswith("#"):
            head, _, ts = line.rpartition(" ")
            stamped = stamped and ts.isdigit()
            line = head
        out.append(line)
    return out, stamped


ERRORS = [
    ("/api/v1/series", []),
    ("/api/v1/series", [("match[]", '{a=""}')]),
    ("/api/v1/series", [("match[]", "up{")]),
    ("/api/v1/series", [("match[]", "up"), ("start", "yesterday")]),
    ("/api/v1/series", [("match[]", "up"), ("end", "1e999")]),
    ("/api/v1/labels", [("match[]", "rate(up[5m])")]),
    ("/api/v1/label/a-b/values", []),
    ("/api/v1/metadata", [("limit", "x")]),
    ("/api/v1/query_exemplars", [("query", "up{")]),
    ("/api/v1/targets/metadata", [("match_target", "{job=")]),
]


def main():
    prom_bin = which("prometheus")
    if not prom_bin:
        skip("series API oracle", "prometheus not installed")
        finish("integration_api_meta")
    tmp = tempfile.mkdtemp(prefix="vigil-meta-")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    procs = []
    try:
        cfg = os.path.join(tmp, "scrape.yml")
        with open(cfg, "w") as f:
            f.write(f"global: {{scrape_interval: 1s, scrape_timeout: 1s, external_labels: {{replica: a, Zone: x}}}}\nscrape_configs:\n"
                    f"  - job_name: app\n    static_configs: [{{targets: ['127.0.0.1:{srv.server_address[1]}']}}]\n")
        vport, pport = free_port(), free_port()
        vig = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{vport}", "--data", f"{tmp}/v"], f"{tmp}/vigil.log")
        prom = Proc([prom_bin, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/p", f"--web.listen-address=127.0.0.1:{pport}"],
                    f"{tmp}/prom.log")
        procs += [vig, prom]
        check("vigil and prometheus start", wait_http(vport, "/-/ready") and wait_http(pport, "/-/ready"))
        have = lambda port: json.loads(get(port, "/api/v1/series", [("match[]", "queue_length")])[1]).get("data")
        check("both scraped the target", wait_until(lambda: have(pport), 30) and wait_until(lambda: have(vport), 30))
        time.sleep(1.5)
        for path, params in QUERIES:
            ps, pb = get(pport, path, params)
            vs, vb = get(vport, path, params)
            check(f"{path} {params}: same answer", (ps, pb) == (vs, vb), f"prometheus {ps} {pb}\nvigil      {vs} {vb}")
        for params in FEDERATE:
            (ps, pb), (vs, vb) = get(pport, "/federate", params), get(vport, "/federate", params)
            (pl, pstamp), (vl, vstamp) = federate_lines(pb), federate_lines(vb)
            check(f"/federate {params}: same families, labels and values", ps == vs == 200 and pl == vl and vstamp,
                  f"prometheus {ps} {pb}\nvigil      {vs} {vb}")
        # a real Prometheus federating from vigil (honor_labels, as federation is set up) holds what
        # vigil holds: the same series with vigil's external labels added, the same values
        fport = free_port()
        with open(f"{tmp}/fed.yml", "w") as f:
            f.write("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n"
                    "  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n"
                    "    params: {'match[]': ['{job=\"app\"}']}\n"
                    f"    static_configs: [{{targets: ['127.0.0.1:{vport}']}}]\n")
        fed = Proc([prom_bin, f"--config.file={tmp}/fed.yml", f"--storage.tsdb.path={tmp}/f",
                    f"--web.listen-address=127.0.0.1:{fport}"], f"{tmp}/fed.log")
        procs.append(fed)
        q = lambda port: json.loads(get(port, "/api/v1/query", [("query", '{job="app"}')])[1])["data"]["result"]
        check("a Prometheus federating from vigil scraped it",
              wait_http(fport, "/-/ready") and wait_until(lambda: len(q(fport)) == len(q(vport)), 30), (q(vport), q(fport)))
        ext = {"replica": "a", "Zone": "x"}
        want = sorted((json.dumps({**ext, **r["metric"]}, sort_keys=True), r["value"][1]) for r in q(vport))
        got = sorted((json.dumps(r["metric"], sort_keys=True), r["value"][1]) for r in q(fport))
        check("the federating Prometheus holds vigil's series, external labels and values", want == got,
              f"vigil+external {want}\nfederated      {got}")
        ps, _ = get(pport, "/federate", [("match[]", "up{")])
        vs, _ = get(vport, "/federate", [("match[]", "up{")])
        check("/federate with a bad selector: 400 as Prometheus", ps == vs == 400, (ps, vs))
        pj = json.loads(get(pport, "/api/v1/status/tsdb", [])[1])["data"]
        vj = json.loads(get(vport, "/api/v1/status/tsdb", [])[1])["data"]
        check("status/tsdb: same series count", pj["headStats"]["numSeries"] == vj["headStats"]["numSeries"], (pj, vj))
        check("status/tsdb: same label pairs count", pj["headStats"]["numLabelPairs"] == vj["headStats"]["numLabelPairs"], (pj, vj))
        for k in ("seriesCountByMetricName", "labelValueCountByLabelName", "memoryInBytesByLabelName", "seriesCountByLabelValuePair"):
            # a top-10 list cut inside a run of equal counts may pick different names: compare the counts,
            # and the names of the entries above the cut
            cut = min((e["value"] for e in pj[k]), default=0) if len(pj[k]) == 10 else -1
            above = lambda l: sorted(json.dumps(e) for e in l if e["value"] > cut)
            same = sorted(e["value"] for e in pj[k]) == sorted(e["value"] for e in vj[k]) and above(pj[k]) == above(vj[k])
            check(f"status/tsdb: same {k}", same, f"{pj[k]}\n{vj[k]}")
        md = json.loads(get(vport, "/api/v1/metadata", [("limit", "1")])[1])["data"]
        check("metadata limit=1 returns one family", len(md) == 1, md)
        bi = json.loads(get(vport, "/api/v1/status/buildinfo", [])[1])
        check("status/buildinfo has Prometheus' fields", {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"} <= set(bi["data"]), bi)
        ri = json.loads(get(vport, "/api/v1/status/runtimeinfo", [])[1])["data"]
        pri = json.loads(get(pport, "/api/v1/status/runtimeinfo", [])[1])["data"]
        check("status/runtimeinfo has Prometheus' fields", set(pri) <= set(ri) and ri["reloadConfigSuccess"] is True, (pri, ri))
        fl = json.loads(get(vport, "/api/v1/status/flags", [])[1])["data"]
        check("status/flags names the config file", fl["config.file"] == cfg, fl)
        cy = json.loads(get(vport, "/api/v1/status/config", [])[1])["data"]["yaml"]
        check("status/config is the effective YAML", "job_name: \"app\"" in cy and "scrape_interval: 1s" in cy, cy)
        for path, params in ERRORS:
            ps, pb = get(pport, path, params)
            vs, vb = get(vport, path, params)
            pj, vj = json.loads(pb), json.loads(vb)
            check(f"{path} {params}: same status, errorType and error ({ps})", ps == vs and pj == vj,
                  f"prometheus {ps} {pb}\nvigil      {vs} {vb}")
    finally:
        srv.shutdown()
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_api_meta")


if __name__ == "__main__":
    main()
