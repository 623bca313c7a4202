#!/usr/bin/env python3
"""Alert delivery against Prometheus 2.42 as the oracle: vigil and a real Prometheus load the same rule
file (alerts with and without `for`, templated labels and annotations using $labels, $value, humanize and
$externalLabels, one alert that resolves), scrape the same static target with the same external_labels,
and each sends to its own real Alertmanager (so neither dedupes the other's alerts). The group runs every
2s and the target is scraped every 1s; the test changes the target's values just after an evaluation
instant, so both scrape the change before the next instant and evaluate it at the same one.

Compared: what each Alertmanager holds (GET /api/v2/alerts: labels, annotations, state, startsAt,
endsAt ≈ now + 4 × max(resend delay, interval), generatorURL under each server's external URL), the
resolved notification each Alertmanager passes to a webhook (endsAt = the resolution instant), the raw
ALERTS samples in both TSDBs (the same instants and states), and after a reload that removes a rule from
the group and removes another group, the stale markers: the changed group's at its next evaluation, the
removed group's at the reload time. Output is TAP; skipped without Prometheus or Alertmanager."""
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
from vigiltest import Proc, check, finish, free_port, get_json, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]
IV = 2.0  # the group's interval, seconds

VALUES = {"temp_a": 20, "temp_b": 20, "up_x": 1}

RULES = """groups:
- name: alerts
  interval: 2s
  rules:
  - record: demo:temp_max
    expr: max(demo_temp)
  - alert: HighTemp
    expr: demo_temp > 30
    for: 4s
    labels:
      severity: '{{ if gt $value 40.0 }}page{{ else }}warn{{ end }}'
      cluster_copy: '{{ $externalLabels.cluster }}'
    annotations:
      summary: '{{ $labels.room }} is at {{ $value | humanize }} degrees'
      where: 'cluster {{ $externalLabels.cluster }}, job {{ $labels.job }}'
  - alert: SvcDown
    expr: demo_up == 0
    labels: {team: ops}
    annotations:
      summary: '{{ $labels.svc }} down (value {{ $value }})'
  - alert: ColdRoom
    expr: demo_temp{room="b"} < 15
    annotations:
      summary: 'room {{ $labels.room }} cold: {{ printf "%.1f" $value }}'
- name: extra
  interval: 2s
  rules:
  - record: demo:temp_sum
    expr: sum(demo_temp)
"""

# the reload: `alerts` loses demo:temp_max (a changed group), `extra` goes
RULES_RELOADED = RULES[:RULES.index("  - record: demo:temp_max")] + RULES[RULES.index("  - alert: HighTemp"):RULES.index("- name: extra")]

AM_CONFIG = """route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: 'http://127.0.0.1:{port}/{who}'
        send_resolved: true
"""

HOOKED = {"vigil": [], "prom": []}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (f'# TYPE demo_temp gauge\ndemo_temp{{room="a"}} {VALUES["temp_a"]}\n'
                f'demo_temp{{room="b"}} {VALUES["temp_b"]}\n# TYPE demo_up gauge\ndemo_up{{svc="x"}} {VALUES["up_x"]}\n')
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        doc = json.loads(self.rfile.read(n) or b"{}")
        HOOKED.setdefault(self.path.strip("/"), []).append(doc)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def raw(port, q, t=None):
    """Raw samples of a range selector: {frozenset(labels): [(ms, value)]}."""
    params = {"query": q}
    if t is not None:
        params["time"] = f"{t:.3f}"
    st, b = get_json(port, "/api/v1/query", **params)
    if st != 200 or b["data"]["resultType"] != "matrix":
        return {}
    return {frozenset(s["metric"].items()): [(int(round(float(t) * 1000)), v) for t, v in s["values"]]
            for s in b["data"]["result"]}


def instant(port, q, t):
    st, b = get_json(port, "/api/v1/query", query=q, time=f"{t:.3f}")
    return b["data"]["result"] if st == 200 else None


def am_alerts(port):
    st, b = get_json(port, "/api/v2/alerts")
    return {a["labels"]["alertname"] + "/" + json.dumps(a["labels"], sort_keys=True): a for a in b} if st == 200 else {}


def rfc3339(s):
    """Seconds since the epoch of an RFC 3339 time with up to nanoseconds."""
    base, frac = s.rstrip("Z"), "0"
    if "." in base:
        base, frac = base.split(".")
    return time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0." + frac)


def next_instant_after(phase_ms, now):
    """The first evaluation instant (at phase_ms modulo the interval) after now, in seconds."""
    iv = int(IV * 1000)
    t = int(now * 1000)
    k = (t - phase_ms) // iv + 1
    return (k * iv + phase_ms) / 1000


def flip_after_instant(phase_ms, changes):
    """Applies changes 150ms after the next evaluation instant; returns that instant."""
    e = next_instant_after(phase_ms, time.time() + 0.2)
    time.sleep(max(0.0, e + 0.15 - time.time()))
    VALUES.update(changes)
    return e


