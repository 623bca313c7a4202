#!/usr/bin/env python3
"""The Alertmanager notifier against a real Alertmanager: alerts sent through the notifier (the
notifier_send helper, built from vigil's own code) must appear in Alertmanager's API with exactly the
labels sent plus the external labels, and with their annotations; an alert dropped by
alert_relabel_configs must not appear; a resolved alert (endsAt in the past) must leave the active
list. Then the real vigil binary with an `alerting:` section: /api/v1/alertmanagers in Prometheus'
shape, the notifier's self-metrics, a reload that changes the Alertmanagers, and, with tenancy on,
the endpoint refused to tenants and served to admins. Output is TAP; skipped when Alertmanager is not
installed."""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, get_json, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL, SEND = sys.argv[1], sys.argv[2]

AM_CONFIG = """route:
  receiver: "null"
  group_wait: 1h
receivers:
  - name: "null"
"""


def am_alerts(port, **params):
    st, body = get_json(port, "/api/v2/alerts", **params)
    return body if st == 200 else None


def by_name(alerts, name):
    return [a for a in alerts or [] if a["labels"].get("alertname") == name]


def send(tmp, cfg_text, alerts):
    with open(f"{tmp}/send.yml", "w") as f:
        f.write(cfg_text)
    with open(f"{tmp}/alerts.json", "w") as f:
        json.dump(alerts, f)
    p = subprocess.run([SEND, f"{tmp}/send.yml", f"{tmp}/alerts.json"], capture_output=True, text=True, timeout=60)
    try:
        stats = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        stats = None
    return p.returncode, stats, p.stderr


