#!/usr/bin/env python3
"""remote_read into vigil's own queries, and gateway-mode writes, against a real Prometheus 2.42 and a
real VictoriaMetrics 1.79.

remote_read: a Prometheus holds old data (written through its remote_write receiver with timestamps 4h to
1h ago, carrying the external label site="east"); vigil holds the last hour of one of those series.
Through vigil: a query over the old range answers with Prometheus' data (external label removed), a
query over the recent range with vigil's own and never calls Prometheus (read_recent off), a query over
both ranges merges them with the shared timestamp read once; required_matchers decide which selectors go
to an entry; sample_limit fails a query that reads more; a tenant reads an entry only when it is
tenant_safe, and then only its own series; a remote store that is down fails the query with 503.

Gateway mode (storage.backend: remote) with a remote_write entry to the same engine: a sample written to
vigil (remote_write in), vigil's scrape of itself and a recording rule all come back when queried through
vigil, which reads the engine — for Prometheus and for VictoriaMetrics; the local TSDB's retention
defaults to 6h there. Output is TAP."""
import json
import os
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import post, snappy, write_request  # noqa: E402
from test_remote_write_out import start_vm  # noqa: E402
from test_tenancy import claims, hs256  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]
SECRET = b"0123456789abcdef0123456789abcdef-vigil-test"
MIN = 60_000


def q(port, path, token=None, **params):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    st, _, body = request(port, f"{path}?{urllib.parse.urlencode(params)}", headers=h)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, body


