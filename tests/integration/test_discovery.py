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


def clean_exit(name, p):
    """Stops p and checks its log holds no sanitizer report (leaks included: the debug build's ASan)."""
    p.stop()
    with open(p.log_path) as f:
        out = f.read()
    check(f"{name}: vigil stops without a sanitizer report",
          not any(m in out for m in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")), out[-3000:])


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
        clean_exit("http_sd", vig)
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
        clean_exit("dns_sd", vig)
    finally:
        vig.stop()
        dns.close()

# ---------------------------------------------------------------------------------------------- Kubernetes

K = "__meta_kubernetes_"
NODE = {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1", "node-role.kubernetes.io/worker": ""},
                     "annotations": {"example.com/rack": "r7"}},
        "spec": {"providerID": "aws:///eu-west-1a/i-0abc"},
        "status": {"addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.1"},
                                 {"type": "ExternalIP", "address": "203.0.113.1"}, {"type": "InternalIP", "address": "10.0.0.2"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}


def pod(name, ns, ip, annotations=None, labels=None, containers=None, init=None, ready="True"):
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": labels or {}, "annotations": annotations or {},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-rs", "uid": "x", "controller": True}]},
            "spec": {"nodeName": "n1", "containers": containers or [], "initContainers": init or []},
            "status": {"phase": "Running", "podIP": ip, "hostIP": "10.0.0.1",
                       "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": ready}]}}


WEB1 = pod("web-1", "default", "10.1.0.5", labels={"app": "web"},
           annotations={"prometheus.io/scrape": "true", "prometheus.io/path": "/stats", "prometheus.io/port": "8080"},
           containers=[{"name": "app", "image": "example/web:1",
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                                  {"name": "admin", "containerPort": 9090, "protocol": "TCP"}]}],
           init=[{"name": "setup", "image": "example/setup:1"}])
WEB2 = pod("web-2", "default", "10.1.0.6", labels={"app": "web"}, ready="False",
           containers=[{"name": "app", "image": "example/web:1", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}])
DB1 = pod("db-1", "other", "10.1.0.7", labels={"app": "db"},
          annotations={"prometheus.io/scrape": "true", "prometheus.io/port": "9187", "prometheus.io/scheme": "https"},
          containers=[{"name": "pg", "image": "postgres:15", "ports": [{"containerPort": 5432, "protocol": "TCP"}]}])
SVC = {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"team": "a"}},
       "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}
EXT = {"metadata": {"name": "ext", "namespace": "default"},
       "spec": {"type": "ExternalName", "externalName": "db.example.com", "ports": [{"port": 5432, "protocol": "TCP"}]}}
