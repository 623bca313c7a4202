#!/usr/bin/env python3
"""Rules against Prometheus 2.42 as the oracle: vigil and a real Prometheus load the same rule file
(recording rules chained in one group, an alert with `for: 3s`) and scrape the same static target at
evaluation_interval 1s. Their recorded values, /api/v1/rules and /api/v1/alerts (shapes and content,
timings aside) and the ALERTS timeline (evaluation instants at the same sub-second phase — the group hash
— and pending → firing after `for`) must agree. `vigil check rules` and `promtool check rules` must both
reject broken files, vigil with FILE:LINE:COL. Output is TAP."""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, get_json, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]

METRICS = b"""# TYPE demo_value gauge
demo_value{inst="a"} 1
demo_value{inst="b"} 3
"""

RULES = """groups:
- name: diff
  rules:
  - record: demo:sum
    expr: sum(demo_value)
    labels: {kind: total}
  - record: demo:double
    expr: demo:sum * 2
  - alert: DemoHigh
    expr: demo_value > 2
    for: 3s
    labels: {severity: page}
    annotations:
      summary: "{{ $labels.inst }} is at {{ $value }}"
"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(METRICS)

    def log_message(self, *a):
        pass


def strip_times(doc):
    """The rules document without what differs run to run (timings, evaluation instants)."""
    if isinstance(doc, dict):
        return {k: strip_times(v) for k, v in doc.items() if k not in ("evaluationTime", "lastEvaluation", "activeAt")}
    if isinstance(doc, list):
        return [strip_times(v) for v in doc]
    return doc


def samples(port, q):
    st, b = get_json(port, "/api/v1/query", query=q)
    if st != 200 or b["data"]["resultType"] != "matrix":
        return []
    return [(int(round(float(t) * 1000)), float(v)) for s in b["data"]["result"] for t, v in s["values"]]


def main():
    prom = which("prometheus")
    promtool = which("promtool")
    tmp = tempfile.mkdtemp(prefix="vigil-rules-")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    target = f"127.0.0.1:{srv.server_address[1]}"
    with open(f"{tmp}/rules.yml", "w") as f:
        f.write(RULES)
    cfg = ("global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
           "rule_files: [rules.yml]\n"
           f"scrape_configs:\n- job_name: demo\n  static_configs: [{{targets: ['{target}']}}]\n")
    for name in ("vigil.yml", "prom.yml"):
        with open(f"{tmp}/{name}", "w") as f:
            f.write(cfg)
    vport, pport = free_port(), free_port()
    procs = [Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{vport}", "--data", f"{tmp}/v"],
                  f"{tmp}/vigil.log")]
    try:
        check("vigil starts", wait_http(vport, "/-/ready"), procs[0].output())
        if prom:
            procs.append(Proc([prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p",
                               f"--web.listen-address=127.0.0.1:{pport}"], f"{tmp}/prom.log"))
            check("prometheus starts", wait_http(pport, "/-/ready", timeout=30), procs[1].output())

        def firing(port):
            st, b = get_json(port, "/api/v1/alerts")
            return st == 200 and any(a["state"] == "firing" for a in b["data"]["alerts"])

        check("vigil: the alert fires after `for`", wait_until(lambda: firing(vport), timeout=30))
        if prom:
            check("prometheus: the alert fires after `for`", wait_until(lambda: firing(pport), timeout=30))
        time.sleep(1.5)

        # recorded series, through the query API
        st, b = get_json(vport, "/api/v1/query", query="demo:double")
        res = b["data"]["result"] if st == 200 else []
        check("vigil: chained recording rule (demo:double = 2 * sum)", len(res) == 1 and res[0]["value"][1] == "8"
              and res[0]["metric"] == {"__name__": "demo:double", "kind": "total"}, b)
        st, b = get_json(vport, "/api/v1/query", query="demo:sum")
        check("vigil: recording rule labels", st == 200 and b["data"]["result"][0]["metric"] ==
              {"__name__": "demo:sum", "kind": "total"}, b)

        st, vr = get_json(vport, "/api/v1/rules")
        check("vigil: /api/v1/rules answers", st == 200 and vr["status"] == "success", vr)
        g = vr["data"]["groups"][0] if st == 200 and vr["data"]["groups"] else {}
        check("vigil: the group as written", g.get("name") == "diff" and g.get("file") == f"{tmp}/rules.yml"
              and g.get("interval") == 1 and [r["type"] for r in g.get("rules", [])] == ["recording", "recording", "alerting"], g)
        st, b = get_json(vport, "/api/v1/rules", type="record")
        check("vigil: type=record keeps the recording rules", st == 200 and
              [r["name"] for r in b["data"]["groups"][0]["rules"]] == ["demo:sum", "demo:double"], b)
        st, b = get_json(vport, "/api/v1/rules", type="bogus")
        check("vigil: a bad type is 400 with Prometheus' error", st == 400 and
              b.get("error") == 'invalid parameter "type": not supported value "bogus"', b)
        st, b = get_json(vport, "/api/v1/rules", **{"rule_name[]": "DemoHigh"})
        check("vigil: rule_name[] filters", st == 200 and [r["name"] for r in b["data"]["groups"][0]["rules"]] == ["DemoHigh"], b)
        st, va = get_json(vport, "/api/v1/alerts")
        check("vigil: /api/v1/alerts", st == 200 and len(va["data"]["alerts"]) == 1 and va["data"]["alerts"][0]["labels"] ==
              {"alertname": "DemoHigh", "inst": "b", "instance": target, "job": "demo", "severity": "page"} and
              va["data"]["alerts"][0]["annotations"] == {"summary": "b is at 3"} and va["data"]["alerts"][0]["value"] == "3e+00",
              va)
        st, _, text = __import__("vigiltest").request(vport, "/metrics")
        check("vigil: rule self-metrics", 'vigil_rule_evaluations_total{rule_group="' in text and
              "vigil_rule_group_last_duration_seconds" in text, text[:500])

        if prom:
            st, pr = get_json(pport, "/api/v1/rules")
            check("rules document equals Prometheus' (timings aside)", strip_times(vr) == strip_times(pr),
                  json.dumps(strip_times(vr)) + "\n" + json.dumps(strip_times(pr)))
            st, pa = get_json(pport, "/api/v1/alerts")
            check("alerts document equals Prometheus' (activeAt aside)", strip_times(va) == strip_times(pa),
                  json.dumps(va) + "\n" + json.dumps(pa))
            for q in ("demo:sum", "demo:double"):
                _, a = get_json(vport, "/api/v1/query", query=q)
                _, b = get_json(pport, "/api/v1/query", query=q)
                check(f"{q}: same value as Prometheus", a["data"]["result"][0]["value"][1] == b["data"]["result"][0]["value"][1],
                      f"{a}\n{b}")
            # activeAt: same sub-second phase (the same group hash → the same evaluation offset)
            va_at = va["data"]["alerts"][0]["activeAt"]
            pa_at = pa["data"]["alerts"][0]["activeAt"]
            check("activeAt at the same sub-second instant as Prometheus", va_at[19:] == pa_at[19:], f"{va_at} {pa_at}")
            # the ALERTS timeline: samples at the same phase, firing `for` after activeAt in both
            tl = {}
            for name, port in (("vigil", vport), ("prometheus", pport)):
                pend = samples(port, 'ALERTS{alertstate="pending"}[5m]')
                fire = samples(port, 'ALERTS{alertstate="firing"}[5m]')
                fs = samples(port, "ALERTS_FOR_STATE[5m]")
                tl[name] = (pend, fire, fs)
            ok = all(tl[n][1] and tl[n][2] for n in tl)
            check("both wrote ALERTS and ALERTS_FOR_STATE", ok, tl)
            if ok:
                phase = {n: sorted({t % 1000 for t, _ in tl[n][0] + tl[n][1] + tl[n][2]}) for n in tl}
                check("ALERTS samples at the same phase as Prometheus'", phase["vigil"] == phase["prometheus"] and
                      len(phase["vigil"]) == 1, phase)
                # firing begins `for` (3s) after activeAt, rounded to the evaluation grid, in both
                lag = {n: tl[n][1][0][0] - int(tl[n][2][0][1]) * 1000 for n in tl}
                check("pending → firing after `for`, as Prometheus", lag["vigil"] == lag["prometheus"] and 3000 <= lag["vigil"] < 4000,
                      lag)
                # pending samples: one per evaluation, right up to the first firing one (how many depends on
                # when the first scrape landed relative to the startup restore, in both)
                def pending_ok(pend, fire):
                    ts = sorted(t for t, _ in pend)
                    return bool(ts) and ts[-1] == fire[0][0] - 1000 and all(b - a == 1000 for a, b in zip(ts, ts[1:]))
                check("pending samples every evaluation until firing, in both",
                      all(pending_ok(tl[n][0], tl[n][1]) for n in tl), {n: (tl[n][0], tl[n][1][:2]) for n in tl})
        else:
            skip("Prometheus differential", "prometheus not installed")

        # check rules: positioned errors, exit 1, promtool agrees the file is bad
        bad = f"{tmp}/bad.yml"
        with open(bad, "w") as f:
            f.write("groups:\n- name: g\n  rules:\n  - record: \"bad name\"\n    expr: sum(up\n")
        r = subprocess.run([VIGIL, "check", "rules", bad], capture_output=True, text=True)
        check("vigil check rules: exit 1 on a broken file", r.returncode == 1, r.stdout + r.stderr)
        check("vigil check rules: FILE:LINE:COL per error",
              f'{bad}:4:13: group "g", rule 1, "bad name": invalid recording rule name: bad name' in r.stderr and
              f'{bad}:5:17: group "g", rule 1, "bad name": could not parse expression: 1:7: parse error: unclosed left parenthesis'
              in r.stderr, r.stderr)
        r = subprocess.run([VIGIL, "check", "rules", f"{tmp}/rules.yml"], capture_output=True, text=True)
        check("vigil check rules: SUCCESS on a good file", r.returncode == 0 and "SUCCESS: 3 rules found" in r.stdout, r.stdout)
        if promtool:
            r = subprocess.run([promtool, "check", "rules", bad], capture_output=True, text=True)
            check("promtool check rules also rejects it", r.returncode == 1, r.stdout + r.stderr)
        else:
            skip("promtool agrees", "promtool not installed")

        # reload: a new group appears, the alert keeps its activeAt
        with open(f"{tmp}/rules.yml", "a") as f:
            f.write("- name: more\n  rules:\n  - record: demo:max\n    expr: max(demo_value)\n")
        procs[0].p.send_signal(1)
        wait_until(lambda: get_json(vport, "/api/v1/query", query="demo:max")[1]["data"]["result"], timeout=15)
        st, b = get_json(vport, "/api/v1/alerts")
        check("reload: the unchanged group keeps its alert", st == 200 and b["data"]["alerts"] and
              b["data"]["alerts"][0]["activeAt"] == va["data"]["alerts"][0]["activeAt"], b)
        st, b = get_json(vport, "/api/v1/query", query="demo:max")
        check("reload: the new group evaluates", st == 200 and b["data"]["result"] and b["data"]["result"][0]["value"][1] == "3", b)
    finally:
        for p in procs:
            p.stop()
        srv.shutdown()
        if all(results_ok()):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"# logs kept in {tmp}")
    finish("rules")


def results_ok():
    import vigiltest
    return vigiltest.results


if __name__ == "__main__":
    main()
