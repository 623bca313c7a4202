#!/usr/bin/env python3
"""Scraping against Prometheus 2.42 as the oracle: vigil and a real Prometheus run the same
scrape_configs (static and file SD targets, relabeling with drop/hashmod/labelmap/replace, params,
a target without a port, a failing target) against a real node_exporter and a local test target;
/api/v1/targets of both must agree on every active and dropped target (labels, discovered labels,
scrape URL, pool, health, interval, timeout), also after the file SD file changes and after a reload
removes a job. Bad payloads fail their own scrape only; a sample stamped far in the future is dropped
without moving the head's time range. Output is TAP."""
import gzip
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, get_json, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]

PLAIN = b"""# HELP app_requests_total Requests.
# TYPE app_requests_total counter
app_requests_total{code="200",job="exposed-job"} 10
app_requests_total{code="500",instance="exposed-instance"} 2
# TYPE app_temperature gauge
app_temperature 21.5
app_explicit_ts 1 1700000000000
"""


BAD = {  # path → (body, extra headers): payloads that must fail their scrape with a clear error
    "/bad/gzip": (gzip.compress(PLAIN)[:40], {"Content-Encoding": "gzip"}),
    "/bad/huge": (b"x 1\n" * (3 << 18), {}),                      # 3 MiB against a 1 MiB body_size_limit
    "/bad/labels": (b"m{" + b",".join(b"l%d=\"v\"" % i for i in range(300)) + b"} 1\n", {}),
    "/bad/utf8": (b'm{l="\xff\xfe"} 1\n', {}),
    "/bad/syntax": (b"ok 1\nthis is not a sample\n", {}),
}


class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        headers = {}
        if self.path.startswith("/plain"):
            body, code = PLAIN, 200
        elif self.path == "/future":  # one sample stamped 2^62 ms (honor_timestamps is on by default)
            body, code = b"scrape_far_future 1 4611686018427387904\nscrape_now 2\n", 200
        elif self.path == "/gz":
            body, code, headers = gzip.compress(PLAIN), 200, {"Content-Encoding": "gzip"}
        elif self.path in BAD:
            (body, headers), code = BAD[self.path], 200
        else:
            body, code = b"boom\n", 500
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:{node}']
        labels: {{env: test}}
  - job_name: alertmanager
    static_configs:
      - targets: ['127.0.0.1:{am}']
  - job_name: app
    metrics_path: /plain
    params:
      x: ['a b', 'c']
    static_configs:
      - targets: ['127.0.0.1:{app}', 'localhost:{app}']
        labels: {{team: core}}
    relabel_configs:
      - {{source_labels: [__address__], regex: 'localhost:.*', action: drop}}
      - {{source_labels: [team], target_label: shard, action: hashmod, modulus: 8}}
      - {{action: labelmap, regex: 'te(.*)', replacement: 'x_$1'}}
  - job_name: down
    metrics_path: /fail
    static_configs:
      - targets: ['127.0.0.1:{app}']
  - job_name: files
    file_sd_configs:
      - files: ['{sd}/*.json']
        refresh_interval: 1s
    relabel_configs:
      - {{source_labels: [__address__], target_label: host}}
      - {{target_label: __address__, replacement: '127.0.0.1:{app}'}}
      - {{target_label: __metrics_path__, replacement: /plain}}
{extra}"""

NOPORT = """  - job_name: noport
    scrape_timeout: 500ms
    static_configs:
      - targets: ['127.0.0.1']
