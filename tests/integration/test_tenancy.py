#!/usr/bin/env python3
"""Tenant isolation through the real binary: JWT-authenticated tenants (HS256 tokens made here with
hmac, RS256 tokens signed by the openssl CLI), remote_write forcing the tenant label, and every
read endpoint that exists answering from the caller's series only (series, labels, label values,
metadata, targets, TSDB status), admin-only endpoints refusing tenants, 401 for bad tokens, 403 for
selectors that try to reach another tenant, 429 with Retry-After past a tenant's request rate, 413
for a write larger than a tenant's ingestion burst, and far-future samples of one tenant refused
without affecting any tenant's later writes, also across a restart. Output is TAP."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import snappy, write_request  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]
SECRET = b"0123456789abcdef0123456789abcdef-vigil-test"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims, kid="k1", secret=SECRET, alg="HS256"):
    head = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def rs256(claims, keyfile, tmp):
    head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "r1"}).encode())
    body = b64(json.dumps(claims).encode())
    msg = os.path.join(tmp, "msg")
    with open(msg, "w") as f:
        f.write(f"{head}.{body}")
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", keyfile, msg], capture_output=True, check=True).stdout
    return f"{head}.{body}.{b64(sig)}"


def claims(**kw):
    c = {"exp": int(time.time()) + 3600, "iss": "https://issuer.test", "aud": "vigil"}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}  # None drops a claim


def get(port, path, token=None, params=(), headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    q = urllib.parse.urlencode(list(params), doseq=True)
    st, hd, body = request(port, f"{path}?{q}" if q else path, headers=h)
    try:
        return st, hd, json.loads(body)
    except ValueError:
        return st, hd, body


def push(port, token, series, metadata=()):
    h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
    return request(port, "/api/v1/write", method="POST", body=snappy(write_request(series, metadata)), headers=h)


class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = "alice_app" if "alice" in self.path else "bob_app"
        body = f"# HELP {name}_requests_total Requests.\n# TYPE {name}_requests_total counter\n{name}_requests_total 1\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def main():
    if not which("openssl"):
        skip("tenancy", "openssl CLI not installed")
        finish("integration_tenancy")
    tmp = tempfile.mkdtemp(prefix="vigil-tenancy-")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    procs = []
    try:
        with open(f"{tmp}/hs.key", "wb") as f:
            f.write(SECRET)
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", f"{tmp}/rsa.pem"],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", f"{tmp}/rsa.pem", "-pubout", "-out", f"{tmp}/rsa.pub"], check=True, capture_output=True)
        port = free_port()
        app = srv.server_address[1]
        cfg = f"""storage: {{path: {tmp}/data}}