def main():
    am_bin = which("prometheus-alertmanager", "alertmanager")
    if not am_bin:
        skip("alertmanager", "Alertmanager is not installed")
        finish("integration_alertmanager")
    tmp = tempfile.mkdtemp(prefix="vigil-alertmanager-")
    with open(f"{tmp}/am.yml", "w") as f:
        f.write(AM_CONFIG)
    amport = free_port()
    procs = []
    try:
        am = Proc([am_bin, f"--config.file={tmp}/am.yml", f"--storage.path={tmp}/am", f"--web.listen-address=127.0.0.1:{amport}",
                   "--cluster.listen-address="], f"{tmp}/am.log")
        procs.append(am)
        if not check("alertmanager starts", wait_http(amport, "/-/ready", timeout=30), am.output()):
            return

        now_ms = int(time.time() * 1000)
        cfg = f"""global:
  external_labels: {{cluster: eu1, severity: none}}
alerting:
  alert_relabel_configs:
    - {{source_labels: [alertname], regex: Ignored, action: drop}}
  alertmanagers:
    - path_prefix: /
      timeout: 5s
      static_configs: [{{targets: ['127.0.0.1:{amport}']}}]
"""
        alerts = [
            {"labels": {"alertname": "DiskFull", "instance": "db1:9100", "severity": "page"},
             "annotations": {"summary": "disk / is 97% full", "runbook": "https://runbooks.example/disk"},
             "startsAt": now_ms - 60000, "generatorURL": "http://vigil.example:9290/graph?g0.expr=disk"},
            {"labels": {"alertname": "HighLoad", "instance": "web1:9100"},
             "annotations": {"summary": "load > 4"}, "startsAt": now_ms - 30000, "endsAt": now_ms + 3600000},
            {"labels": {"alertname": "Ignored", "instance": "x"}, "annotations": {}, "startsAt": now_ms},
        ]
        rc, stats, err = send(tmp, cfg, alerts)
        check("the notifier delivers a batch to Alertmanager", rc == 0 and stats and stats["sent"] == 2 and stats["posts"] == 1,
              f"rc={rc} stats={stats}\n{err}")

        got = wait_until(lambda: (lambda a: a if len(by_name(a, "DiskFull")) and len(by_name(a, "HighLoad")) else None)(am_alerts(amport)),
                         timeout=15)
        disk, load = by_name(got, "DiskFull"), by_name(got, "HighLoad")
        check("both alerts are in Alertmanager", len(disk) == 1 and len(load) == 1, json.dumps(got))
        if disk:
            check("labels are exactly the alert's plus the external labels it lacked",
                  disk[0]["labels"] == {"alertname": "DiskFull", "instance": "db1:9100", "severity": "page", "cluster": "eu1"},
                  disk[0]["labels"])
            check("annotations arrive as sent",
                  disk[0]["annotations"] == {"summary": "disk / is 97% full", "runbook": "https://runbooks.example/disk"},
                  disk[0]["annotations"])
            check("generatorURL arrives as sent", disk[0].get("generatorURL") == "http://vigil.example:9290/graph?g0.expr=disk",
                  disk[0].get("generatorURL"))
            check("the alert is active", disk[0]["status"]["state"] == "active", disk[0]["status"])
        if load:
            check("an external label fills a label the alert lacks",
                  load[0]["labels"] == {"alertname": "HighLoad", "instance": "web1:9100", "severity": "none", "cluster": "eu1"},
                  load[0]["labels"])
        check("an alert dropped by alert_relabel_configs is not sent", not by_name(got, "Ignored"), json.dumps(got))

        # resolve DiskFull: the same labels with endsAt in the past
        resolved = [dict(alerts[0], endsAt=now_ms - 1000)]
        rc, stats, err = send(tmp, cfg, resolved)
        check("the resolved alert is delivered", rc == 0, f"rc={rc} stats={stats}\n{err}")
        gone = wait_until(lambda: (lambda a: a is not None and not by_name(a, "DiskFull"))(am_alerts(amport)), timeout=15)
        check("a resolved alert leaves Alertmanager's alert list", gone, json.dumps(am_alerts(amport)))
        check("the other alert stays active", len(by_name(am_alerts(amport), "HighLoad")) == 1)

        # an Alertmanager that answers with an error is counted, not retried
        rc, stats, err = send(tmp, cfg.replace("path_prefix: /", "path_prefix: /nowhere"), alerts[:1])
        check("a failing Alertmanager counts errors and drops the batch",
              rc == 1 and stats and stats["errors"] == 1 and stats["dropped"] == 1 and stats["sent"] == 0, f"rc={rc} stats={stats}\n{err}")

        # ---- the real vigil: /api/v1/alertmanagers, self-metrics, reload ----
        vport = free_port()
        vcfg = f"""server: {{listen: '127.0.0.1:{vport}'}}
storage: {{path: {tmp}/vigil}}
alerting:
  alertmanagers:
    - static_configs:
        - {{targets: ['127.0.0.1:{amport}'], labels: {{dc: west}}}}
        - {{targets: ['am-east:9093'], labels: {{dc: east}}}}
      relabel_configs:
        - {{source_labels: [dc], regex: east, action: drop}}
"""
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(vcfg)
        vig = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml"], f"{tmp}/vigil.log")
        procs.append(vig)
        if not check("vigil starts with an alerting section", wait_http(vport, "/-/ready", timeout=30), vig.output()):
            return
        st, body = get_json(vport, "/api/v1/alertmanagers")
        want = {"status": "success", "data": {
            "activeAlertmanagers": [{"url": f"http://127.0.0.1:{amport}/api/v2/alerts"}],
            "droppedAlertmanagers": [{"url": "http://am-east:9093/api/v2/alerts"}]}}
        check("/api/v1/alertmanagers in Prometheus' shape", st == 200 and body == want, f"{st} {body}")
        _, _, metrics = request(vport, "/metrics")
        check("notifier self-metrics are exposed",
              "vigil_notifications_queue_capacity 10000" in metrics and "vigil_notifications_alertmanagers_discovered 1" in metrics
              and "vigil_notifications_queue_length 0" in metrics,
              "\n".join(line for line in metrics.splitlines() if "notifications" in line))

        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(vcfg.replace("regex: east", "regex: none").replace("alertmanagers:", "notification_queue_capacity: 500\n  alertmanagers:"))
        st, _, text = request(vport, "/-/reload", method="POST")
        check("reload with new Alertmanagers", st == 200, text)
        st, body = get_json(vport, "/api/v1/alertmanagers")
        urls = [a["url"] for a in body.get("data", {}).get("activeAlertmanagers", [])]
        check("reload applies the Alertmanager list",
              urls == [f"http://127.0.0.1:{amport}/api/v2/alerts", "http://am-east:9093/api/v2/alerts"]
              and body["data"]["droppedAlertmanagers"] == [], body)
        _, _, metrics = request(vport, "/metrics")
        check("reload applies the queue capacity", "vigil_notifications_queue_capacity 500" in metrics)
        rc = vig.stop()
        with open(vig.log_path) as f:
            check("vigil stops cleanly", rc == 0, f.read()[-2000:])
        procs.remove(vig)

        # ---- with tenancy on: tenants are refused, admins served ----
        from test_tenancy import SECRET, claims, hs256  # noqa: E402
        with open(f"{tmp}/hs.key", "wb") as f:
            f.write(SECRET)
        tport = free_port()
        tcfg = f"""server: {{listen: '127.0.0.1:{tport}'}}
storage: {{path: {tmp}/vigil-t}}
auth:
  jwt:
    admin_claim: {{name: role, value: admin}}
    issuer: https://issuer.test
    audience: vigil
    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]
alerting:
  alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{amport}']}}]}}]
"""
        with open(f"{tmp}/vigil-t.yml", "w") as f:
            f.write(tcfg)
        vt = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil-t.yml"], f"{tmp}/vigil-t.log")
        procs.append(vt)
        if check("vigil starts with tenancy", wait_http(tport, "/-/ready", timeout=30), vt.output()):
            st, _, _ = request(tport, "/api/v1/alertmanagers")
            check("no token: 401", st == 401, st)
            tenant = hs256(claims(org_id="acme"))
            st, _, _ = request(tport, "/api/v1/alertmanagers", headers={"Authorization": f"Bearer {tenant}"})
            check("a tenant is refused (403)", st == 403, st)
            admin = hs256(claims(org_id="ops", role="admin"))
            st, _, text = request(tport, "/api/v1/alertmanagers", headers={"Authorization": f"Bearer {admin}"})
            check("an admin gets the list", st == 200 and f"127.0.0.1:{amport}" in text, f"{st} {text}")
    finally:
        for p in procs:
            p.stop()


if __name__ == "__main__":
    main()
    finish("integration_alertmanager")
