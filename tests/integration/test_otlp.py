#!/usr/bin/env python3
"""OTLP metrics receiver (POST /api/v1/otlp/v1/metrics) through the real binary. The real
OpenTelemetry JS SDK (tests/otlp_client/send.mjs, both the protobuf exporter with gzip and the JSON
exporter) sends a counter, an up-down counter, observable gauges and counter, and a histogram with
attributes and a resource with service.name/namespace/instance.id; the series stored in vigil must be
the ones Prometheus' OTLP translation rules give (the table below is written from those rules, not from
vigil's code). Then hand-made requests: delta sums and exponential histograms rejected as a partial
success, bad payloads (400 with a google.rpc.Status naming the problem), unsupported media types
(415), a gzip bomb (413), and with tenancy on: the tenant label forced over a forged attribute, another
tenant seeing nothing, 429 with Retry-After past a tenant's ingestion rate. Output is TAP; skips when
node or the npm packages are not available."""
import base64
import gzip
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, which  # noqa: E402

VIGIL = sys.argv[1]
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otlp_client")
SECRET = b"0123456789abcdef0123456789abcdef-otlp-test"
PATH = "/api/v1/otlp/v1/metrics"

# What Prometheus' OTLP translation gives for send.mjs' metrics (names: words of the name, the unit's
# word, _total for monotonic sums, _ratio for gauges of unit 1, {..} units dropped; labels: attribute
# keys with non-alphanumerics as _, values stringified; job = service.namespace/service.name, instance
# = service.instance.id; histograms as cumulative _bucket{le} + _sum + _count).
EXPECTED = [
    ("http_server_requests_total", {"http_method": "GET", "http_status_code": "200", "ok": "true"}, 5),
    ("http_server_requests_total", {"http_method": "POST", "http_status_code": "500", "ok": "false"}, 3),
    ("queue_items", {"queue_name": "orders"}, 5),
    ("process_memory_usage_bytes", {"memory_type": "heap"}, 1234),
    ("cpu_utilization_ratio", {"cpu_load_factor": "1.5"}, 0.25),
    ("system_cpu_time_seconds_total", {"cpu_mode": "user"}, 42.5),
    ("http_server_duration_seconds_bucket", {"http_route": "/api/items", "le": "0.1"}, 1),
    ("http_server_duration_seconds_bucket", {"http_route": "/api/items", "le": "0.5"}, 3),
    ("http_server_duration_seconds_bucket", {"http_route": "/api/items", "le": "1"}, 3),
    ("http_server_duration_seconds_bucket", {"http_route": "/api/items", "le": "+Inf"}, 4),
    ("http_server_duration_seconds_sum", {"http_route": "/api/items"}, 2.65),
    ("http_server_duration_seconds_count", {"http_route": "/api/items"}, 4),
    ("target_info", {"deployment_environment": "test", "host_name": "node-1"}, 1),
]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def token(org):
    return hs256({"exp": int(time.time()) + 3600, "iss": "https://issuer.test", "aud": "vigil", "org_id": org})


def client_ready():
    """node and the SDK packages: installs them with `npm ci` when missing; None or a reason to skip."""
    node, npm = which("node"), which("npm")
    if not node:
        return "node is not installed"
    if os.path.isdir(os.path.join(CLIENT, "node_modules", "@opentelemetry", "sdk-metrics")):
        return None
    if not npm:
        return "npm is not installed and tests/otlp_client/node_modules is missing"
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENT, capture_output=True, text=True, timeout=300)
    if r.returncode:
        return "npm ci failed (no registry?): " + r.stderr.strip().splitlines()[-1:][0] if r.stderr.strip() else "npm ci failed"
    return None


def send(port, protocol, instance, compression="none", tok="", forged=""):
    url = f"http://127.0.0.1:{port}{PATH}"
    return subprocess.run(["node", "send.mjs", url, protocol, instance, compression, tok, forged], cwd=CLIENT,
                          capture_output=True, text=True, timeout=60)


def query(port, q, tok=None):
    h = {"Authorization": f"Bearer {tok}"} if tok else {}
    st, _, body = request(port, "/api/v1/query?" + urllib.parse.urlencode({"query": q}), headers=h)
    return st, json.loads(body)


def series(port, match, tok=None):
    h = {"Authorization": f"Bearer {tok}"} if tok else {}
    st, _, body = request(port, "/api/v1/series?" + urllib.parse.urlencode({"match[]": match}), headers=h)
    return json.loads(body).get("data", [])


def post(port, body, ctype="application/json", encoding=None, tok=None):
    h = {"Content-Type": ctype}
    if encoding:
        h["Content-Encoding"] = encoding
    if tok:
        h["Authorization"] = f"Bearer {tok}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    return request(port, PATH, method="POST", body=body, headers=h)