def reads(pport):
    """Remote read requests Prometheus has served."""
    st, _, body = request(pport, "/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/read"' in line)


def vector(r):
    return r[1]["data"]["result"] if r[0] == 200 and isinstance(r[1], dict) else None


def auth_config(tmp):
    return (f"auth:\n  jwt:\n    admin_claim: {{name: role, value: admin}}\n    issuer: https://issuer.test\n"
            f"    audience: vigil\n    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]\n"
            f"tenants:\n  enforce: {{namespace: \"client-{{org_id}}\"}}\n")


def start_vigil(tmp, name, cfg, procs):
    port = free_port()
    with open(f"{tmp}/{name}.yml", "w") as f:
        f.write(cfg)
    procs.append(Proc([VIGIL, "serve", "--config", f"{tmp}/{name}.yml", "--listen", f"127.0.0.1:{port}"], f"{tmp}/{name}.log"))
    return port


def remote_read_part(tmp, prom, procs):
    pport = free_port()
    with open(f"{tmp}/prom.yml", "w") as f:
        f.write("global: {evaluation_interval: 1m}\n")
    procs.append(Proc([prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p",
                       f"--web.listen-address=127.0.0.1:{pport}", "--web.enable-remote-write-receiver"], f"{tmp}/prom.log"))
    if not check("Prometheus starts", wait_http(pport, "/-/ready", timeout=30)):
        return
    now = (int(time.time() * 1000) // MIN) * MIN
    split = now - 60 * MIN            # vigil holds [split, now]; Prometheus [now - 4h, split]
    old = range(now - 240 * MIN, split + 1, MIN)
    east = {"site": "east"}
    series = [
        ({"__name__": "old_metric", "job": "hist", "namespace": "client-alice", **east}, [(t, (t - now) / MIN) for t in old]),
        ({"__name__": "old_metric", "job": "hist", "namespace": "client-bob", **east}, [(t, 7.0) for t in old]),
        ({"__name__": "shared_metric", "job": "both", **east}, [(t, (t - now) / MIN) for t in old]),
        ({"__name__": "tiny_metric", "job": "tiny", **east}, [(t, 1.0) for t in old]),
        ({"__name__": "old_metric", "job": "hist", "namespace": "client-alice", "site": "west"}, [(t, 99.0) for t in old]),
    ]
    st, _, body = post(pport, snappy(write_request(series)))
    check("Prometheus takes the old data (4h to 1h ago) through its remote_write receiver", st == 204, f"{st} {body}")

    with open(f"{tmp}/hs.key", "wb") as f:
        f.write(SECRET)
    purl = f"http://127.0.0.1:{pport}/api/v1/read"
    v1 = start_vigil(tmp, "v1", f"storage: {{path: {tmp}/v1}}\nglobal: {{external_labels: {{site: east}}}}\n" + auth_config(tmp) +
                     f"remote_read:\n  - {{url: '{purl}', name: prom}}\n"
                     f"  - {{url: '{purl}', name: tiny, required_matchers: {{job: tiny}}, sample_limit: 100}}\n", procs)
    v2 = start_vigil(tmp, "v2", f"storage: {{path: {tmp}/v2}}\n" + auth_config(tmp) +
                     f"remote_read:\n  - {{url: '{purl}', required_matchers: {{job: hist}}, tenant_safe: true}}\n", procs)
    dead = free_port()
    v3 = start_vigil(tmp, "v3", f"storage: {{path: {tmp}/v3}}\nauth: {{anonymous: true}}\n"
                     f"remote_read:\n  - {{url: 'http://127.0.0.1:{dead}/api/v1/read', remote_timeout: 2s}}\n", procs)
    if not check("three vigils with remote_read start", all(wait_http(p, "/-/ready", timeout=30) for p in (v1, v2, v3))):
        return
    admin = hs256(claims(sub="ops", role="admin"))
    alice = hs256(claims(org_id="alice"))
    recent = [({"__name__": "shared_metric", "job": "both"}, [(t, (t - now) / MIN) for t in range(split, now + 1, MIN)]),
              ({"__name__": "shared_metric", "job": "both", "namespace": "client-alice"}, [(now, 1.0)])]
    for port in (v1, v2, v3):
        st, _, body = request(port, "/api/v1/write", method="POST", body=snappy(write_request(recent)),
                              headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                                       "X-Prometheus-Remote-Write-Version": "0.1.0", "Authorization": f"Bearer {admin}"})
        check(f"vigil :{port} takes the last hour of shared_metric", st == 204, f"{st} {body}")

    # the old range: Prometheus' data, the external label matched and removed
    r = vector(q(v1, "/api/v1/query", admin, query='old_metric{job="hist"}', time=(now - 120 * MIN) / 1000))
    got = sorted((s["metric"].get("namespace"), s["metric"].get("site"), s["value"][1]) for s in (r or []))
    check("an instant query 2h ago reads Prometheus' series with site=\"east\", that label removed",
          got == [("client-alice", None, "-120"), ("client-bob", None, "7")], r)
    r = q(v1, "/api/v1/query_range", admin, query='old_metric{job="hist",namespace="client-alice"}',
          start=(now - 240 * MIN) / 1000, end=split / 1000, step=600)
    vals = [p[1] for p in r[1]["data"]["result"][0]["values"]] if vector(r) else None
    check("a range query over the old range answers Prometheus' samples",
          vals == [str(float(-240 + 10 * i)).rstrip("0").rstrip(".") for i in range(19)], r)

    # the recent range never leaves vigil
    before = reads(pport)
    r = vector(q(v1, "/api/v1/query", admin, query='shared_metric{job="both",namespace=""}', time=now / 1000))
    check("an instant query now answers vigil's own sample", r and r[0]["value"][1] == "0", r)
    check("…without a remote read request (read_recent off)", reads(pport) == before, f"{before} {reads(pport)}")

    # both ranges merged, the shared timestamp once
    r = vector(q(v1, "/api/v1/query", admin, query='count_over_time(shared_metric{namespace=""}[5h])', time=now / 1000))
    check("count_over_time over 5h counts 241 samples: 180 from Prometheus, 61 from vigil, the one both hold once",
          r and r[0]["value"][1] == "241", r)
    r = vector(q(v1, "/api/v1/query", admin, query='sum_over_time(shared_metric{namespace=""}[5h])', time=now / 1000))
    check("…and their sum is the sum of -240..0", r and float(r[0]["value"][1]) == float(sum(range(-240, 1))), r)
    check("the old range was read remotely", reads(pport) > before)

    # required_matchers
    r = vector(q(v1, "/api/v1/query", admin, query='count_over_time(tiny_metric{job="tiny"}[30m])', time=(now - 120 * MIN) / 1000))
    check("required_matchers {job: tiny}: the entry answers a selector with job=\"tiny\" (31 samples in [t-30m, t])",
          r and r[0]["value"][1] == "31", r)
    st, body = q(v1, "/api/v1/query", admin, query='count_over_time(tiny_metric{job="tiny"}[4h])', time=split / 1000)
    check("sample_limit 100: a query reading 181 samples from the entry fails (422)",
          st == 422 and "sample_limit" in str(body), f"{st} {body}")
    r = vector(q(v2, "/api/v1/query", admin, query="shared_metric", time=(now - 120 * MIN) / 1000))
    check("required_matchers {job: hist}: a selector without it is not sent (nothing old)", r == [], r)
    r = vector(q(v2, "/api/v1/query", admin, query='old_metric{job="hist"}', time=(now - 120 * MIN) / 1000))
    check("…and one with it is (no external labels: every site)", r is not None and len(r) == 3, r)

    # tenancy
    r = vector(q(v1, "/api/v1/query", alice, query='old_metric{job="hist"}', time=(now - 120 * MIN) / 1000))
    check("a tenant does not read an entry that is not tenant_safe", r == [], r)
    r = vector(q(v2, "/api/v1/query", alice, query='old_metric{job="hist"}', time=(now - 120 * MIN) / 1000))
    got = sorted((s["metric"].get("namespace"), s["metric"].get("site")) for s in (r or []))
    check("a tenant reads a tenant_safe entry: its own series only (its matcher was sent)",
          got == [("client-alice", "east"), ("client-alice", "west")], r)
    st, body = q(v2, "/api/v1/query", alice, query='old_metric{namespace="client-bob"}', time=(now - 120 * MIN) / 1000)
    check("…and naming another tenant is still 403", st == 403, f"{st} {body}")
    r = q(v2, "/api/v1/series", alice, **{"match[]": 'old_metric{job="hist"}', "start": (now - 240 * MIN) / 1000,
                                            "end": (now - 90 * MIN) / 1000})
    got = sorted(s.get("namespace") for s in r[1]["data"]) if r[0] == 200 else r
    check("/api/v1/series reads the entry too, scoped", got == ["client-alice", "client-alice"], r)

    # a store that is down
    st, body = q(v3, "/api/v1/query", query="shared_metric", time=(now - 120 * MIN) / 1000)
    check("a remote_read store that is down fails an old query with 503 naming the entry",
          st == 503 and "remote_read" in str(body), f"{st} {body}")
    st, body = q(v3, "/api/v1/query", query="shared_metric", time=now / 1000)
    check("…while a recent one is answered locally", st == 200 and vector((st, body)), f"{st} {body}")


def gateway_part(tmp, name, engine_port, write_path, procs):
    """vigil in gateway mode in front of an engine it also remote_writes to."""
    eurl = f"http://127.0.0.1:{engine_port}"
    vport = free_port()
    cfg = (f"storage: {{path: {tmp}/{name}, backend: remote}}\nauth: {{anonymous: true}}\n"
           f"global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n"
           f"scrape_configs:\n  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{vport}']}}]\n"
           f"rule_files: [{tmp}/{name}-rules.yml]\n"
           f"remote_query: {{url: '{eurl}'}}\n"
           f"remote_write:\n  - url: {eurl}{write_path}\n    queue_config: {{batch_send_deadline: 1s, max_backoff: 1s}}\n")
    with open(f"{tmp}/{name}-rules.yml", "w") as f:
        f.write("groups:\n  - name: g\n    interval: 1s\n    rules:\n      - record: job:up:sum\n"
                "        expr: sum by (job) (up{job=\"self\"})\n")
    with open(f"{tmp}/{name}.yml", "w") as f:
        f.write(cfg)
    procs.append(Proc([VIGIL, "serve", "--config", f"{tmp}/{name}.yml", "--listen", f"127.0.0.1:{vport}"], f"{tmp}/{name}.log"))
    if not check(f"{name}: vigil in gateway mode starts", wait_http(vport, "/-/ready", timeout=30)):
        return
    r = q(vport, "/api/v1/status/runtimeinfo")
    check(f"{name}: the local TSDB's retention defaults to 6h in gateway mode",
          r[0] == 200 and r[1]["data"]["storageRetention"] == "6h", r)
    t = int(time.time() * 1000)
    st, _, body = post(vport, snappy(write_request([({"__name__": "gw_written", "k": "v"}, [(t, 42.5)])])))
    check(f"{name}: vigil takes a remote_write sample", st == 204, f"{st} {body}")

    def has(query, want=None):
        r = vector(q(vport, "/api/v1/query", query=query))
        return r if r and (want is None or r[0]["value"][1] == want) else None
    r = wait_until(lambda: has("gw_written", "42.5"), timeout=30, step=0.5)
    check(f"{name}: the written sample comes back through vigil from the engine", r, r)
    r = wait_until(lambda: has('up{job="self"}', "1"), timeout=30, step=0.5)
    check(f"{name}: vigil's scrape of itself reaches the engine", r, r)
    r = wait_until(lambda: has('job:up:sum{job="self"}', "1"), timeout=30, step=0.5)
    check(f"{name}: a recording rule's samples reach the engine", r, r)
    st, _, body = request(engine_port, "/api/v1/query?query=gw_written")
    check(f"{name}: the engine itself holds the sample", st == 200 and "42.5" in body, body)


def main():
    prom, vm = which("prometheus"), which("victoria-metrics", "victoria-metrics-prod")
    if not prom:
        skip("remote_read and gateway writes", "prometheus not installed")
        finish("integration_remote_read")
    tmp = tempfile.mkdtemp(prefix="vigil-rread-")
    procs = []
    try:
        remote_read_part(tmp, prom, procs)
        gport = free_port()
        procs.append(Proc([prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/pg",
                           f"--web.listen-address=127.0.0.1:{gport}", "--web.enable-remote-write-receiver"], f"{tmp}/promg.log"))
        if check("a second Prometheus (gateway engine) starts", wait_http(gport, "/-/ready", timeout=30)):
            gateway_part(tmp, "gw-prom", gport, "/api/v1/write", procs)
        if vm:
            mport = free_port()
            procs.append(start_vm(vm, tmp, mport))
            if check("VictoriaMetrics starts", wait_http(mport, "/health", timeout=30)):
                gateway_part(tmp, "gw-vm", mport, "/api/v1/write", procs)
        else:
            skip("gateway writes through VictoriaMetrics", "victoria-metrics not installed")
    finally:
        for p in procs:
            p.stop()
        logs = [open(p.log_path, errors="replace").read() for p in procs]
        bad = [t for t in logs if "AddressSanitizer" in t or "runtime error" in t]
        check("no sanitizer report in any process", not bad, "\n".join(t[-2000:] for t in bad))
    finish("integration_remote_read")


if __name__ == "__main__":
    main()
