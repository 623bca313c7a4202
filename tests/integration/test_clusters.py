#!/usr/bin/env python3
"""The cluster and node overview API through the real binary: vigil and a real Prometheus 2.42 scrape the
same two node_exporters, relabelled into clusters c1 (tenant alice) and c2 (tenant bob). The figures of
/node-metrics and /metrics are checked against Prometheus' answers to the equivalent PromQL; the two
servers scrape at different instants, so values are compared with a relative tolerance (REL, below) on
top of an absolute one for figures near zero. Also: presets, thresholds flipping states across a
reload, tenants never seeing each other's clusters (404, not 403), the Grafana endpoint without
Grafana, the alert rule group built from the thresholds, and the query results cache (identical
bodies on hits; a query_range answered partly from the cache byte-identical to the uncached answer).
Output is TAP."""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import snappy, write_request  # noqa: E402
from test_tenancy import claims, hs256, SECRET  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]
REL = 0.05  # relative tolerance between vigil's and Prometheus' figures (different scrape instants)
NET = r'lo|veth.*|docker.*|br.*|cni.*'


def get(port, path, token=None, **params):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    q = urllib.parse.urlencode(params)
    st, _, body = request(port, f"{path}?{q}" if q else path, headers=h, timeout=30)
    try:
        return st, json.loads(body), body
    except ValueError:
        return st, None, body


def prom(pport, expr, t=None):
    params = {"query": expr}
    if t is not None:
        params["time"] = str(t)
    st, body, _ = get(pport, "/api/v1/query", **params)
    return body["data"]["result"] if st == 200 else None


def close(a, b, rel=REL, absolute=0.0):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), absolute)


def scrape_yaml(p1, p2):
    # relabelled into clusters and tenants by target address, the same for vigil and Prometheus
    return f"""scrape_configs:
  - job_name: node
    static_configs: [{{targets: ['127.0.0.1:{p1}', '127.0.0.1:{p2}']}}]
    relabel_configs:
      - {{source_labels: [__address__], regex: '.*:{p1}', target_label: cluster, replacement: c1}}
      - {{source_labels: [__address__], regex: '.*:{p1}', target_label: namespace, replacement: client-alice}}
      - {{source_labels: [__address__], regex: '.*:{p2}', target_label: cluster, replacement: c2}}
      - {{source_labels: [__address__], regex: '.*:{p2}', target_label: namespace, replacement: client-bob}}
"""


def vigil_yaml(tmp, p1, p2, mem, cache_enabled=True):
    return f"""storage: {{path: {tmp}/data}}
auth:
  jwt:
    admin_claim: {{name: role, value: admin}}
    issuer: https://issuer.test
    audience: vigil
    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]
tenants:
  enforce: {{namespace: "client-{{org_id}}"}}
global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 5s}}
query_cache: {{enabled: {str(cache_enabled).lower()}, ttl: 3s, max_freshness: 5s}}
clusters:
  alert_rules: true
  thresholds:
    memory: {{warning: {mem[0]}, critical: {mem[1]}}}
    disk: {{warning: 99.5, critical: 99.9}}
""" + scrape_yaml(p1, p2)