"""


def targets_view(port):
    st, j = get_json(port, "/api/v1/targets")
    if st != 200:
        return None
    act = {}
    for t in j["data"]["activeTargets"]:
        key = (t["scrapePool"], t["scrapeUrl"], json.dumps(t["labels"], sort_keys=True))
        act[key] = {k: t[k] for k in ("discoveredLabels", "health", "scrapeInterval", "scrapeTimeout")}
    dropped = sorted(json.dumps(t["discoveredLabels"], sort_keys=True) for t in j["data"]["droppedTargets"])
    return act, dropped


def settled(port, n):
    v = targets_view(port)
    return v if v and len(v[0]) == n and all(t["health"] != "unknown" for t in v[0].values()) else None


def compare(name, prom, vig):
    pa, pd = prom
    va, vd = vig
    check(f"{name}: same active targets", set(pa) == set(va), f"prometheus only: {set(pa) - set(va)}\nvigil only: {set(va) - set(pa)}")
    diffs = [(k, pa[k], va[k]) for k in set(pa) & set(va) if pa[k] != va[k]]
    check(f"{name}: same discovered labels, health, interval, timeout", not diffs, "\n".join(map(str, diffs[:4])))
    check(f"{name}: same dropped targets", pd == vd, f"prometheus: {pd}\nvigil: {vd}")


def main():
    prom_bin, node_bin = which("prometheus"), which("prometheus-node-exporter", "node_exporter")
    if not prom_bin or not node_bin:
        skip("scrape oracle", "prometheus or node_exporter not installed")
        finish("integration_scrape")
    tmp = tempfile.mkdtemp(prefix="vigil-scrape-")
    procs = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        node_port = free_port()
        procs.append(Proc([node_bin, f"--web.listen-address=127.0.0.1:{node_port}", "--collector.disable-defaults",
                           "--collector.cpu", "--collector.meminfo", "--collector.loadavg"], os.path.join(tmp, "node.log")))
        am_bin, am_port = which("prometheus-alertmanager", "alertmanager"), free_port()
        if am_bin:
            with open(os.path.join(tmp, "am.yml"), "w") as f:
                f.write("route: {receiver: none}\nreceivers: [{name: none}]\n")
            procs.append(Proc([am_bin, f"--config.file={tmp}/am.yml", f"--storage.path={tmp}/am", f"--web.listen-address=127.0.0.1:{am_port}",
                               "--cluster.listen-address="], os.path.join(tmp, "am.log")))
        sd = os.path.join(tmp, "sd")
        os.mkdir(sd)
        with open(os.path.join(sd, "a.json"), "w") as f:
            json.dump([{"targets": ["h1:9100", "h2:9100"], "labels": {"dc": "west"}}], f)
        cfg_text = CONFIG.format(node=node_port, am=am_port, app=srv.server_address[1], sd=sd, extra=NOPORT)
        cfg = os.path.join(tmp, "scrape.yml")
        with open(cfg, "w") as f:
            f.write(cfg_text)
        vport, pport = free_port(), free_port()
        vig = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{vport}", "--data", os.path.join(tmp, "vdata")],
                   os.path.join(tmp, "vigil.log"))
        prom = Proc([prom_bin, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/pdata", f"--web.listen-address=127.0.0.1:{pport}",
                     "--web.enable-lifecycle"], os.path.join(tmp, "prom.log"))
        procs += [vig, prom]
        check("node_exporter, vigil and prometheus start",
              wait_http(node_port, "/metrics") and wait_http(vport, "/-/ready") and wait_http(pport, "/-/ready"),
              vig.output()[-2000:] + prom.output()[-2000:])
        n_active = 7  # node, alertmanager, app (localhost dropped), down, files x2, noport
        p_view = wait_until(lambda: settled(pport, n_active), timeout=30)
        v_view = wait_until(lambda: settled(vport, n_active), timeout=30)
        check("both list 7 scraped targets", p_view and v_view, (p_view, v_view))
        if p_view and v_view:
            compare("initial", p_view, v_view)

        # vigil actually scraped: node_exporter and the app target are up, samples flow
        st, j = get_json(vport, "/api/v1/targets", state="active")
        health = {t["scrapePool"] + t["labels"].get("host", ""): t["health"] for t in j["data"]["activeTargets"]}
        check("node_exporter, Alertmanager and app targets up, failing target down",
              health.get("node") == "up" and health.get("app") == "up" and health.get("down") == "down"
              and (health.get("alertmanager") == "up" or not am_bin), health)
        down = [t for t in j["data"]["activeTargets"] if t["scrapePool"] == "down"][0]
        check("failing target reports the HTTP status", "500" in down["lastError"], down["lastError"])
        st, j = get_json(vport, "/api/v1/targets", state="dropped")
        check("state=dropped lists only dropped targets", j["data"]["activeTargets"] == [] and len(j["data"]["droppedTargets"]) == 1, j)
        st, j = get_json(vport, "/api/v1/targets", state="bogus")
        check("unknown state selects nothing (as Prometheus)", j["data"] == {"activeTargets": [], "droppedTargets": []}, j)
        text = request(vport, "/metrics")[2]
        samples = wait_until(lambda: float(next((l.split()[1] for l in request(vport, "/metrics")[2].splitlines()
                                                 if l.startswith("vigil_samples_appended_total ")), "0")) > 100, timeout=10)
        check("samples are appended", samples, text[-1500:])
        check("scrape component is up", json.loads(request(vport, "/api/v1/status")[2])["data"]["components"]["scrape"]["status"] == "up")

        # file SD change: a target moves, one is added
        with open(os.path.join(sd, "a.json"), "w") as f:
            json.dump([{"targets": ["h1:9100"], "labels": {"dc": "east"}}, {"targets": ["h3:9100"]}], f)
        p_view = wait_until(lambda: (v := settled(pport, n_active)) and any("east" in json.dumps(x) for x in v[0].values()) and v,
                            timeout=30)
        v_view = wait_until(lambda: (v := settled(vport, n_active)) and any("east" in json.dumps(x) for x in v[0].values()) and v,
                            timeout=30)
        check("file SD change picked up by both", p_view and v_view, (p_view, v_view))
        if p_view and v_view:
            compare("after file SD change", p_view, v_view)

        # reload without the noport job: both drop it
        with open(cfg, "w") as f:
            f.write(CONFIG.format(node=node_port, am=am_port, app=srv.server_address[1], sd=sd, extra=""))
        check("reload accepted by both", request(vport, "/-/reload", method="POST")[0] == 200
              and request(pport, "/-/reload", method="POST")[0] == 200)
        p_view = wait_until(lambda: settled(pport, n_active - 1), timeout=20)
        v_view = wait_until(lambda: settled(vport, n_active - 1), timeout=20)
        check("reload removes the job in both", p_view and v_view, (p_view, v_view))
        if p_view and v_view:
            compare("after reload", p_view, v_view)
        check("vigil survives it all", vig.alive(), vig.output()[-3000:])

        # bad payloads fail their own scrape with a clear error, and nothing else
        bad_cfg = CONFIG.format(node=node_port, am=am_port, app=srv.server_address[1], sd=sd, extra="") + "".join(
            f"  - job_name: bad{i}\n    metrics_path: {path}\n    body_size_limit: 1MiB\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{srv.server_address[1]}']}}]\n" for i, path in enumerate(BAD)) + (
            f"  - job_name: gz\n    metrics_path: /gz\n    static_configs: [{{targets: ['127.0.0.1:{srv.server_address[1]}']}}]\n"
            f"  - job_name: future\n    metrics_path: /future\n    static_configs: [{{targets: ['127.0.0.1:{srv.server_address[1]}']}}]\n")
        with open(cfg, "w") as f:
            f.write(bad_cfg)
        check("reload with bad targets", request(vport, "/-/reload", method="POST")[0] == 200)
        want = {"/bad/gzip": "gzip", "/bad/huge": "body size limit", "/bad/labels": "label",
                "/bad/utf8": "UTF-8", "/bad/syntax": "line 2"}
        def errors():
            st, j = get_json(vport, "/api/v1/targets", state="active")
            return {t["scrapeUrl"].split(str(srv.server_address[1]))[1]: (t["health"], t["lastError"])
                    for t in j["data"]["activeTargets"] if t["scrapePool"].startswith("bad")}
        got = wait_until(lambda: (e := errors()) and len(e) == len(BAD) and all(h != "unknown" for h, _ in e.values()) and e, 20)
        for path, frag in want.items():
            h, e = (got or {}).get(path, (None, ""))
            check(f"{path}: target down with an error naming the problem", h == "down" and frag.lower() in e.lower(), (h, e))
        health = {t["scrapePool"]: t["health"] for t in get_json(vport, "/api/v1/targets")[1]["data"]["activeTargets"]}
        check("the good targets stay up next to the bad ones", health.get("node") == "up" and health.get("app") == "up", health)
        check("a gzip-compressed exposition is scraped", wait_until(lambda: {t["scrapePool"]: t["health"] for t in get_json(
            vport, "/api/v1/targets")[1]["data"]["activeTargets"]}.get("gz") == "up", 10))
        check("vigil survives bad payloads", vig.alive(), vig.output()[-3000:])

        # a scraped sample too far in the future is dropped and counted; the rest of the scrape is kept and
        # the head's time range does not move
        def metric(name):
            return float(next((l.split()[1] for l in request(vport, "/metrics")[2].splitlines() if l.startswith(name + " ")), "0"))
        check("a far-future scraped sample is refused and counted",
              wait_until(lambda: metric("vigil_samples_too_far_future_total") > 0
                         and metric("vigil_target_scrapes_sample_out_of_bounds_total") > 0, 10), request(vport, "/metrics")[2][-1500:])
        st, j = get_json(vport, "/api/v1/query", query="scrape_now")
        st2, j2 = get_json(vport, "/api/v1/series", **{"match[]": "scrape_far_future"})
        check("the scrape's other sample is stored, the far-future series is not created",
              len(j["data"]["result"]) == 1 and j2["data"] == [], (j, j2))
        st, j = get_json(vport, "/api/v1/status/tsdb")
        check("the head's max time stays near the present", j["data"]["headStats"]["maxTime"] < time.time() * 1000 + 600000,
              j["data"]["headStats"])
    finally:
        srv.shutdown()
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_scrape")


if __name__ == "__main__":
    main()