auth:
  jwt:
    admin_claim: {{name: role, value: admin}}
    issuer: https://issuer.test
    audience: vigil
    keys:
      - {{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}
      - {{kid: r1, algorithms: [RS256], public_key_file: {tmp}/rsa.pub}}
tenants:
  enforce: {{namespace: "client-{{org_id}}"}}
  overrides:
    bob: {{enforce: {{namespace: [client-bob, client-bob-staging]}}}}
    limited: {{limits: {{request_rate: 1, request_burst: 2}}}}
    slowpush: {{limits: {{ingestion_rate: 10, ingestion_burst: 20}}}}
    small: {{limits: {{max_samples_per_query: 5, max_query_range: 1h}}}}
    capped: {{limits: {{max_series: 5}}}}
    racer: {{limits: {{max_series: 20}}}}
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
query: {{max_bytes: 64MiB}}
scrape_configs:
  - job_name: alice-app
    metrics_path: /alice
    static_configs: [{{targets: ['127.0.0.1:{app}'], labels: {{namespace: client-alice}}}}]
  - job_name: bob-app
    metrics_path: /bob
    static_configs: [{{targets: ['127.0.0.1:{app}'], labels: {{namespace: client-bob}}}}]
"""
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(cfg)
        vig = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{port}"], f"{tmp}/vigil.log")
        procs.append(vig)
        check("vigil starts with auth configured", wait_http(port, "/-/ready"), vig.output())
        alice, bob = hs256(claims(org_id="alice")), hs256(claims(org_id="bob"))
        admin = hs256(claims(role="admin"))
        now = int(time.time() * 1000)

        # authentication
        st, hd, body = get(port, "/api/v1/series", params=[("match[]", "up")])
        check("no token → 401 with WWW-Authenticate", st == 401 and "Bearer" in hd.get("WWW-Authenticate", ""), (st, body))
        alice_tok = hs256(claims(org_id="alice"))
        bad = [("expired", hs256(claims(org_id="alice", exp=int(time.time()) - 3600))),
               ("wrong secret", hs256(claims(org_id="alice"), secret=b"x" * 40)),
               ("alg none", b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(claims(org_id="alice")).encode()) + "."),
               ("unknown kid", hs256(claims(org_id="alice"), kid="k9")),
               ("tenant with a quote", hs256(claims(org_id='a"b'))),
               ("garbage", "not.a.token"),
               ("HS256 signed with the RS256 public key", hs256(claims(org_id="alice"), kid="r1", secret=open(f"{tmp}/rsa.pub", "rb").read())),
               ("kid path trick", hs256(claims(org_id="alice"), kid="../../hs.key")),
               ("not yet valid", hs256(claims(org_id="alice", nbf=int(time.time()) + 3600))),
               ("missing exp", hs256(claims(org_id="alice", exp=None))),
               ("wrong aud", hs256(claims(org_id="alice", aud="other"))),
               ("wrong iss", hs256(claims(org_id="alice", iss="https://evil.test"))),
               ("tampered claim", alice_tok.split(".")[0] + "." + b64(json.dumps(claims(org_id="bob")).encode()) + "." + alice_tok.split(".")[2]),
               ("oversized", hs256(claims(org_id="alice", pad="x" * 20000)))]
        for name, tok in bad:
            st, _, body = get(port, "/api/v1/labels", token=tok)
            check(f"{name} token → 401", st == 401 and body.get("errorType") == "unauthorized", (st, body))
            st, _, body = get(port, "/api/v1/series", token=tok, params=[("match[]", '{__name__=~".+"}')])
            check(f"{name} token → 401 on series too, no data", st == 401 and "data" not in body, (st, body))
        st, _, body = get(port, "/api/v1/labels", headers={"Authorization": "Basic YTpi"})
        check("non-Bearer Authorization → 401", st == 401, body)
        st, _, body = get(port, "/-/healthy")
        check("probes need no token", st == 200)

        # tenant ingestion: the tenant label is forced
        st, _, b = push(port, alice, [({"__name__": "shared_metric", "namespace": "client-bob", "pod": "forged"}, [(now, 1)]),
                                      ({"__name__": "alice_only"}, [(now, 2)])])
        check("alice writes (204)", st == 204, b)
        st, _, b = push(port, bob, [({"__name__": "shared_metric", "namespace": "client-bob-staging", "pod": "b1"}, [(now, 3)]),
                                    ({"__name__": "bob_only", "namespace": "client-bob"}, [(now, 4)])])
        check("bob writes (204)", st == 204, b)
        rsa_tok = rs256(claims(org_id="carol"), f"{tmp}/rsa.pem", tmp)
        st, _, b = push(port, rsa_tok, [({"__name__": "carol_metric"}, [(now, 5)])])
        check("RS256 token (openssl-signed) accepted", st == 204, b)

        st, _, body = get(port, "/api/v1/series", token=admin, params=[("match[]", "shared_metric")])
        got = sorted((s["namespace"], s["pod"]) for s in body["data"])
        check("forged namespace overwritten, allowed one kept", got == [("client-alice", "forged"), ("client-bob-staging", "b1")], body)

        # reads are scoped
        wait_until(lambda: get(port, "/api/v1/targets", token=admin)[2]["data"]["activeTargets"]
                   and all(t["health"] == "up" for t in get(port, "/api/v1/targets", token=admin)[2]["data"]["activeTargets"]), 20)
        st, _, body = get(port, "/api/v1/series", token=alice, params=[("match[]", '{__name__=~".+"}')])
        ns = {s.get("namespace") for s in body["data"]}
        check("alice's {__name__=~\".+\"} returns only her series", st == 200 and ns == {"client-alice"} and len(body["data"]) >= 2, body)
        st, _, body = get(port, "/api/v1/series", token=alice)
        check("series without match[] → the tenant's series", st == 200 and {s.get("namespace") for s in body["data"]} == {"client-alice"}, body)
        st, _, body = get(port, "/federate", token=alice, params=[("match[]", '{__name__=~".+"}')])
        fed = [l for l in body.splitlines() if not l.startswith("#")] if st == 200 else []
        check("federate: alice gets only her series", st == 200 and fed and all('namespace="client-alice"' in l for l in fed), body)
        st, _, body = get(port, "/federate", token=alice, params=[("match[]", 'shared_metric{namespace="client-bob"}')])
        check("federate: a matcher on another namespace → 403", st == 403, (st, body))
        st, _, body = get(port, "/federate", token=alice)
        check("federate without match[] → empty, as Prometheus", st == 200 and body == "", (st, body))
        st, _, body = get(port, "/api/v1/label/__name__/values", token=alice)
        check("metric names: only alice's", st == 200 and "bob_only" not in body["data"] and "carol_metric" not in body["data"]
              and "alice_only" in body["data"], body)
        st, _, body = get(port, "/api/v1/label/namespace/values", token=bob)
        check("bob sees both his namespaces", body["data"] == ["client-bob", "client-bob-staging"], body)
        st, _, body = get(port, "/api/v1/label/pod/values", token=bob)
        check("label values scoped (bob does not see alice's pod)", body["data"] == ["b1"], body)
        st, _, body = get(port, "/api/v1/labels", token=rsa_tok)
        check("label names scoped", st == 200 and "pod" not in body["data"], body)
        for sel in ['shared_metric{namespace="client-bob"}', 'shared_metric{namespace=~"client-.*"}',
                    'shared_metric{namespace!="client-alice"}', 'shared_metric{namespace=""}']:
            st, _, body = get(port, "/api/v1/series", token=alice, params=[("match[]", sel)])
            check(f"alice's {sel} → 403", st == 403 and body["errorType"] == "forbidden" and "namespace" in body["error"], (st, body))
        st, _, body = get(port, "/api/v1/query_exemplars", token=alice, params=[("query", 'shared_metric{namespace="client-bob"}')])
        check("exemplars: a matcher on another namespace → 403", st == 403 and body["errorType"] == "forbidden", (st, body))
        st, _, body = get(port, "/api/v1/query_exemplars", token=alice, params=[("query", "rate(shared_metric[5m])")])
        check("exemplars: a tenant's own query → 200, empty", st == 200 and body["data"] == [], (st, body))
        st, _, body = get(port, "/api/v1/series", token=alice, params=[("match[]", 'shared_metric{namespace="client-alice"}')])
        check("alice's own namespace matcher is accepted", st == 200 and len(body["data"]) == 1, body)
        st, _, body = get(port, "/api/v1/metadata", token=alice)
        check("metadata: only families alice has", st == 200 and "alice_app_requests_total" in body["data"]
              and "bob_app_requests_total" not in body["data"], body)
        # metadata sent with remote_write: the writer's own, never another tenant's
        st, _, b = push(port, alice, [({"__name__": "alice_rw_total"}, [(now, 1)])],
                        [(1, "alice_rw", "Alice's requests.", ""), (2, "alice_private", "Alice only.", "bytes")])
        check("alice writes with metadata (204)", st == 204, b)
        st, _, body = get(port, "/api/v1/metadata", token=alice)
        check("remote_write metadata: alice sees hers",
              st == 200 and body["data"].get("alice_rw") == [{"type": "counter", "help": "Alice's requests.", "unit": ""}]
              and "alice_private" in body["data"], body)
        st, _, body = get(port, "/api/v1/metadata", token=bob)
        check("remote_write metadata: bob does not see alice's", st == 200 and "alice_rw" not in body["data"]
              and "alice_private" not in body["data"], body)
        st, _, body = get(port, "/api/v1/metadata", token=bob, params=[("metric", "alice_private")])
        check("remote_write metadata: bob asking for alice's family by name gets nothing", st == 200 and body["data"] == {}, body)
        st, _, body = get(port, "/api/v1/metadata", token=admin)
        check("remote_write metadata: unscoped readers do not see a tenant's", st == 200 and "alice_private" not in body["data"], body)
        st, _, body = get(port, "/api/v1/targets", token=alice)
        pools = [t["scrapePool"] for t in body["data"]["activeTargets"]]
        check("targets: only alice's", pools == ["alice-app"] and body["data"]["droppedTargets"] == [], body)
        st, _, body = get(port, "/api/v1/targets/metadata", token=alice)
        check("targets/metadata: only alice's targets", st == 200 and body["data"]
              and all(e["target"].get("namespace") == "client-alice" for e in body["data"]), body)
        st, _, body = get(port, "/api/v1/targets/metadata", token=admin)
        check("targets/metadata: the admin sees every target",
              st == 200 and {e["target"].get("namespace") for e in body["data"]} == {"client-alice", "client-bob"}, body)
        st, _, body = get(port, "/api/v1/status/tsdb", token=alice)
        names = [e["name"] for e in body["data"]["seriesCountByMetricName"]]
        check("tsdb status: alice's series only", "bob_only" not in names and "alice_only" in names
              and body["data"]["headStats"]["numSeries"] < get(port, "/api/v1/status/tsdb", token=admin)[2]["data"]["headStats"]["numSeries"],
              body)
        st, _, body = get(port, "/api/v1/status/config", token=alice)
        check("admin endpoint refuses a tenant (403)", st == 403, (st, body))
        st, _, body = get(port, "/api/v1/status/config", token=admin)
        check("admin endpoint serves the admin, secrets masked", st == 200 and "<secret>" not in body["data"]["yaml"]
              and SECRET.decode() not in body["data"]["yaml"], body)
        st, _, body = request(port, "/-/reload", method="POST", headers={"Authorization": f"Bearer {alice}"})[0:3]
        check("tenant cannot reload (403)", st == 403, body)
        st, _, body = get(port, "/api/v1/series", token=admin, params=[("match[]", '{__name__=~".+"}')])
        check("admin sees every tenant", {s.get("namespace") for s in body["data"]} >= {"client-alice", "client-bob", "client-carol"}, body)

        # PromQL: every selector carries the tenant matcher
        def q(tok, expr):
            st, _, body = get(port, "/api/v1/query", token=tok, params=[("query", expr), ("time", str(now / 1000))])
            return st, body
        st, body = q(alice, "sum(shared_metric)")
        check("query: sum over a shared metric counts alice's series only", st == 200 and body["data"]["result"][0]["value"][1] == "1", body)
        st, body = q(alice, 'count({__name__=~".+"})')
        n_alice = int(body["data"]["result"][0]["value"][1]) if st == 200 else -1
        st2, body2 = q(admin, 'count({__name__=~".+"})')
        check("query: count of every series is the tenant's count", st == 200 and 0 < n_alice < int(body2["data"]["result"][0]["value"][1]),
              (body, body2))
        st, body = q(alice, 'shared_metric{namespace="client-bob"} or bob_only')
        check("query: a matcher on another namespace → 403", st == 403 and body["errorType"] == "forbidden", body)
        # format_query: the text as alice wrote it, never the enforced form; refused where a query is
        st, _, body = get(port, "/api/v1/format_query", token=alice, params=[("query", "sum(rate(shared_metric[5m]))by(pod)")])
        check("format_query: a tenant gets its own text formatted, without the enforced matcher",
              st == 200 and body["data"] == "sum by (pod) (rate(shared_metric[5m]))", (st, body))
        st, _, body = get(port, "/api/v1/format_query", token=alice, params=[("query", 'shared_metric{namespace="client-bob"}')])
        check("format_query: a matcher on another namespace → 403 as for a query", st == 403 and body["errorType"] == "forbidden", (st, body))
        st, _, body = get(port, "/api/v1/format_query", token=alice, params=[("query", 'shared_metric{namespace="client-alice"}')])
        check("format_query: alice's own namespace matcher is kept as written",
              st == 200 and body["data"] == 'shared_metric{namespace="client-alice"}', (st, body))
        st, _, body = get(port, "/api/v1/format_query", params=[("query", "up")])
        check("format_query needs a token (401)", st == 401, (st, body))
        st, _, body = get(port, "/api/v1/status/walreplay", token=alice)
        check("status/walreplay: a tenant sees the server's finished replay",
              st == 200 and set(body["data"]) == {"min", "max", "current"} and body["data"]["current"] == body["data"]["max"], (st, body))
        st, _, body = get(port, "/api/v1/query", token=alice, params=[("query", "shared_metric"), ("time", str(now / 1000)), ("stats", "all")])
        check("query stats=all for a tenant counts its own samples only",
              st == 200 and body["data"]["stats"]["samples"]["totalQueryableSamples"] == 1, (st, body))
        st_a, body_a = q(alice, "absent(bob_only)")
        st_b, body_b = q(alice, "absent(no_such_metric_anywhere)")
        check("query: absent() answers the same whether another tenant has the series", st_a == 200
              and [r["value"][1] for r in body_a["data"]["result"]] == ["1"] == [r["value"][1] for r in body_b["data"]["result"]],
              (body_a, body_b))
        check("query: absent() of a missing metric has no labels, as the tenant's own Prometheus answers",
              st_b == 200 and [r["metric"] for r in body_b["data"]["result"]] == [{}], body_b)
        st, body = q(alice, 'absent(no_such_metric_anywhere{namespace="client-alice", job="x"})')
        check("query: absent() keeps the equality matchers the tenant wrote, its namespace one too",
              st == 200 and [r["metric"] for r in body["data"]["result"]] == [{"namespace": "client-alice", "job": "x"}], body)
        st, body = q(alice, "absent_over_time(no_such_metric_anywhere[5m])")
        check("query: absent_over_time() of a missing metric has no labels",
              st == 200 and [r["metric"] for r in body["data"]["result"]] == [{}], body)
        # query.max_bytes (64MiB here): label values doubled 40 times would need a TiB
        nested = 'label_replace(vector(1), "v", "ab", "", "")'
        for _ in range(40):
            nested = f'label_replace({nested}, "v", "$1$1", "v", "(.*)")'
        t0 = time.time()
        st, body = q(alice, nested)
        took = time.time() - t0
        with open(f"/proc/{vig.p.pid}/status") as f:
            hwm_kb = int(next(line.split()[1] for line in f if line.startswith("VmHWM:")))
        check("query: label values grown past query.max_bytes → 422 execution, fast, memory bounded",
              st == 422 and body.get("errorType") == "execution" and "query.max_bytes" in body.get("error", "")
              and took < 30 and hwm_kb < 1024 * 1024, (st, body, took, hwm_kb))
        st, body = q(alice, "(" * 300 + "1" + ")" * 300)
        check("query: nesting past the parser's depth limit → 400 bad_data", st == 400 and body.get("errorType") == "bad_data"
              and "nested deeper" in body.get("error", ""), (st, body))
        st, body = q(alice, "alice_only offset -9223372036854775s")
        check("query: an offset past Go's duration range → 400 duration out of range", st == 400
              and body.get("errorType") == "bad_data" and "duration out of range" in body.get("error", ""), (st, body))
        st, body = q(alice, "rate(alice_only[5m] @ -9223372036854775.808)")
        check("query: @ at the int64 minimum → 200, empty", st == 200 and body["data"]["result"] == [], (st, body))
        st, body = q(alice, 'label_replace(alice_only, "namespace", "client-bob", "", "")')
        check("query: label_replace can relabel alice's data, not fetch bob's", st == 200 and len(body["data"]["result"]) == 1
              and body["data"]["result"][0]["value"][1] == "2", body)
        st, body = q(alice, "sum(bob_only) or vector(0)")
        check("query: bob's metric is invisible (falls back to 0)", st == 200 and body["data"]["result"][0]["value"][1] == "0", body)
        h = {"Authorization": f"Bearer {alice}", "Content-Type": "application/json"}
        st, _, body = request(port, "/api/v1/metrics/query", method="POST", headers=h,
                              body=json.dumps({"query": "shared_metric", "time": now / 1000}).encode())
        body = json.loads(body)
        check("tenant metrics API: query with the namespace filter applied", st == 200
              and [r["metric"]["namespace"] for r in body["data"]["result"]] == ["client-alice"], body)
        st, _, body = request(port, "/api/v1/metrics/query_range", method="POST", headers=h,
                              body=json.dumps({"query": "count(shared_metric)",
                                               "start": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1000 - 60)) + ".%03dZ" % (now % 1000),
                                               "end": now / 1000 + 60, "step": "30s"}).encode())
        body = json.loads(body)
        check("tenant metrics API: query_range with RFC 3339 and unix times", st == 200 and body["data"]["resultType"] == "matrix"
              and all(v[1] == "1" for v in body["data"]["result"][0]["values"]), body)
        st, _, body = request(port, "/api/v1/metrics/query", method="POST", headers=h, body=b'{"time": 1}')
        check("tenant metrics API: a body without query → 400", st == 400, body)

        st, _, body = get(port, "/api/v1/tenants/self", token=bob)
        d = body.get("data", {})
        check("tenants/self: identity, enforced matcher, limits, active series", st == 200 and d["tenant"] == "bob"
              and d["enforced"] == {"label": "namespace", "values": ["client-bob", "client-bob-staging"]}
              and d["usage"]["active_series"] >= 3 and "max_query_range" in d["limits"], body)
        audit = [json.loads(l) for l in vig.output().splitlines() if '"logger":"audit"' in l]
        qa = [a for a in audit if a.get("endpoint") == "/api/v1/query" and a.get("tenant") == "alice"]
        check("audit log: tenant, subject, endpoint, the rewritten query, status, duration",
              qa and all({"tenant", "subject", "endpoint", "query", "status", "duration_s"} <= set(a) for a in qa)
              and any('namespace="client-alice"' in a["query"] for a in qa), qa[:2])
        check("audit log never holds a token", alice not in vig.output() and SECRET.decode() not in vig.output())

        small = hs256(claims(org_id="small"))
        push(port, small, [({"__name__": "sm", "i": str(i)}, [(now - k * 1000, k) for k in range(10, 0, -1)]) for i in range(3)])
        st, body = q(small, "sm")
        check("samples per query: within the tenant's limit", st == 200 and len(body["data"]["result"]) == 3, body)
        st, body = q(small, "count_over_time(sm[1m])")
        check("samples per query: past it → 422 too many samples", st == 422 and "too many samples" in body["error"], body)
        st, _, body = get(port, "/api/v1/query_range", token=small, params=[("query", "sm"), ("start", str(now / 1000 - 7200)),
                                                                              ("end", str(now / 1000)), ("step", "60")])
        check("max query range: a 2 h range for a 1 h limit → 422", st == 422 and "time range" in body["error"], body)

        # parameter pollution is refused for tenants
        st, _, body = get(port, "/api/v1/query", token=alice, params=[("query", "alice_only"), ("query", "bob_only")])
        check("pollution: a duplicate query= → 400", st == 400 and "more than once" in body["error"], body)
        st, _, body = request(port, "/api/v1/series?match[]=alice_only", method="POST", body=b"match[]=shared_metric",
                              headers={"Authorization": f"Bearer {alice}", "Content-Type": "application/x-www-form-urlencoded"})
        check("pollution: match[] in URL and body → 400", st == 400 and "both" in body, body)

        # two Authorization headers
        h = f"GET /api/v1/labels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\nAuthorization: Bearer {bob}\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(h.encode())
            resp = s.recv(4096).decode(errors="replace")
        check("two Authorization headers → 401", resp.startswith("HTTP/1.1 401"), resp[:200])

        # rate limit of a tenant with an override
        limited = hs256(claims(org_id="limited"))
        codes = [get(port, "/api/v1/labels", token=limited) for _ in range(4)]
        last = codes[-1]
        check("past its burst a tenant gets 429 with Retry-After", [c[0] for c in codes[:2]] == [200, 200] and last[0] == 429
              and int(last[1].get("Retry-After", "0")) >= 1 and last[2]["errorType"] == "too_many_requests", [c[0] for c in codes])
        check("another tenant is not limited by it", get(port, "/api/v1/labels", token=alice)[0] == 200)
        slow = hs256(claims(org_id="slowpush"))
        st1, _, _ = push(port, slow, [({"__name__": "s", "i": str(i)}, [(now, 1)]) for i in range(15)])
        st2, h2, b2 = push(port, slow, [({"__name__": "s", "i": str(i)}, [(now + 1000, 1)]) for i in range(15)])
        check("ingestion rate: within the burst 204, past it 429 with Retry-After, nothing of it stored",
              st1 == 204 and st2 == 429 and int(h2.get("Retry-After", "0")) >= 1 and "ingestion rate" in b2
              and get(port, "/api/v1/series", token=admin, params=[("match[]", "s")])[2]["data"].__len__() == 15, (st1, st2, b2))
        st3, h3, b3 = push(port, slow, [({"__name__": "s", "i": str(i)}, [(now + 2000, 1)]) for i in range(25)])
        check("ingestion rate: a batch larger than the burst (25 > 20) → 413 saying so, without Retry-After",
              st3 == 413 and "exceeds the tenant's ingestion burst of 20" in b3 and "Retry-After" not in h3, (st3, h3, b3))

        # the series limit: new series past it are refused, everything else of the request is kept
        capped = hs256(claims(org_id="capped"))
        st, _, body = push(port, capped, [({"__name__": "cap", "i": str(i)}, [(now - 2000, 1)]) for i in range(3)])
        check("series limit: 3 new series under a limit of 5 → 204", st == 204, body)
        st, _, body = push(port, capped, [({"__name__": "cap", "i": str(i)}, [(now - 1000, 2)]) for i in range(7)])
        check("series limit: 4 new series with 2 places left → 400 naming the limit",
              st == 400 and "series limit of 5" in body and "2 new series refused" in body, body)
        st, _, body = get(port, "/api/v1/query", token=capped, params=[("query", "cap"), ("time", str(now / 1000 - 1))])
        vals = sorted((r["metric"]["i"], r["value"][1]) for r in body["data"]["result"])
        check("series limit: existing series got their samples, 2 new ones were created, 2 refused",
              vals == [("0", "2"), ("1", "2"), ("2", "2"), ("3", "2"), ("4", "2")], vals)
        st, _, body = push(port, capped, [({"__name__": "cap", "i": str(i)}, [(now, 3)]) for i in range(5)])
        check("series limit: at the limit, samples of existing series → 204", st == 204, body)
        st, _, body = push(port, alice, [({"__name__": "alice_more", "i": str(i)}, [(now, 1)]) for i in range(10)])
        check("series limit: another tenant is not affected", st == 204, body)
        st, _, body = get(port, "/api/v1/query", token=capped, params=[("query", "count(cap)"), ("time", str(now / 1000))])
        st, _, self_ = get(port, "/api/v1/tenants/self", token=capped)
        u = self_["data"]["usage"]
        check("tenants/self usage: active series, samples ingested, refused series, ingestion rate",
              u["active_series"] == 5 and u["samples_ingested_total"] == 3 + 5 + 5 and u["series_refused_total"] == 2
              and abs(u["ingestion_rate"] - 13 / 60) < 1e-9, u)
        check("tenants/self usage: queries counted (2 so far), none running, rate over the last minute",
              u["queries_total"] == 2 and u["queries_running"] == 0 and abs(u["query_rate"] - 2 / 60) < 1e-9, u)
        # concurrent writers of one tenant cannot overshoot its limit together
        racer = hs256(claims(org_id="racer"))
        results = []

        def race(k):
            results.append(push(port, racer, [({"__name__": "race", "w": str(k), "i": str(i)}, [(now, 1)]) for i in range(8)])[0])
        threads = [threading.Thread(target=race, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        st, _, body = get(port, "/api/v1/query", token=racer, params=[("query", "count(race)"), ("time", str(now / 1000))])
        check("series limit: 6 concurrent writers of 8 new series each, limit 20 → exactly 20 series",
              body["data"]["result"][0]["value"][1] == "20" and sorted(results).count(400) >= 3, (body, results))

        # a reload never turns authentication off by omission
        def reload_ok_metric():
            m = [l for l in request(port, "/metrics")[2].splitlines() if l.startswith("vigil_config_last_reload_successful")]
            return m[0].split()[-1] if m else None
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write("")
        st, _, body = request(port, "/-/reload", method="POST", headers={"Authorization": f"Bearer {admin}"})
        check("reload with an empty file is refused (500, names auth.anonymous)", st == 500 and "auth.anonymous: true" in body, (st, body))
        st, _, body = get(port, "/api/v1/series", params=[("match[]", '{__name__=~".+"}')])
        check("after the refused reload anonymous requests are still 401", st == 401 and "data" not in body, (st, body))
        check("refused reload reported: vigil_config_last_reload_successful 0", reload_ok_metric() == "0", reload_ok_metric())
        logs = [json.loads(l) for l in vig.output().splitlines() if l.startswith("{")]
        check("refused reload logged at warn with the reason", any(e.get("level") == "warn" and "refused" in e.get("msg", "")
                                                                 and "auth.anonymous" in e.get("err", "") for e in logs), logs[-5:])
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(f"storage: {{path: {tmp}/data}}\nauth: {{anonymous: true}}\n")
        st, _, body = request(port, "/-/reload", method="POST", headers={"Authorization": f"Bearer {admin}"})
        check("reload with auth.anonymous: true is accepted", st == 200 and reload_ok_metric() == "1", (st, body))
        logs = [json.loads(l) for l in vig.output().splitlines() if l.startswith("{")]
        check("turning authentication off is logged at warn", any(e.get("level") == "warn" and "authentication off" in e.get("msg", "")
                                                                  for e in logs), logs[-5:])
        st, _, body = get(port, "/api/v1/series", params=[("match[]", "alice_only")])
        check("auth off: anonymous reads are served", st == 200 and len(body["data"]) == 1, (st, body))
        for name, h in [("Basic", "Basic dXNlcjpwYXNz"), ("Bearer", "Bearer upstream-proxy-token")]:
            st, _, body = get(port, "/api/v1/series", params=[("match[]", "alice_only")], headers={"Authorization": h})
            check(f"auth off: {name} credentials are ignored (200)", st == 200 and len(body["data"]) == 1, (st, body))
        prom_bin = which("prometheus")
        if prom_bin:
            # a real Prometheus remote-writing with basic_auth, as it would to a Prometheus without auth
            pport = free_port()
            with open(f"{tmp}/prom.yml", "w") as f:
                f.write(f"""global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: prom-self
    static_configs: [{{targets: ['127.0.0.1:{pport}']}}]
remote_write:
  - url: http://127.0.0.1:{port}/api/v1/write
    basic_auth: {{username: prom, password: secret}}
    queue_config: {{batch_send_deadline: 1s}}
""")
            prom = Proc([prom_bin, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/pdata",
                         f"--web.listen-address=127.0.0.1:{pport}"], f"{tmp}/prom.log")
            procs.append(prom)
            got = wait_until(lambda: get(port, "/api/v1/series", params=[("match[]", 'up{job="prom-self"}')])[2].get("data"), 30)
            check("auth off: Prometheus remote_write with basic_auth is accepted", got, prom.output()[-2000:])
        else:
            skip("auth off: Prometheus remote_write with basic_auth", "prometheus not installed")
        check("vigil survives", vig.alive(), vig.output()[-2000:])

        # a far-future timestamp is refused sample by sample and moves nothing: before limits.max_future,
        # one sample at 2^62 ms became the head's max time and every later current write of every tenant
        # was "out of bounds", also after a restart
        far = 1 << 62
        st, _, body = push(port, alice, [({"__name__": "future_metric"}, [(far, 1)])])
        check("far future: alice's sample at t=2^62 ms → 400 saying it is too far in the future, naming the series",
              st == 400 and "too far in the future" in body and "future_metric" in body and "bad_data" in body, (st, body))
        t = int(time.time() * 1000)
        st, _, body = push(port, alice, [({"__name__": "future_mix"}, [(t, 1), (far, 2)])])
        check("far future: in a mixed request the current sample is kept, the far one dropped (400)",
              st == 400 and "1 of 2 samples dropped" in body, (st, body))
        st, _, body = push(port, bob, [({"__name__": "bob_now"}, [(int(time.time() * 1000), 1)])])
        check("far future: bob's current-time write still 204", st == 204, body)
        st, _, body = get(port, "/api/v1/status/tsdb", token=admin)
        check("far future: the head's max time stays near the present",
              st == 200 and body["data"]["headStats"]["maxTime"] < time.time() * 1000 + 600000, body.get("data", {}).get("headStats"))
        st, _, body = get(port, "/api/v1/query", token=alice, params=[("query", "future_mix"), ("time", str(t / 1000))])
        check("far future: the kept sample is queryable", st == 200 and [r["value"][1] for r in body["data"]["result"]] == ["1"], body)
        vig.stop()
        port = free_port()
        vig = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{port}"], f"{tmp}/vigil-restart.log")
        procs.append(vig)
        check("far future: vigil restarts on the same data", wait_http(port, "/-/ready"), vig.output())
        st, _, body = push(port, bob, [({"__name__": "bob_now"}, [(int(time.time() * 1000), 2)])])
        check("far future: after the restart bob's current-time write is 204", st == 204, body)
        st, _, body = push(port, alice, [({"__name__": "alice_after_restart"}, [(int(time.time() * 1000), 1)])])
        check("far future: after the restart alice's current-time write is 204", st == 204, body)
        check("vigil survives the restart", vig.alive(), vig.output()[-2000:])
    finally:
        srv.shutdown()
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_tenancy")


if __name__ == "__main__":
    main()