def otlp_json(metrics, resource=None):
    res = resource or [{"key": "service.name", "value": {"stringValue": "handmade"}}]
    return {"resourceMetrics": [{"resource": {"attributes": res}, "scopeMetrics": [{"scope": {"name": "t"}, "metrics": metrics}]}]}


def gauge(name, value, t_ns, attrs=()):
    return {"name": name, "gauge": {"dataPoints": [{"asDouble": value, "timeUnixNano": str(t_ns),
                                                    "attributes": list(attrs)}]}}


def check_translation(port, instance, label):
    want = {}
    for name, labels, value in EXPECTED:
        ls = dict(labels, __name__=name, job="shop/checkout", instance=instance)
        want[tuple(sorted(ls.items()))] = value
    got = {}
    for s in series(port, f'{{job="shop/checkout",instance="{instance}"}}'):
        got[tuple(sorted(s.items()))] = None
    check(f"{label}: /api/v1/series holds exactly the series the translation rules give", set(got) == set(want),
          f"missing: {sorted(set(want) - set(got))}\nunexpected: {sorted(set(got) - set(want))}")
    st, r = query(port, f'{{job="shop/checkout",instance="{instance}"}}')
    vals = {tuple(sorted(x["metric"].items())): float(x["value"][1]) for x in r.get("data", {}).get("result", [])}
    bad = [(k, vals.get(k), v) for k, v in want.items() if vals.get(k) is None or abs(vals[k] - v) > 1e-9]
    check(f"{label}: /api/v1/query returns the values sent (histogram buckets cumulative, +Inf = count)", st == 200 and not bad,
          f"{st} wrong: {bad[:5]}")


def status_msg(st, hd, body):
    """The message of a google.rpc.Status answer in JSON."""
    try:
        return json.loads(body).get("message", "")
    except ValueError:
        return ""


def plain_server(tmp, procs):
    port = free_port()
    cfg = os.path.join(tmp, "plain.yml")
    with open(cfg, "w") as f:
        f.write(f"storage: {{path: {tmp}/plain}}\nlimits: {{max_otlp_decompressed_size: 64KiB}}\n")
    vig = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}"], os.path.join(tmp, "plain.log"))
    procs.append(vig)
    if not check("vigil starts", wait_http(port, "/-/ready"), vig.output()):
        return
    now = time.time_ns()

    r = send(port, "proto", "pod-proto", "gzip")
    check("the SDK's protobuf exporter (gzip) succeeds", r.returncode == 0, r.stderr + r.stdout)
    r = send(port, "json", "pod-json")
    check("the SDK's JSON exporter succeeds", r.returncode == 0, r.stderr + r.stdout)
    check_translation(port, "pod-proto", "protobuf+gzip")
    check_translation(port, "pod-json", "json")

    # partial success: a delta sum and an exponential histogram are rejected, the gauge beside them kept
    body = otlp_json([
        gauge("hand.temp", 21.5, now, [{"key": "room", "value": {"stringValue": "a"}}]),
        {"name": "hand.delta", "sum": {"aggregationTemporality": 1, "isMonotonic": True,
                                       "dataPoints": [{"asInt": "3", "timeUnixNano": str(now)}]}},
        {"name": "hand.exp", "exponentialHistogram": {"aggregationTemporality": 2,
                                                      "dataPoints": [{"count": "1", "timeUnixNano": str(now)}]}},
    ])
    st, hd, txt = post(port, body)
    ps = json.loads(txt).get("partialSuccess", {}) if st == 200 else {}
    check("delta sum + exponential histogram → 200 with partialSuccess.rejectedDataPoints = 2",
          st == 200 and ps.get("rejectedDataPoints") == "2", (st, txt))
    check("the partial success message names both reasons",
          "delta temporality: 1" in ps.get("errorMessage", "") and "exponential histogram: 1" in ps.get("errorMessage", ""), txt)
    check("the valid gauge of that request is stored", len(series(port, 'hand_temp{room="a",job="handmade"}')) == 1)
    check("nothing is stored for the rejected metrics", not series(port, '{__name__=~"hand_delta.*|hand_exp.*"}'))
    st, _, txt = post(port, otlp_json([gauge("hand.ok", 1, now)]))
    check("a fully accepted JSON request answers 200 with an empty response", st == 200 and json.loads(txt) == {}, (st, txt))

    # a protobuf request that is fully accepted answers an empty ExportMetricsServiceResponse
    st, hd, txt = post(port, b"", ctype="application/x-protobuf")
    check("an empty protobuf request → 200, empty body", st == 200 and txt == "", (st, txt))

    # bad payloads
    st, hd, txt = post(port, b"\x0a\x05\x0a\x03", ctype="application/x-protobuf")
    check("truncated protobuf → 400", st == 400, (st, txt))
    st, hd, txt = post(port, b'{"resourceMetrics": [', ctype="application/json")
    msg = status_msg(st, hd, txt)
    check("bad JSON → 400 with a google.rpc.Status {code 3, message with the offset}",
          st == 400 and json.loads(txt).get("code") == 3 and "offset" in msg, (st, txt))
    st, hd, txt = post(port, otlp_json([{"name": "x", "gauge": {"dataPoints": [{"asInt": "seven"}]}}]))
    check("a bad value → 400 naming its JSON path", st == 400 and "dataPoints[0].asInt" in status_msg(st, hd, txt), (st, txt))
    st, hd, txt = post(port, b"not gzip at all", ctype="application/json", encoding="gzip")
    check("corrupt gzip → 400", st == 400 and "gzip" in status_msg(st, hd, txt), (st, txt))
    st, hd, txt = post(port, b"{}", ctype="text/plain")
    check("an unsupported Content-Type → 415", st == 415, (st, txt))
    st, hd, txt = post(port, b"{}", encoding="br")
    check("an unsupported Content-Encoding → 415", st == 415, (st, txt))
    bomb = gzip.compress(b" " * (4 << 20))
    st, hd, txt = post(port, bomb, encoding="gzip")
    check(f"a gzip bomb ({len(bomb)} bytes → 4 MiB, limit 64 KiB) → 413", st == 413 and "limit" in status_msg(st, hd, txt),
          (st, txt))
    big = json.dumps(otlp_json([gauge("pad", 1, now)], [{"key": "pad", "value": {"stringValue": "x" * 3000}}] * 30)).encode()
    st, hd, txt = post(port, big)
    check("an uncompressed body over the decompressed limit → 413", st == 413, (st, len(big)))