def main():
    prom_bin, ne_bin = which("prometheus"), which("prometheus-node-exporter", "node_exporter")
    if not prom_bin or not ne_bin:
        skip("clusters", "prometheus or prometheus-node-exporter not installed")
        finish("integration_clusters")
    tmp = tempfile.mkdtemp(prefix="vigil-clusters-")
    procs = []
    try:
        with open(f"{tmp}/hs.key", "wb") as f:
            f.write(SECRET)
        p1, p2, port, pport = free_port(), free_port(), free_port(), free_port()
        for p in (p1, p2):
            procs.append(Proc([ne_bin, f"--web.listen-address=127.0.0.1:{p}"], f"{tmp}/ne{p}.log"))
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(vigil_yaml(tmp, p1, p2, (1, 99)))
        with open(f"{tmp}/prom.yml", "w") as f:
            f.write("global: {scrape_interval: 1s, scrape_timeout: 1s}\n" + scrape_yaml(p1, p2))
        vig = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{port}"], f"{tmp}/vigil.log")
        procs.append(vig)
        pr = Proc([prom_bin, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p",
                   f"--web.listen-address=127.0.0.1:{pport}"], f"{tmp}/prom.log")
        procs.append(pr)
        check("vigil starts", wait_http(port, "/-/ready"), vig.output())
        check("prometheus starts", wait_http(pport, "/-/ready", timeout=30), pr.output())
        alice, bob, admin = hs256(claims(org_id="alice")), hs256(claims(org_id="bob")), hs256(claims(role="admin"))

        # ---- the cluster list, per caller ----
        def clusters(tok):
            st, body, _ = get(port, "/api/v1/clusters", tok)
            return [c["name"] for c in body["data"]["clusters"]] if st == 200 else None
        check("admin sees c1 and c2", wait_until(lambda: clusters(admin) == ["c1", "c2"], 20), clusters(admin))
        check("alice sees c1 only", clusters(alice) == ["c1"], clusters(alice))
        check("bob sees c2 only", clusters(bob) == ["c2"], clusters(bob))
        st, body, _ = get(port, "/api/v1/clusters", admin)
        c1 = body["data"]["clusters"][0]
        check("cluster entry: node count, ready count, label", body["data"]["label"] == "cluster" and c1["nodes"] == 1
              and c1["nodes_ready"] == 1, body)

        # ---- tenants: foreign and unknown clusters are 404, never 403 ----
        for path in ("node-metrics", "metrics", "grafana-dashboard"):
            st, body, _ = get(port, f"/api/v1/clusters/c2/{path}", alice)
            check(f"alice: c2/{path} → 404", st == 404 and body["errorType"] == "not_found" and "c2" in body["error"], (st, body))
            st, body, _ = get(port, f"/api/v1/clusters/c1/{path}", bob)
            check(f"bob: c1/{path} → 404", st == 404, (st, body))
        st, body, _ = get(port, "/api/v1/clusters/nosuch/node-metrics", admin)
        check("unknown cluster → 404", st == 404, (st, body))
        st, body, _ = get(port, "/api/v1/clusters/c1/node-metrics")
        check("no token → 401", st == 401, st)
        st, body, _ = get(port, "/api/v1/clusters/c1/grafana-dashboard", alice)
        check("grafana-dashboard without Grafana → 404 naming grafana.url", st == 404 and "grafana.url" in body["error"], body)

        # ---- node-metrics against Prometheus ----
        time.sleep(6)  # a few more scrapes in both, so rates have samples
        st, body, raw = get(port, "/api/v1/clusters/c1/node-metrics", alice)
        now = time.time()
        check("alice: c1/node-metrics → 200", st == 200, raw[:300])
        n = body["data"]["nodes"][0]
        sel = 'cluster="c1"'

        def pv(expr):
            r = prom(pport, expr, now)
            return float(r[0]["value"][1]) if r else None
        uname = prom(pport, f"node_uname_info{{{sel}}}", now)
        check("node name, instance and IP as Prometheus has them",
              n["name"] == uname[0]["metric"]["nodename"] and n["instance"] == f"127.0.0.1:{p1}" and n["ip"] == "127.0.0.1"
              and n["status"] == "Ready" and n["status_source"] == "up", n)
        want = {
            "memory.total": pv(f"node_memory_MemTotal_bytes{{{sel}}}"),
            "memory.used": pv(f"node_memory_MemTotal_bytes{{{sel}}} - node_memory_MemAvailable_bytes{{{sel}}}"),
            "memory.percent": pv(f"100 * (1 - node_memory_MemAvailable_bytes{{{sel}}} / node_memory_MemTotal_bytes{{{sel}}})"),
            "disk.total": pv(f'node_filesystem_size_bytes{{mountpoint="/",{sel}}}'),
            "disk.used": pv(f'node_filesystem_size_bytes{{mountpoint="/",{sel}}} - node_filesystem_avail_bytes{{mountpoint="/",{sel}}}'),
            "cpu.percent": pv(f'100 * (1 - avg(rate(node_cpu_seconds_total{{mode="idle",{sel}}}[5m])))'),
            "net.rx": pv(f'8 * sum(rate(node_network_receive_bytes_total{{device!~"{NET}",{sel}}}[5m]))'),
            "net.tx": pv(f'8 * sum(rate(node_network_transmit_bytes_total{{device!~"{NET}",{sel}}}[5m]))'),
        }
        got = {
            "memory.total": n["memory"]["total_bytes"], "memory.used": n["memory"]["used_bytes"],
            "memory.percent": n["memory"]["percent"], "disk.total": n["disk"]["total_bytes"], "disk.used": n["disk"]["used_bytes"],
            "cpu.percent": n["cpu"]["percent"], "net.rx": n["network"]["receive_bits_per_second"],
            "net.tx": n["network"]["transmit_bits_per_second"],
        }
        absolute = {"cpu.percent": 5.0, "net.rx": 1e5, "net.tx": 1e5, "disk.used": 1e8}
        # gauges that move (memory in use) are compared with the range Prometheus saw over the window in which
        # vigil's answer may have been taken: scrape instants differ and the overview's answers may be
        # query_cache.ttl (3s here) old
        avail = f"node_memory_MemAvailable_bytes{{{sel}}}"
        lo_avail, hi_avail = pv(f"min_over_time({avail}[8s])"), pv(f"max_over_time({avail}[8s])")
        total = want["memory.total"]
        ranges = {"memory.used": (total - hi_avail, total - lo_avail),
                  "memory.percent": (100 * (total - hi_avail) / total, 100 * (total - lo_avail) / total)}
        for k in want:
            if k in ranges:
                lo, hi = ranges[k]
                check(f"node-metrics {k} within Prometheus' values of the last 8s ±{REL:.0%}",
                      got[k] is not None and lo * (1 - REL) <= got[k] <= hi * (1 + REL), (got[k], lo, hi))
                continue
            check(f"node-metrics {k} = Prometheus within {REL:.0%}", close(got[k], want[k], REL, absolute.get(k, 0)), (got[k], want[k]))
        check("no kubelet: running_pods null", n["running_pods"] is None, n)

        # ---- thresholds → states, flipped by a reload ----
        check("memory 1/99: warning", n["memory"]["state"] == "warning", n["memory"])
        check("disk 99.5/99.9: ok", n["disk"]["state"] == "ok", n["disk"])

        def reload(mem):
            with open(f"{tmp}/vigil.yml", "w") as f:
                f.write(vigil_yaml(tmp, p1, p2, mem))
            st, _, body = request(port, "/-/reload", method="POST", headers={"Authorization": f"Bearer {admin}"})
            return st == 200
        check("reload with memory thresholds below the value", reload((0.001, 0.002)))
        st, body, _ = get(port, "/api/v1/clusters/c1/node-metrics", alice)
        check("memory 0.001/0.002: critical", body["data"]["nodes"][0]["memory"]["state"] == "critical", body)
        check("reload with memory thresholds above the value", reload((99.8, 99.9)))
        st, body, _ = get(port, "/api/v1/clusters/c1/node-metrics", alice)
        node = body["data"]["nodes"][0]
        check("memory 99.8/99.9: ok", node["memory"]["state"] == "ok", body)

        # ---- kube-state-metrics and kubelet series, when a cluster has them ----
        # kube_node_status_condition (by node name) decides readiness over up; kubelet_running_pods (by
        # node name) is the node's pod count. Written by alice's remote_write, so they carry her namespace.
        now_ms = int(time.time() * 1000)
        name = node["name"]
        ksm = [({"__name__": "kube_node_status_condition", "cluster": "c1", "node": name, "condition": "Ready",
                 "status": "true"}, [(now_ms, 0)]),
               ({"__name__": "kubelet_running_pods", "cluster": "c1", "node": name}, [(now_ms, 7)])]
        h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf", "Authorization": f"Bearer {alice}"}
        st, _, wbody = request(port, "/api/v1/write", method="POST", body=snappy(write_request(ksm)), headers=h)
        check("kube-state-metrics and kubelet series written", st == 204, wbody)

        def kube_node():
            b = get(port, "/api/v1/clusters/c1/node-metrics", alice)[1]
            k = b["data"]["nodes"][0] if b and b.get("data", {}).get("nodes") else {}
            return k if k.get("status_source") == "kube_node_status_condition" else None
        k = wait_until(kube_node, 15, 0.5)
        check("readiness from kube_node_status_condition (Ready=false → NotReady) over up, running pods from kubelet",
              k and k["status"] == "NotReady" and k["running_pods"] == 7, k)
        order = {"ok": 0, "warning": 1, "critical": 2}
        worst = max((node[k]["state"] for k in ("cpu", "memory", "disk") if node[k]["state"]), key=order.get)
        st, body, _ = get(port, "/api/v1/clusters", alice)
        check("cluster status = the worst state of its nodes", body["data"]["clusters"][0]["status"] == worst, (body, worst))

        # ---- the alert rules built from the thresholds ----
        st, body, _ = get(port, "/api/v1/rules", admin)
        groups = {g["name"]: g for g in body["data"]["groups"]}
        g = groups.get("vigil-cluster-thresholds")
        check("rule group vigil-cluster-thresholds with 6 alerts", g is not None and len(g["rules"]) == 6, list(groups))
        mem_rule = [r for r in g["rules"] if r["name"] == "ClusterNodeMemoryWarning"] if g else []
        check("the rule follows the reloaded thresholds and the endpoint's expression",
              mem_rule and mem_rule[0]["query"].endswith(">= 99.8 < 99.9") and "node_memory_MemAvailable_bytes" in mem_rule[0]["query"],
              mem_rule)
        st, body, _ = get(port, "/api/v1/rules", alice)
        check("a tenant does not see the operator's group", all(x["name"] != "vigil-cluster-thresholds" for x in body["data"]["groups"]),
              body)

        # ---- metrics: presets ----
        expect = {"10min": (30, 600), "today": (300, None), "7days": (21600, 7 * 86400), "month": (86400, 30 * 86400)}
        for name, (step, length) in expect.items():
            st, body, raw = get(port, "/api/v1/clusters/c1/metrics", alice, time_range=name, metric_type="memory")
            d = body["data"] if st == 200 else {}
            ok = st == 200 and d["step"] == step and d["end"] % step == 0 and list(d["metrics"]) == ["memory"]
            ok = ok and (d["end"] - d["start"] == length if length else d["start"] % 86400 == 0)
            check(f"preset {name}: step {step}s, documented range, aligned end", ok, raw[:300])
        st, body, _ = get(port, "/api/v1/clusters/c1/metrics", alice, time_range="year")
        check("bad time_range → 400", st == 400 and body["errorType"] == "bad_data", body)
        st, body, _ = get(port, "/api/v1/clusters/c1/metrics", alice, metric_type="gpu")
        check("bad metric_type → 400", st == 400, body)
        st, body, _ = get(port, "/api/v1/clusters/c1/metrics", alice, metric_type="network")
        check("metric_type=network: both directions", st == 200 and sorted(body["data"]["metrics"]) == ["network_receive", "network_transmit"], body)

        # ---- metrics: the figures against Prometheus ----
        def metrics_ready():
            st, body, _ = get(port, "/api/v1/clusters/c1/metrics", alice, time_range="10min")
            return body if st == 200 and body["data"]["metrics"]["memory"]["values"] else None
        body = wait_until(metrics_ready, 45, 1)
        check("10min metrics have points", body is not None)
        if body:
            d = body["data"]
            exprs = {
                "cpu": f'100 * (1 - avg(rate(node_cpu_seconds_total{{mode="idle",{sel}}}[5m])))',
                "memory": f"100 * (1 - sum(node_memory_MemAvailable_bytes{{{sel}}}) / sum(node_memory_MemTotal_bytes{{{sel}}}))",
                "disk": f'100 * (1 - sum(node_filesystem_avail_bytes{{mountpoint="/",{sel}}}) / sum(node_filesystem_size_bytes{{mountpoint="/",{sel}}}))',
                "network_receive": f'8 * sum(rate(node_network_receive_bytes_total{{device!~"{NET}",{sel}}}[5m]))',
            }
            for name, expr in exprs.items():
                m = d["metrics"][name]
                _, pb, _ = get(pport, "/api/v1/query_range", query=expr, start=d["start"], end=d["end"], step=d["step"])
                pvals = {int(float(t)): float(v) for t, v in (pb["data"]["result"][0]["values"] if pb["data"]["result"] else [])}
                # memory in use moves between the two servers' scrape instants (builds run beside the
                # test): 3 percentage points, far below what a wrong formula gives
                absol = 5.0 if name == "cpu" else 3.0 if name == "memory" else 1e5 if name.startswith("network") else 0.0
                pts_ok = bool(m["values"]) and all(int(t) in pvals and close(v, pvals[int(t)], REL, absol) for t, v in m["values"])
                check(f"metrics {name}: every point = Prometheus' query_range within {REL:.0%}", pts_ok, (m["values"], pvals))
                r = prom(pport, expr, time.time())
                cur = float(r[0]["value"][1]) if r else None
                if name == "memory":  # a moving gauge: within what Prometheus saw over the last 8s
                    lo = prom(pport, f"min_over_time(({expr})[8s:1s])", time.time())
                    hi = prom(pport, f"max_over_time(({expr})[8s:1s])", time.time())
                    lo, hi = float(lo[0]["value"][1]), float(hi[0]["value"][1])
                    check(f"metrics {name}: current within Prometheus' values of the last 8s ±{REL:.0%}",
                          lo * (1 - REL) <= m["current"] <= hi * (1 + REL), (m["current"], lo, hi))
                else:
                    check(f"metrics {name}: current = Prometheus within {REL:.0%}", close(m["current"], cur, REL, absol),
                          (m["current"], cur))
                avg = sum(v for _, v in m["values"]) / len(m["values"])
                check(f"metrics {name}: average of the range", close(m["average"], avg, 1e-9), (m["average"], avg))
            check("no data before vigil started: previous period empty, change null",
                  d["metrics"]["memory"]["previous_average"] is None and d["metrics"]["memory"]["change"] is None, d["metrics"]["memory"])

        # ---- the cache: hits give identical bodies ----
        def cache_hits(kind):
            _, _, text = request(port, "/metrics")
            for line in text.splitlines():
                if line.startswith(f'vigil_query_cache_hits_total{{kind="{kind}"}}'):
                    return float(line.split()[-1])
            return 0.0
        h0 = cache_hits("result")
        a = get(port, "/api/v1/clusters/c1/node-metrics", alice)[2]
        b = get(port, "/api/v1/clusters/c1/node-metrics", alice)[2]
        check("node-metrics twice within the TTL: identical bodies, from the cache", a == b and cache_hits("result") > h0, (a, b))
        b2 = get(port, "/api/v1/clusters/c2/node-metrics", bob)[2]
        check("another tenant's cluster is not served from alice's entries", '"cluster":"c2"' in b2 and a != b2, b2[:200])

        # ---- query_range partly from the cache = the uncached answer, byte for byte ----
        q = f'rate(node_network_receive_bytes_total{{{sel}}}[5s])'
        step = 2
        end = int(time.time()) // step * step - step  # older than any scrape still in flight
        start = end - 40
        st, _, first = get(port, "/api/v1/query_range", alice, query=q, start=start, end=end, step=step)
        check("query_range (cold) → 200", st == 200, first[:200])
        time.sleep(4)
        e0 = cache_hits("extent")
        start2, end2 = start + 4, end + 4
        st, _, warm = get(port, "/api/v1/query_range", alice, query=q, start=start2, end=end2, step=step)
        check("query_range over an overlapping window reuses the cached extent", st == 200 and cache_hits("extent") > e0, warm[:200])
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(vigil_yaml(tmp, p1, p2, (99.8, 99.9), cache_enabled=False))
        request(port, "/-/reload", method="POST", headers={"Authorization": f"Bearer {admin}"})
        st, _, uncached = get(port, "/api/v1/query_range", alice, query=q, start=start2, end=end2, step=step)
        check("query_range partly from the cache == uncached (byte-identical)", warm == uncached and '"values"' in warm,
              (warm[:400], uncached[:400]))
        st, _, unaligned = get(port, "/api/v1/query_range", alice, query=q, start=start2 + 1, end=end2 + 1, step=step)
        check("unaligned query_range answers (bypasses the cache)", st == 200, unaligned[:200])
        rc = vig.stop()
        with open(vig.log_path) as f:
            log = f.read()
        check("vigil exits cleanly, no sanitizer reports", rc == 0 and "Sanitizer" not in log, log[-2000:])
    finally:
        for p in procs:
            p.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_clusters")


if __name__ == "__main__":
    main()
