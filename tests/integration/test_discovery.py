#!/usr/bin/env python3
"""Service discovery end to end: the real binary against local endpoints.
  - http_sd_configs against a local HTTP endpoint: targets, group labels and __meta_url (and the same
    discovered labels as a real Prometheus 2.42 given the same file, when it is installed), refreshes pick
    up changes, a failing endpoint (500, wrong Content-Type, bad JSON) keeps the last list and is counted;
  - dns_sd_configs against a small DNS server (tests/integration/dnsfake.py) that the libc resolver reaches
    through a private /etc/resolv.conf bind-mounted in a mount namespace (`unshare -m`, root only; skipped
    otherwise): SRV, A and AAAA records, __meta_dns_* labels, changes, NXDOMAIN;
  - kubernetes_sd_configs against the contract fake of the Kubernetes API (tests/k8s_fake/fake_k8s.py).
Output is TAP."""
import http.server
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, get_json, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]


def active(port, pool=None):
    st, j = get_json(port, "/api/v1/targets")
    if st != 200:
        return None
    return [t for t in j["data"]["activeTargets"] if pool is None or t["scrapePool"] == pool]


def discovered(port, pool):
    ts = active(port, pool)
    return None if ts is None else sorted(json.dumps(t["discoveredLabels"], sort_keys=True) for t in ts)


def metric(port, name, **labels):
    st, _, body = request(port, "/metrics")
    total = 0.0
    for line in body.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def start_vigil(tmp, name, cfg_text, wrap=()):
    cfg = os.path.join(tmp, f"{name}.yml")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    port = free_port()
    p = Proc([*wrap, VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}", "--data", os.path.join(tmp, f"{name}-data")],
             os.path.join(tmp, f"{name}.log"))
    ok = wait_http(port, "/-/ready")
    return p, port, ok, cfg


# ---------------------------------------------------------------------------------------------- HTTP SD

class SDState:
    body = b"[]"
    ctype = "application/json"
    status = 200
    hits = 0


class SDHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        SDState.hits += 1
        SDState.last_headers = dict(self.headers)
        body = SDState.body
        self.send_response(SDState.status)
        self.send_header("Content-Type", SDState.ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


HTTP_CFG = """global: {{scrape_interval: 10s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: httpsd
    http_sd_configs:
      - url: http://127.0.0.1:{port}/sd
        refresh_interval: 1s
"""


def test_http_sd(tmp):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SDHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sport = srv.server_address[1]
    url = f"http://127.0.0.1:{sport}/sd"
    SDState.body = json.dumps([
        {"targets": ["10.0.0.1:9100", "10.0.0.2:9100"], "labels": {"env": "prod", "__meta_team": "db"}},
        {"targets": ["10.0.0.3:8080"]},
    ]).encode()
    cfg_text = HTTP_CFG.format(port=sport)
    vig, port, ok, cfg = start_vigil(tmp, "http", cfg_text)
    procs = [vig]
    try:
        check("http_sd: vigil starts", ok, vig.output()[-2000:])

        def labels_of(t):
            return {k: v for k, v in t["discoveredLabels"].items()}
        want = sorted([
            {"__address__": "10.0.0.1:9100", "__meta_url": url, "__meta_team": "db", "env": "prod"},
            {"__address__": "10.0.0.2:9100", "__meta_url": url, "__meta_team": "db", "env": "prod"},
            {"__address__": "10.0.0.3:8080", "__meta_url": url},
        ], key=lambda d: d["__address__"])
        base = {"job": "httpsd", "__metrics_path__": "/metrics", "__scheme__": "http", "__scrape_interval__": "10s",
                "__scrape_timeout__": "1s"}
        want = [dict(w, **base) for w in want]
        got = wait_until(lambda: (lambda ts: ts if ts and len(ts) == 3 else None)(active(port, "httpsd")), timeout=10)
        got_l = sorted([labels_of(t) for t in got or []], key=lambda d: d["__address__"])
        check("http_sd: targets, group labels and __meta_url", got_l == want, f"got {got_l}\nwant {want}")
        final = {t["labels"]["instance"]: t["labels"] for t in got or []}
        check("http_sd: final labels keep group labels, drop __meta_*",
              final.get("10.0.0.1:9100") == {"env": "prod", "instance": "10.0.0.1:9100", "job": "httpsd"}, final)
        check("http_sd: Accept and refresh-interval headers sent",
              SDState.last_headers.get("Accept") == "application/json" and
              SDState.last_headers.get("X-Prometheus-Refresh-Interval-Seconds") == "1", SDState.last_headers)

        prom = which("prometheus")
        if prom:
            pport = free_port()
            pr = Proc([prom, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/prom-http", f"--web.listen-address=127.0.0.1:{pport}"],
                      os.path.join(tmp, "prom-http.log"))
            procs.append(pr)
            wait_http(pport, "/-/ready", timeout=30)
            pv = wait_until(lambda: (lambda d: d if d and len(d) == 3 else None)(discovered(pport, "httpsd")), timeout=20)
            check("http_sd: discovered labels equal Prometheus 2.42's", pv == discovered(port, "httpsd"),
                  f"prometheus {pv}\nvigil {discovered(port, 'httpsd')}")
        else:
            skip("http_sd: discovered labels equal Prometheus 2.42's", "prometheus not installed")

        SDState.body = json.dumps([{"targets": ["10.0.0.9:9100"], "labels": {"env": "dev"}}]).encode()
        got = wait_until(lambda: (lambda ts: ts if ts and [t["labels"]["instance"] for t in ts] == ["10.0.0.9:9100"] else None)(active(port, "httpsd")),
                         timeout=10)
        check("http_sd: a refresh picks up the new list", got and got[0]["discoveredLabels"]["env"] == "dev", active(port, "httpsd"))

        for what, (status, ctype, body) in {"HTTP 500": (500, "application/json", b"[]"),
                                            "text/plain": (200, "text/plain", b"[]"),
                                            "malformed JSON": (200, "application/json", b"[{"),
                                            "bad label name": (200, "application/json", b'[{"targets":["a:1"],"labels":{"a-b":"x"}}]')}.items():
            before = metric(port, "vigil_sd_failures_total", mechanism="http")
            SDState.status, SDState.ctype, SDState.body = status, ctype, body
            grew = wait_until(lambda: metric(port, "vigil_sd_failures_total", mechanism="http") > before, timeout=10)
            time.sleep(1.2)
            ts = active(port, "httpsd")
            check(f"http_sd: {what} is counted and the last list is kept",
                  grew and [t["labels"]["instance"] for t in ts] == ["10.0.0.9:9100"], ts)
        check("http_sd: the failure is logged", "HTTP SD refresh failed" in vig.output(), vig.output()[-1500:])
        SDState.status, SDState.ctype, SDState.body = 200, "application/json; charset=utf-8", b"[]"
        check("http_sd: an empty list (charset parameter allowed) removes the targets",
              wait_until(lambda: active(port, "httpsd") == [], timeout=10), active(port, "httpsd"))
    finally:
        for p in procs:
            p.stop()
        srv.shutdown()


# ---------------------------------------------------------------------------------------------- DNS SD

DNS_CFG = """global: {scrape_interval: 10s, scrape_timeout: 1s}
scrape_configs:
  - job_name: dnssrv
    dns_sd_configs:
      - names: [_metrics._tcp.svc.test, missing.svc.test]
        refresh_interval: 1s
  - job_name: dnsa
    dns_sd_configs:
      - names: [hosts.svc.test]
        type: A
        port: 9100
        refresh_interval: 1s
  - job_name: dnsaaaa
    dns_sd_configs:
      - names: [hosts.svc.test]
        type: AAAA
        port: 9101
        refresh_interval: 1s
"""


def test_dns_sd(tmp):
    if os.getuid() != 0 or not which("unshare"):
        skip("dns_sd", "needs root and unshare to give vigil a private /etc/resolv.conf")
        return
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind /dev/null /etc/resolv.conf"], capture_output=True)
    if probe.returncode != 0:
        skip("dns_sd", f"cannot bind-mount in a mount namespace: {probe.stderr.decode().strip()}")
        return
    sys.path.insert(0, os.path.dirname(__file__))
    from dnsfake import DNSServer
    addr = f"127.0.53.{random.randint(2, 250)}"
    dns = DNSServer(addr)
    dns.table = {
        ("_metrics._tcp.svc.test", DNSServer.SRV): [(10, 5, 9100, "node-a.svc.test."), (10, 5, 9200, "node-b.svc.test.")],
        ("hosts.svc.test", DNSServer.A): ["10.1.0.1", "10.1.0.2"],
        ("hosts.svc.test", DNSServer.AAAA): ["fd00::1"],
    }
    resolv = os.path.join(tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write(f"nameserver {addr}\noptions timeout:1 attempts:1\n")
    wrap = ["unshare", "-m", "sh", "-c", f'mount --bind "{resolv}" /etc/resolv.conf && exec "$0" "$@"']
    vig, port, ok, cfg = start_vigil(tmp, "dns", DNS_CFG, wrap=wrap)
    try:
        check("dns_sd: vigil starts in its own mount namespace", ok, vig.output()[-2000:])
        base = {"__metrics_path__": "/metrics", "__scheme__": "http", "__scrape_interval__": "10s", "__scrape_timeout__": "1s"}

        def want(job, rows):
            return sorted(json.dumps(dict(r, job=job, **base), sort_keys=True) for r in rows)
        srv_want = want("dnssrv", [
            {"__address__": "node-a.svc.test:9100", "__meta_dns_name": "_metrics._tcp.svc.test",
             "__meta_dns_srv_record_target": "node-a.svc.test.", "__meta_dns_srv_record_port": "9100"},
            {"__address__": "node-b.svc.test:9200", "__meta_dns_name": "_metrics._tcp.svc.test",
             "__meta_dns_srv_record_target": "node-b.svc.test.", "__meta_dns_srv_record_port": "9200"}])
        got = wait_until(lambda: (lambda d: d if d == srv_want else None)(discovered(port, "dnssrv")), timeout=15)
        check("dns_sd: SRV records → targets with __meta_dns_name, srv_record_target/port (NXDOMAIN name empty)",
              got == srv_want, f"got {discovered(port, 'dnssrv')}\nwant {srv_want}\n{vig.output()[-1500:]}")
        a_want = want("dnsa", [{"__address__": "10.1.0.1:9100", "__meta_dns_name": "hosts.svc.test"},
                               {"__address__": "10.1.0.2:9100", "__meta_dns_name": "hosts.svc.test"}])
        got = wait_until(lambda: (lambda d: d if d == a_want else None)(discovered(port, "dnsa")), timeout=10)
        check("dns_sd: A records with the configured port", got == a_want, f"got {discovered(port, 'dnsa')}\nwant {a_want}")
        aaaa_want = want("dnsaaaa", [{"__address__": "[fd00::1]:9101", "__meta_dns_name": "hosts.svc.test"}])
        got = wait_until(lambda: (lambda d: d if d == aaaa_want else None)(discovered(port, "dnsaaaa")), timeout=10)
        check("dns_sd: AAAA records, the address in brackets", got == aaaa_want, f"got {discovered(port, 'dnsaaaa')}")

        dns.table[("_metrics._tcp.svc.test", DNSServer.SRV)] = [(10, 5, 9300, "node-c.svc.test.")]
        got = wait_until(lambda: (lambda d: d if d and len(d) == 1 and "node-c" in d[0] else None)(discovered(port, "dnssrv")), timeout=10)
        check("dns_sd: a changed answer replaces the targets", got, discovered(port, "dnssrv"))

        before = metric(port, "vigil_sd_failures_total", mechanism="dns")
        dns.failing.add("_metrics._tcp.svc.test")
        grew = wait_until(lambda: metric(port, "vigil_sd_failures_total", mechanism="dns") > before, timeout=10)
        d = discovered(port, "dnssrv")
        check("dns_sd: SERVFAIL is counted and keeps the name's last records", grew and d and len(d) == 1 and "node-c" in d[0], d)
    finally:
        vig.stop()
        dns.close()


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-discovery-")
    try:
        test_http_sd(tmp)
        test_dns_sd(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_discovery")


if __name__ == "__main__":
    main()