EPS = {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
       "subsets": [{"addresses": [{"ip": "10.1.0.5", "nodeName": "n1", "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}}],
                    "notReadyAddresses": [{"ip": "10.1.0.6", "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-2"}}],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}
SLICE = {"metadata": {"name": "web-abc12", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
         "addressType": "IPv4",
         "endpoints": [{"addresses": ["10.1.0.5"], "conditions": {"ready": True}, "hostname": "web-1",
                        "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}, "nodeName": "n1"}],
         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
ING = {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
       "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["*.example.com"]}],
                "rules": [{"host": "shop.example.com", "http": {"paths": [{"path": "/api", "pathType": "Prefix"}, {"path": "/", "pathType": "Prefix"}]}},
                          {"host": "other.test", "http": {"paths": [{"pathType": "Prefix"}]}}]}}


def present(prefix, d):
    out = {}
    for k, v in d.items():
        n = "".join(c if c.isalnum() or c == "_" else "_" for c in k)
        if v:
            out[prefix + n] = v
        out[prefix.replace("_label_", "_labelpresent_").replace("_annotation_", "_annotationpresent_") + n] = "true"
    return out


def pod_meta(p):
    md, st = p["metadata"], p["status"]
    ready = {"True": "true", "False": "false"}[[c for c in st["conditions"] if c["type"] == "Ready"][0]["status"]]
    out = {K + "pod_name": md["name"], K + "pod_ip": st["podIP"], K + "pod_ready": ready, K + "pod_phase": "Running",
           K + "pod_node_name": "n1", K + "pod_host_ip": "10.0.0.1", K + "pod_uid": md["uid"],
           K + "pod_controller_kind": "ReplicaSet", K + "pod_controller_name": md["name"] + "-rs"}
    out.update(present(K + "pod_label_", md["labels"]))
    out.update(present(K + "pod_annotation_", md["annotations"]))
    return out


def service_meta(s):
    out = {K + "service_name": s["metadata"]["name"], K + "namespace": s["metadata"]["namespace"]}
    out.update(present(K + "service_label_", s["metadata"].get("labels", {})))
    out.update(present(K + "service_annotation_", s["metadata"].get("annotations", {})))
    return out


def expected_k8s():
    """The discovered labels of every role's targets for the objects above, written from the labels the
    Prometheus 2.42 documentation lists for each role (the job's defaults added by k8s_view)."""
    node = {"__address__": "10.0.0.1:10250", "instance": "n1", K + "node_name": "n1", K + "node_provider_id": "aws:///eu-west-1a/i-0abc",
            K + "node_address_Hostname": "n1", K + "node_address_InternalIP": "10.0.0.1", K + "node_address_ExternalIP": "203.0.113.1"}
    node.update(present(K + "node_label_", NODE["metadata"]["labels"]))
    node.update(present(K + "node_annotation_", NODE["metadata"]["annotations"]))
    pods = []
    for p in (WEB1, WEB2):
        base = dict(pod_meta(p), **{K + "namespace": "default"})
        for c, init in [(c, "false") for c in p["spec"]["containers"]] + [(c, "true") for c in p["spec"]["initContainers"]]:
            cl = {K + "pod_container_name": c["name"], K + "pod_container_image": c["image"], K + "pod_container_init": init}
            if not c.get("ports"):
                pods.append(dict(base, __address__=p["status"]["podIP"], **cl))
            for port in c.get("ports", []):
                t = dict(base, __address__=f"{p['status']['podIP']}:{port['containerPort']}", **cl)
                t.update({K + "pod_container_port_number": str(port["containerPort"]), K + "pod_container_port_protocol": "TCP"})
                if port.get("name"):
                    t[K + "pod_container_port_name"] = port["name"]
                pods.append(t)
    svc = []
    for s, extra in ((SVC, {K + "service_cluster_ip": "10.96.0.10"}), (EXT, {K + "service_external_name": "db.example.com"})):
        for port in s["spec"]["ports"]:
            t = dict(service_meta(s), __address__=f"{s['metadata']['name']}.default.svc:{port['port']}", **extra)
            t.update({K + "service_port_number": str(port["port"]), K + "service_port_protocol": "TCP", K + "service_type": s["spec"]["type"]})
            if port.get("name"):
                t[K + "service_port_name"] = port["name"]
            svc.append(t)
    group = dict(service_meta(SVC), **{K + "endpoints_name": "web"})
    group.update(present(K + "endpoints_label_", EPS["metadata"]["labels"]))

    def cport(name, port):
        return {K + "pod_container_name": "app", K + "pod_container_port_name": name, K + "pod_container_port_number": str(port),
                K + "pod_container_port_protocol": "TCP"}
    eps = [
        dict(group, __address__="10.1.0.5:8080", **pod_meta(WEB1), **cport("http", 8080), **{
            K + "endpoint_port_name": "http", K + "endpoint_port_protocol": "TCP", K + "endpoint_ready": "true",
            K + "endpoint_address_target_kind": "Pod", K + "endpoint_address_target_name": "web-1", K + "endpoint_node_name": "n1"}),
        dict(group, __address__="10.1.0.6:8080", **pod_meta(WEB2), **cport("http", 8080), **{
            K + "endpoint_port_name": "http", K + "endpoint_port_protocol": "TCP", K + "endpoint_ready": "false",
            K + "endpoint_address_target_kind": "Pod", K + "endpoint_address_target_name": "web-2"}),
        dict(group, __address__="10.1.0.5:9090", **pod_meta(WEB1), **cport("admin", 9090)),
    ]
    sgroup = dict(service_meta(SVC), **{K + "endpointslice_name": "web-abc12", K + "endpointslice_address_type": "IPv4"})
    sgroup.update(present(K + "endpointslice_label_", SLICE["metadata"]["labels"]))
    slices = [
        dict(sgroup, __address__="10.1.0.5:8080", **pod_meta(WEB1), **cport("http", 8080), **{
            K + "endpointslice_port_name": "http", K + "endpointslice_port_protocol": "TCP", K + "endpointslice_port": "8080",
            K + "endpointslice_endpoint_conditions_ready": "true", K + "endpointslice_endpoint_hostname": "web-1",
            K + "endpointslice_address_target_kind": "Pod", K + "endpointslice_address_target_name": "web-1"}),
        dict(sgroup, __address__="10.1.0.5:9090", **pod_meta(WEB1), **cport("admin", 9090)),
    ]
    ig = {K + "ingress_name": "web", K + "namespace": "default", K + "ingress_class_name": "nginx"}
    ig.update(present(K + "ingress_label_", ING["metadata"]["labels"]))
    ing = [dict(ig, __address__=h, **{K + "ingress_host": h, K + "ingress_path": p, K + "ingress_scheme": sch})
           for h, p, sch in (("shop.example.com", "/api", "https"), ("shop.example.com", "/", "https"), ("other.test", "/", "http"))]
    return {"node": [node], "pod": pods, "service": svc, "endpoints": eps, "endpointslice": slices, "ingress": ing}


K8S_CFG = """global: {{scrape_interval: 10s, scrape_timeout: 1s}}
scrape_configs:
{jobs}
{annotated}
"""

K8S_JOB = """  - job_name: k8s-{role}
    kubernetes_sd_configs:
      - role: {role}
        api_server: http://127.0.0.1:{port}
        bearer_token_file: {token}
        namespaces: {{names: [default]}}
"""


def k8s_view(port, job):
    ts = active(port, job)
    if ts is None:
        return None
    drop = {"job", "__metrics_path__", "__scheme__", "__scrape_interval__", "__scrape_timeout__"}
    return sorted(json.dumps({k: v for k, v in t["discoveredLabels"].items() if k not in drop}, sort_keys=True) for t in ts)


def test_kubernetes(tmp):
    fport = free_port()
    fake = Proc([sys.executable, os.path.join(os.path.dirname(__file__), "..", "k8s_fake", "fake_k8s.py"), str(fport), "s3cret"],
                os.path.join(tmp, "fake.log"))
    procs = [fake]

    def ctl(path, body):
        return request(fport, "/_control/" + path, method="POST", body=json.dumps(body).encode(),
                       headers={"Content-Type": "application/json"})
    try:
        check("kubernetes: the fake API server starts", wait_http(fport, "/version"), fake.output())
        for res, o in (("nodes", NODE), ("pods", WEB1), ("pods", WEB2), ("pods", DB1), ("services", SVC), ("services", EXT),
                       ("endpoints", EPS), ("endpointslices", SLICE), ("ingresses", ING)):
            ctl("apply", {"resource": res, "object": json.loads(json.dumps(o))})
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write("s3cret\n")
        roles = ["node", "pod", "service", "endpoints", "endpointslice", "ingress"]
        jobs = "".join(K8S_JOB.format(role=r, port=fport, token=token) for r in roles)
        # one target per ingress path: Prometheus (and vigil) scrape a labels+URL pair once, so the paths
        # must make the URLs differ
        jobs += "    relabel_configs: [{source_labels: [__meta_kubernetes_ingress_path], target_label: __metrics_path__}]\n"
        ex = os.path.join(os.environ.get("VIGIL_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")), "examples", "kubernetes", "vigil.yml")
        annotated = ""
        if os.path.exists(ex):
            import yaml  # noqa: the examples' job, pointed at the fake
            doc = yaml.safe_load(open(ex))
            job = [j for j in doc["scrape_configs"] if j["job_name"] == "kubernetes-pods"][0]
            job["kubernetes_sd_configs"] = [{"role": "pod", "api_server": f"http://127.0.0.1:{fport}", "bearer_token_file": token}]
            annotated = yaml.safe_dump([job], default_flow_style=False)
            annotated = "\n".join("  " + ln for ln in annotated.splitlines())
        vig, port, ok, cfg = start_vigil(tmp, "k8s", K8S_CFG.format(jobs=jobs, annotated=annotated))
        procs.append(vig)
        check("kubernetes: vigil starts", ok, vig.output()[-3000:])
        want = expected_k8s()
        for role in roles:
            w = sorted(json.dumps(t, sort_keys=True) for t in want[role])
            got = wait_until(lambda: (lambda v: v if v == w else None)(k8s_view(port, f"k8s-{role}")), timeout=15)
            check(f"kubernetes: role {role}: targets and __meta_kubernetes_* labels as documented",
                  got == w, f"got  {k8s_view(port, f'k8s-{role}')}\nwant {w}\n{vig.output()[-1500:]}")
        st, _, body = request(fport, "/_control/stats")
        stats = json.loads(body)
        wq = stats["queries"].get("watch-pods", {})
        check("kubernetes: watches ask for bookmarks from the list's resourceVersion",
              wq.get("allowWatchBookmarks") == "true" and wq.get("resourceVersion", "").isdigit() and wq.get("watch") in ("1", "true"), wq)

        if annotated:
            def ann():
                ts = active(port, "kubernetes-pods")
                return ts and sorted((t["scrapeUrl"], t["labels"].get("namespace"), t["labels"].get("pod")) for t in ts)
            w = [("http://10.1.0.5:8080/stats", "default", "web-1"), ("https://10.1.0.7:9187/metrics", "other", "db-1")]
            got = wait_until(lambda: (lambda v: v if v == w else None)(ann()), timeout=15)
            check("kubernetes: examples/kubernetes annotation rules keep exactly the annotated pods with their path, port and scheme",
                  got == w, f"got {ann()}\nwant {w}")
        else:
            skip("kubernetes: examples/kubernetes annotation rules", "examples/kubernetes/vigil.yml missing")

        # a pod deleted through the watch disappears
        t0 = time.time()
        ctl("delete", {"resource": "pods", "namespace": "default", "name": "web-2"})
        gone = wait_until(lambda: (lambda v: v is not None and not any("web-2" in t for t in v))(k8s_view(port, "k8s-pod")), timeout=10)
        check("kubernetes: a pod deleted via the watch leaves /api/v1/targets within 10s", gone, f"{time.time() - t0:.1f}s")
        # the endpoints role follows the pod store too: web-2's endpoint loses its pod labels
        ok_eps = wait_until(lambda: (lambda v: v is not None and not any('"web-2"' in t and "pod_name" in t for t in v))(k8s_view(port, "k8s-endpoints")), timeout=10)
        check("kubernetes: endpoints targets follow pod changes", ok_eps, k8s_view(port, "k8s-endpoints"))

        # 410: compaction ends the watches with an ERROR 410 event; a change made meanwhile is seen after re-listing
        gone_before = json.loads(request(fport, "/_control/stats")[2])["gone"]
        lists_before = json.loads(request(fport, "/_control/stats")[2])["list"]
        newpod = pod("web-3", "default", "10.1.0.8", labels={"app": "web"},
                     containers=[{"name": "app", "image": "example/web:1", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}])
        ctl("quiet", {"resource": "pods", "object": newpod})
        seen = wait_until(lambda: (lambda v: v is not None and any("10.1.0.8:8080" in t for t in v))(k8s_view(port, "k8s-pod")), timeout=15)
        stats = json.loads(request(fport, "/_control/stats")[2])
        check("kubernetes: after a 410 (ERROR event) vigil lists again and converges",
              seen and stats["gone"] > gone_before and stats["list"] > lists_before, f"{stats}\n{vig.output()[-1500:]}")
        ctl("expire", {"mode": "status"})
        newpod2 = json.loads(json.dumps(newpod))
        newpod2["metadata"]["name"], newpod2["status"]["podIP"] = "web-4", "10.1.0.9"
        ctl("quiet", {"resource": "pods", "object": newpod2})
        seen = wait_until(lambda: (lambda v: v is not None and any("10.1.0.9:8080" in t for t in v))(k8s_view(port, "k8s-pod")), timeout=15)
        check("kubernetes: after an HTTP 410 answer vigil lists again and converges", seen, k8s_view(port, "k8s-pod"))

        # wrong token: errors surfaced (log + metric), targets kept
        before_n = len(active(port, "k8s-pod"))
        fails = metric(port, "vigil_sd_failures_total", mechanism="kubernetes")
        ctl("token", {"token": "rotated-elsewhere"})
        grew = wait_until(lambda: metric(port, "vigil_sd_failures_total", mechanism="kubernetes") > fails, timeout=15)
        time.sleep(1)
        check("kubernetes: a refused token is counted in vigil_sd_failures_total and logged",
              grew and "401" in vig.output(), vig.output()[-1500:])
        check("kubernetes: targets are kept while the API refuses the token", len(active(port, "k8s-pod")) == before_n, active(port, "k8s-pod"))
        with open(token, "w") as f:
            f.write("rotated-elsewhere\n")
        ctl("apply", {"resource": "pods", "object": pod("web-5", "default", "10.1.0.10", containers=[{"name": "a", "image": "i"}])})
        back = wait_until(lambda: (lambda v: v is not None and any('"10.1.0.10"' in t for t in v))(k8s_view(port, "k8s-pod")), timeout=40)
        check("kubernetes: with the new token in bearer_token_file discovery recovers", back, vig.output()[-1000:])
        clean_exit("kubernetes", vig)
    finally:
        for p in procs:
            p.stop()



def main():
    tmp = tempfile.mkdtemp(prefix="vigil-discovery-")
    try:
        test_http_sd(tmp)
        test_dns_sd(tmp)
        test_kubernetes(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_discovery")


if __name__ == "__main__":
    main()
