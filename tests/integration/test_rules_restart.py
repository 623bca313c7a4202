#!/usr/bin/env python3
"""The `for` state across restarts, against Prometheus 2.42 as the oracle: vigil and a real Prometheus
load the same rule file (an alert with `for: 12s`, the group every 2s) with the same grace period (2s)
over the same static target, and are both restarted, once while the alert is pending and once while it
is firing. After each restart both restore the alert's activeAt from ALERTS_FOR_STATE (after their
second evaluation) and must agree with each other: the restored activeAt and the instant the alert
fires again, within one evaluation interval (they come back up at different instants); while firing,
the original activeAt is kept and the alert fires at the first evaluation after the restore without
pending again. Output is TAP; skipped without Prometheus."""
import http.server
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, get_json, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]
IV = 2.0
FOR = 12.0
VALUE = {"v": 0}

RULES = """groups:
- name: restart
  interval: 2s
  rules:
  - record: demo:seen
    expr: max(demo_level)
  - alert: Slow
    expr: demo_level > 5
    for: 12s
    labels: {severity: page}
"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(f"# TYPE demo_level gauge\ndemo_level {VALUE['v']}\n".encode())

    def log_message(self, *a):
        pass


def raw(port, q):
    st, b = get_json(port, "/api/v1/query", query=q)
    if st != 200 or b["data"]["resultType"] != "matrix":
        return []
    return sorted((int(round(float(t) * 1000)), float(v)) for s in b["data"]["result"] for t, v in s["values"])


def rfc3339(s):
    base, frac = s.rstrip("Z"), "0"
    if "." in base:
        base, frac = base.split(".")
    return time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0." + frac)


def active_at(port):
    st, b = get_json(port, "/api/v1/alerts")
    a = [x for x in b["data"]["alerts"] if x["labels"].get("alertname") == "Slow"] if st == 200 else []
    return (rfc3339(a[0]["activeAt"]), a[0]["state"]) if a else (None, None)


def main():
    prom = which("prometheus")
    if not prom:
        skip("for-state restore differential", "prometheus not installed")
        finish("rules_restart")
    tmp = tempfile.mkdtemp(prefix="vigil-restart-")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    with open(f"{tmp}/rules.yml", "w") as f:
        f.write(RULES)
    cfg = ("global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 2s}\n"
           "rule_files: [rules.yml]\n"
           f"scrape_configs:\n- job_name: demo\n  static_configs: [{{targets: ['127.0.0.1:{srv.server_address[1]}']}}]\n")
    with open(f"{tmp}/vigil.yml", "w") as f:
        f.write(cfg + "rules: {alert_for_grace_period: 2s}\n")
    with open(f"{tmp}/prom.yml", "w") as f:
        f.write(cfg)
    vport, pport = free_port(), free_port()
    procs = {}

    def start():
        procs["vigil"] = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{vport}", "--data",
                               f"{tmp}/v"], f"{tmp}/vigil-{time.time():.0f}.log")
        procs["prom"] = Proc([prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p",
                              f"--web.listen-address=127.0.0.1:{pport}", "--rules.alert.for-grace-period=2s"],
                             f"{tmp}/prom-{time.time():.0f}.log")
        return wait_http(vport, "/-/ready") and wait_http(pport, "/-/ready", timeout=30)

    def restart():
        for p in procs.values():
            p.p.send_signal(15)
        for p in procs.values():
            p.stop()
        return start()

    def fire_after(t_ms):
        """The first firing ALERTS sample after t_ms, per server."""
        out = {}
        for who, port in (("vigil", vport), ("prom", pport)):
            ts = [t for t, _ in raw(port, 'ALERTS{alertname="Slow",alertstate="firing"}[5m]') if t > t_ms]
            out[who] = ts[0] if ts else None
        return out if all(out.values()) else None

    try:
        if not check("vigil and prometheus start", start()):
            return
        # both running their startup sequence; then the alert becomes active
        wait_until(lambda: len(raw(vport, "demo:seen[1m]")) >= 3 and len(raw(pport, "demo:seen[1m]")) >= 3, timeout=40)
        VALUE["v"] = 10
        got = wait_until(lambda: all(active_at(p)[1] == "pending" for p in (vport, pport)), timeout=10)
        check("pending in both", got)
        time.sleep(4)

        # 1: restart while pending
        before = {w: active_at(p)[0] for w, p in (("vigil", vport), ("prom", pport))}
        t_down = int(time.time() * 1000)
        check("both restart while pending", restart())
        fired = wait_until(lambda: fire_after(t_down), timeout=60, step=0.5)
        check("pending restart: both fire again", fired, fired)
        if fired:
            at = {w: active_at(p)[0] for w, p in (("vigil", vport), ("prom", pport))}
            fs = {w: raw(p, "ALERTS_FOR_STATE[5m]")[-1][1] for w, p in (("vigil", vport), ("prom", pport))}
            check("pending restart: the restored activeAt moved by the downtime, as Prometheus' (one interval)",
                  all(at[w] and at[w] > before[w] + 1 for w in at) and abs(at["vigil"] - at["prom"]) <= IV + 1,
                  (before, at))
            check("pending restart: ALERTS_FOR_STATE holds the restored activeAt in both (one interval)",
                  abs(fs["vigil"] - fs["prom"]) <= IV + 1 and all(int(at[w]) == int(fs[w]) for w in at), (fs, at))
            check("pending restart: fires `for` after the restored activeAt, at the first evaluation past it",
                  all(FOR <= fired[w] / 1000 - at[w] < FOR + IV for w in fired), (fired, at))
            check("pending restart: fires within one interval of Prometheus", abs(fired["vigil"] - fired["prom"]) <= IV * 1000,
                  fired)
        time.sleep(IV)

        # 2: restart while firing: the original activeAt is kept, firing again without pending
        fs_before = {w: raw(p, "ALERTS_FOR_STATE[5m]")[-1][1] for w, p in (("vigil", vport), ("prom", pport))}
        t_down = int(time.time() * 1000)
        check("both restart while firing", restart())
        fired = wait_until(lambda: fire_after(t_down), timeout=60, step=0.5)
        check("firing restart: both fire again", fired, fired)
        if fired:
            for who, port in (("vigil", vport), ("prom", pport)):
                pend = [t for t, _ in raw(port, 'ALERTS{alertname="Slow",alertstate="pending"}[5m]') if t > t_down]
                fs = raw(port, "ALERTS_FOR_STATE[5m]")[-1][1]
                check(f"firing restart, {who}: the original activeAt kept, no pending samples after the restart",
                      fs == fs_before[who] and not pend, (fs, fs_before[who], pend))
            check("firing restart: fires within one interval of Prometheus", abs(fired["vigil"] - fired["prom"]) <= IV * 1000, fired)
    finally:
        for p in procs.values():
            p.stop()
        srv.shutdown()
        import vigiltest
        if all(vigiltest.results):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"# logs kept in {tmp}")
    finish("rules_restart")


if __name__ == "__main__":
    main()