def tenancy_server(tmp, procs):
    port = free_port()
    with open(f"{tmp}/hs.key", "wb") as f:
        f.write(SECRET)
    cfg = os.path.join(tmp, "tenancy.yml")
    with open(cfg, "w") as f:
        f.write(f"""storage: {{path: {tmp}/tenancy}}
auth:
  jwt:
    issuer: https://issuer.test
    audience: vigil
    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]
tenants:
  enforce: {{namespace: "client-{{org_id}}"}}
  overrides:
    slowpush: {{limits: {{ingestion_rate: 10, ingestion_burst: 20}}}}
""")
    vig = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}"], os.path.join(tmp, "tenancy.log"))
    procs.append(vig)
    if not check("vigil with tenancy starts", wait_http(port, "/-/ready"), vig.output()):
        return
    alice, bob = token("alice"), token("bob")
    st, _, txt = post(port, otlp_json([gauge("x", 1, time.time_ns())]))
    check("tenancy on: no token → 401", st == 401, (st, txt))
    r = send(port, "proto", "pod-alice", "gzip", alice, "client-bob")
    check("alice's SDK export (with a forged namespace attribute) succeeds", r.returncode == 0, r.stderr + r.stdout)
    mine = series(port, '{job="shop/checkout"}', alice)
    check("alice's series carry namespace=\"client-alice\", the forged value overwritten",
          len(mine) == len(EXPECTED) and all(s.get("namespace") == "client-alice" for s in mine),
          json.dumps(mine)[:2000])
    check("bob sees none of alice's series", series(port, '{job="shop/checkout"}', bob) == [])
    st, r = query(port, 'sum(http_server_requests_total{instance="pod-alice"})', alice)
    check("alice's counter sums to 8 (two attribute sets)",
          st == 200 and r["data"]["result"] and float(r["data"]["result"][0]["value"][1]) == 8, r)
    slow = token("slowpush")
    pts = [gauge(f"burst.{i}", i, time.time_ns()) for i in range(15)]
    st, hd, txt = post(port, otlp_json(pts), tok=slow)
    check("slowpush: 15 samples within a burst of 20 → 200", st == 200, (st, txt))
    st, hd, txt = post(port, otlp_json(pts), tok=slow)
    check("slowpush: 15 more at once → 429 with Retry-After", st == 429 and int(hd.get("Retry-After", "0")) >= 1, (st, hd, txt))
    pts = [gauge(f"huge.{i}", i, time.time_ns()) for i in range(25)]
    st, hd, txt = post(port, otlp_json(pts), tok=slow)
    check("slowpush: 25 samples, more than the burst → 413", st == 413, (st, txt))


def main():
    why = client_ready()
    if why:
        skip("otlp receiver with the OpenTelemetry JS SDK", why)
        finish("integration_otlp")
    tmp = tempfile.mkdtemp(prefix="vigil-otlp-")
    procs = []
    try:
        plain_server(tmp, procs)
        tenancy_server(tmp, procs)
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_otlp")


if __name__ == "__main__":
    main()