def main():
    prom, am_bin = which("prometheus"), which("prometheus-alertmanager", "alertmanager")
    if not prom or not am_bin:
        skip("alert delivery differential", "prometheus or alertmanager not installed")
        finish("alerts_diff")
    tmp = tempfile.mkdtemp(prefix="vigil-alertsdiff-")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    hport = srv.server_address[1]
    target = f"127.0.0.1:{hport}"
    with open(f"{tmp}/rules.yml", "w") as f:
        f.write(RULES)
    vport, pport, am_v, am_p = free_port(), free_port(), free_port(), free_port()
    vurl, purl = "http://vigil.example:9290/v", "http://prom.example:9090/p"

    def cfg(am_port, extra=""):
        return ("global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 2s, external_labels: {cluster: eu1}}\n"
                f"{extra}rule_files: [rules.yml]\n"
                f"alerting:\n  alertmanagers:\n  - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
                f"scrape_configs:\n- job_name: demo\n  static_configs: [{{targets: ['{target}']}}]\n")
    with open(f"{tmp}/vigil.yml", "w") as f:
        f.write(cfg(am_v, f"server: {{external_url: '{vurl}'}}\n"))
    with open(f"{tmp}/prom.yml", "w") as f:
        f.write(cfg(am_p))
    procs = []
    try:
        for who, port in (("vigil", am_v), ("prom", am_p)):
            with open(f"{tmp}/am-{who}.yml", "w") as f:
                f.write(AM_CONFIG.format(port=hport, who=who))
            procs.append(Proc([am_bin, f"--config.file={tmp}/am-{who}.yml", f"--storage.path={tmp}/am-{who}",
                               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="], f"{tmp}/am-{who}.log"))
        vig = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{vport}", "--data", f"{tmp}/v"],
                   f"{tmp}/vigil.log")
        pr = Proc([prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p", f"--web.listen-address=127.0.0.1:{pport}",
                   f"--web.external-url={purl}", "--web.route-prefix=/"], f"{tmp}/prom.log")
        procs += [vig, pr]
        ok = all([check("alertmanagers start", wait_http(am_v, "/-/ready", timeout=30) and wait_http(am_p, "/-/ready", timeout=30)),
                  check("vigil starts", wait_http(vport, "/-/ready"), vig.output()),
                  check("prometheus starts", wait_http(pport, "/-/ready", timeout=30), pr.output())])
        if not ok:
            return

        # the evaluation phase, from the recording rule's samples (both restored: 3 evaluations done)
        def phases():
            out = {}
            for who, port in (("vigil", vport), ("prom", pport)):
                s = raw(port, "demo:temp_max[1m]")
                ts = [t for v in s.values() for t, _ in v]
                if len(ts) < 3:
                    return None
                out[who] = sorted({t % int(IV * 1000) for t in ts})
            return out
        ph = wait_until(phases, timeout=40)
        if not check("both evaluate the group at the same phase (the group hash)", ph and ph["vigil"] == ph["prom"]
                     and len(ph["vigil"]) == 1, ph):
            return
        phase = ph["vigil"][0]
        time.sleep(IV)

        # 1: HighTemp (for 4s), SvcDown and ColdRoom (no for) become active at the same instant in both
        e1 = flip_after_instant(phase, {"temp_a": 50, "temp_b": 10, "up_x": 0})
        want = {"HighTemp", "SvcDown", "ColdRoom"}

        def all_firing():
            return all({a["labels"]["alertname"] for a in am_alerts(p).values()} >= want for p in (am_v, am_p))
        check("every alert reaches both Alertmanagers", wait_until(all_firing, timeout=20),
              json.dumps([am_alerts(am_v), am_alerts(am_p)])[:3000])
        time.sleep(IV)

        # 2: ColdRoom resolves
        e2 = flip_after_instant(phase, {"temp_b": 20})
        time.sleep(2 * IV)
        now = time.time()
        va, pa = am_alerts(am_v), am_alerts(am_p)
        check("the same alerts held by both Alertmanagers (labels)", sorted(va) == sorted(pa) and len(va) == 2,
              json.dumps(sorted(va)) + "\n" + json.dumps(sorted(pa)))
        for key in sorted(set(va) & set(pa)):
            a, b = va[key], pa[key]
            name = a["labels"]["alertname"]
            check(f"{name}: annotations equal Prometheus'", a["annotations"] == b["annotations"],
                  f"{a['annotations']}\n{b['annotations']}")
            check(f"{name}: state equals Prometheus'", a["status"]["state"] == b["status"]["state"], f"{a['status']}\n{b['status']}")
            check(f"{name}: startsAt equals Prometheus' (the firing instant)", rfc3339(a["startsAt"]) == rfc3339(b["startsAt"]),
                  f"{a['startsAt']} {b['startsAt']}")
            ends = {w: rfc3339(x["endsAt"]) - rfc3339(x["startsAt"]) for w, x in (("vigil", a), ("prom", b))}
            check(f"{name}: endsAt = the send instant + 4 × max(resend delay 1m, interval 2s), as Prometheus",
                  all(abs(d - 240) < 0.001 for d in ends.values()) and rfc3339(a["endsAt"]) > now, ends)
            gv, gp = a["generatorURL"], b["generatorURL"]
            check(f"{name}: generatorURL under each external URL, the same query",
                  gv.startswith(vurl + "/graph?g0.expr=") and gp.startswith(purl + "/graph?g0.expr=") and
                  gv[len(vurl):] == gp[len(purl):], f"{gv}\n{gp}")
        hi = [a for a in va.values() if a["labels"]["alertname"] == "HighTemp"]
        check("HighTemp: templated labels and annotations", hi and hi[0]["labels"].get("severity") == "page" and
              hi[0]["labels"].get("cluster") == "eu1" and hi[0]["labels"].get("cluster_copy") == "eu1" and
              hi[0]["annotations"] == {"summary": "a is at 50 degrees", "where": "cluster eu1, job demo"}, hi)
        check("HighTemp: fired `for` after the change, at the same instant as Prometheus",
              hi and abs(rfc3339(hi[0]["startsAt"]) - (e1 + IV + 4)) < 0.01, (hi and hi[0]["startsAt"], e1))

        # the resolved notification each Alertmanager passed on: endsAt = the resolution instant
        def resolved(who):
            for doc in HOOKED.get(who, []):
                for a in doc.get("alerts", []):
                    if a["labels"].get("alertname") == "ColdRoom" and a["status"] == "resolved":
                        return a
            return None
        rv = wait_until(lambda: resolved("vigil"), timeout=10)
        rp = wait_until(lambda: resolved("prom"), timeout=10)
        check("ColdRoom: resolved notifications from both", rv and rp, json.dumps(HOOKED)[:3000])
        if rv and rp:
            check("ColdRoom: resolved endsAt = the resolution instant, as Prometheus",
                  rfc3339(rv["endsAt"]) == rfc3339(rp["endsAt"]) and abs(rfc3339(rv["endsAt"]) - (e2 + IV)) < 0.01,
                  f"{rv['endsAt']} {rp['endsAt']} e2={e2}")
            check("ColdRoom: the same labels and annotations resolved", rv["labels"] == rp["labels"] and
                  rv["annotations"] == rp["annotations"] and rv["annotations"] == {"summary": "room b cold: 10.0"}, f"{rv}\n{rp}")

        # the ALERTS timeline: the same samples (instants, states, labels) in both TSDBs
        tv, tp = raw(vport, "ALERTS[2m]"), raw(pport, "ALERTS[2m]")
        check("ALERTS: the same series and samples as Prometheus", tv == tp and len(tv) == 4,
              "\n".join(f"{sorted(k)} {v}" for k, v in sorted(tv.items(), key=str)) + "\n--\n" +
              "\n".join(f"{sorted(k)} {v}" for k, v in sorted(tp.items(), key=str)))
        pend = [v for k, v in tv.items() if ("alertstate", "pending") in k]
        check("ALERTS: HighTemp pending from the change for `for`, then firing",
              pend and [t for t, _ in pend[0]] == [int(round((e1 + IV) * 1000)), int(round((e1 + 2 * IV) * 1000))], pend)
        fs_v, fs_p = raw(vport, "ALERTS_FOR_STATE[2m]"), raw(pport, "ALERTS_FOR_STATE[2m]")
        check("ALERTS_FOR_STATE: the same as Prometheus", fs_v == fs_p and fs_v, f"{fs_v}\n{fs_p}")

        # reload: `alerts` loses demo:temp_max, `extra` goes
        with open(f"{tmp}/rules.yml", "w") as f:
            f.write(RULES_RELOADED)
        t_reload = time.time()
        vig.p.send_signal(1)
        pr.p.send_signal(1)
        time.sleep(0.5)
        for who, port in (("vigil", vport), ("prom", pport)):
            check(f"{who}: right after the reload the removed group's series is not stale yet",
                  bool(instant(port, "demo:temp_sum", time.time())))
        time.sleep(3 * IV + 1)
        last = {}
        for who, port in (("vigil", vport), ("prom", pport)):
            lm = max((t for v in raw(port, "demo:temp_max[1m]").values() for t, _ in v), default=0) / 1000
            last[who] = lm
            check(f"{who}: the removed rule's series ends at the changed group's next evaluation",
                  lm > t_reload - IV and instant(port, "demo:temp_max", lm + IV - 0.001) and
                  instant(port, "demo:temp_max", lm + IV) == [], (lm, t_reload, instant(port, "demo:temp_max", lm + IV)))
            check(f"{who}: the removed group's series ends at the reload", instant(port, "demo:temp_sum", t_reload - 0.1)
                  and instant(port, "demo:temp_sum", t_reload + 1.5) == [], raw(port, "demo:temp_sum[10s]"))
        check("the removed rule's last sample at the same instant in both", last["vigil"] == last["prom"], last)
    finally:
        for p in procs:
            p.stop()
        srv.shutdown()
        import vigiltest
        if all(vigiltest.results):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"# logs kept in {tmp}")
    finish("alerts_diff")


if __name__ == "__main__":
    main()
