#!/usr/bin/env python3
"""vigil as a gateway (storage.backend: remote) in front of a real Prometheus and a real VictoriaMetrics
holding three tenants' series (scraped with namespace=client-alice / client-bob / client-carol), and
POST /api/v1/read served to a real Prometheus (remote_read with read_recent).

For alice, every read endpoint through vigil answers exactly what the engine answers for the query with
her matcher added (query, query_range, series, labels, label values, metadata, federate); selectors naming
bob's namespace are 403; nothing of bob's or carol's appears in any answer; the tenant bypass corpus
(tests/promql/bypass.txt) leaks nothing; the engine receives X-Scope-OrgID with the caller's tenant and the
configured credentials, never the caller's token. Remote read: Prometheus answers over vigil's data as vigil
does, in both response types (streamed chunks checked frame by frame: sizes, CRC32C, chunk headers).
The gateway overhead (median latency of 200 runs per query, through vigil and directly) is printed as TAP
comments. Output is TAP."""
import http.server
import json
import os
import re
import statistics
import struct
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import snappy, write_request  # noqa: E402
from test_tenancy import claims, hs256  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]
SECRET = b"0123456789abcdef0123456789abcdef-vigil-test"
ROOT = os.environ.get("VIGIL_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
TENANTS = ("alice", "bob", "carol")
FOREIGN = ("client-bob", "client-carol", "bob_only", "carol_only")


class Target(http.server.BaseHTTPRequestHandler):
    """/alice, /bob, /carol: a shared family and one of the tenant's own, with HELP and TYPE."""

    def do_GET(self):
        t = self.path.strip("/")
        body = (f"# HELP app_requests_total Requests served.\n# TYPE app_requests_total counter\n"
                f'app_requests_total{{code="200"}} {len(t) * 10}\napp_requests_total{{code="500"}} {len(t)}\n'
                f"# HELP {t}_only_gauge Something only {t} has.\n# TYPE {t}_only_gauge gauge\n{t}_only_gauge 42\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *a):
        pass


class Recorder(http.server.BaseHTTPRequestHandler):
    """A fake engine that records the headers of every request and answers an empty vector."""
    seen = []

    def answer(self):
        Recorder.seen.append(dict(self.headers))
        body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.answer()

    def log_message(self, *a):
        pass


def serve(handler):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def get(port, path, token=None, params=(), raw=False):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    q = urllib.parse.urlencode(list(params), doseq=True)
    st, _, body = request(port, f"{path}?{q}" if q else path, headers=h)
    if raw:
        return st, body
    try:
        return st, json.loads(body)
    except ValueError:
        return st, body


def norm(line):
    """A federate line with its labels in name order (engines differ in the order they print)."""
    head, rest = line.split("{", 1) if "{" in line else (line.split(" ", 1)[0], "} " + line.split(" ", 1)[1])
    labels, tail = rest.rsplit("}", 1)
    return head, tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))), tail.split()


def leaks(text, query=""):
    return [f for f in FOREIGN if f in text and f not in query]


def scrape_config(target_port):
    jobs = "".join(f"  - job_name: {t}-app\n    metrics_path: /{t}\n"
                   f"    static_configs: [{{targets: ['127.0.0.1:{target_port}'], labels: {{namespace: client-{t}}}}}]\n"
                   for t in TENANTS)
    return f"global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n{jobs}"


def vigil_config(tmp, name, engine_url, extra=""):
    return (f"storage: {{path: {tmp}/{name}, backend: remote}}\n"
            f"remote_query: {{url: '{engine_url}', tenant_header: X-Scope-OrgID, unscoped_tenant: anonymous{extra}}}\n"
            f"auth:\n  jwt:\n    admin_claim: {{name: role, value: admin}}\n    issuer: https://issuer.test\n    audience: vigil\n"
            f"    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]\n"
            f"tenants:\n  enforce: {{namespace: \"client-{{org_id}}\"}}\n")


def start_vigil(tmp, name, cfg, procs):
    port = free_port()
    with open(f"{tmp}/{name}.yml", "w") as f:
        f.write(cfg)
    v = Proc([VIGIL, "serve", "--config", f"{tmp}/{name}.yml", "--listen", f"127.0.0.1:{port}"], f"{tmp}/{name}.log")
    procs.append(v)
    return port, v


def corpus():
    out = []
    for line in open(os.path.join(ROOT, "tests", "promql", "bypass.txt")):
        if line.startswith("ok: ") or line.startswith("reject: "):
            out.append(line.split(": ", 1)[1].rstrip("\n").replace("<NL>", "\n"))
    return out


def compare_engine(label, vport, eport, tok, has_metadata=True):
    """alice through vigil vs the engine asked directly with her matcher written in."""
    A = 'namespace="client-alice"'
    t = time.time() - 3
    for q, eq in [("app_requests_total", f"app_requests_total{{{A}}}"),
                  ("sum by (code) (app_requests_total)", f"sum by (code) (app_requests_total{{{A}}})"),
                  ("count({__name__=~\".+\"})", f"count({{__name__=~\".+\",{A}}})"),
                  ("rate(app_requests_total[10s]) * 0 + 1", f"rate(app_requests_total{{{A}}}[10s]) * 0 + 1"),
                  ("scalar(sum(alice_only_gauge))", f"scalar(sum(alice_only_gauge{{{A}}}))"),
                  ('"text"', '"text"')]:
        st, got = get(vport, "/api/v1/query", tok, [("query", q), ("time", f"{t:.3f}")])
        est, want = get(eport, "/api/v1/query", None, [("query", eq), ("time", f"{t:.3f}")])
        check(f"{label}: query {q} answers as the engine does", st == est == 200 and got == want, f"{st} {got}\n{est} {want}")
    for q, eq in [("app_requests_total", f"app_requests_total{{{A}}}"), ("up", f"up{{{A}}}")]:
        params = [("start", f"{t - 20:.3f}"), ("end", f"{t:.3f}"), ("step", "2")]
        st, got = get(vport, "/api/v1/query_range", tok, [("query", q)] + params)
        est, want = get(eport, "/api/v1/query_range", None, [("query", eq)] + params)
        check(f"{label}: query_range {q} answers as the engine does", st == est == 200 and got == want and got["data"]["result"],
              f"{st} {got}\n{est} {want}")
    rng = [("start", f"{t - 60:.3f}"), ("end", f"{t:.3f}")]
    st, got = get(vport, "/api/v1/series", tok, [("match[]", "app_requests_total")] + rng)
    est, want = get(eport, "/api/v1/series", None, [("match[]", f"app_requests_total{{{A}}}")] + rng)
    key = lambda s: sorted(s.items())  # noqa: E731
    check(f"{label}: series as the engine's", st == 200 and sorted(got["data"], key=key) == sorted(want["data"], key=key)
          and len(got["data"]) == 2, f"{got}\n{want}")
    st, got = get(vport, "/api/v1/labels", tok, rng)
    est, want = get(eport, "/api/v1/labels", None, [("match[]", f'{{__name__=~".+",{A}}}')] + rng)
    check(f"{label}: label names as the engine's", st == 200 and got["data"] == want["data"], f"{got}\n{want}")
    st, got = get(vport, "/api/v1/label/__name__/values", tok, rng)
    est, want = get(eport, "/api/v1/label/__name__/values", None, [("match[]", f'{{__name__=~".+",{A}}}')] + rng)
    check(f"{label}: label values as the engine's", st == 200 and got["data"] == want["data"] and "alice_only_gauge" in got["data"],
          f"{got}\n{want}")
    if has_metadata:
        st, got = get(vport, "/api/v1/metadata", tok)
        est, want = get(eport, "/api/v1/metadata")
        names = set(get(eport, "/api/v1/label/__name__/values", None, [("match[]", f'{{__name__=~".+",{A}}}')])[1]["data"])
        want = {k: v for k, v in want["data"].items() if k in names}
        check(f"{label}: metadata as the engine's for her metrics", st == 200 and got["data"] == want
              and "alice_only_gauge" in got["data"], f"{got}\n{want}")

    def same_federate():
        st, got = get(vport, "/federate", tok, [("match[]", "app_requests_total"), ("match[]", "alice_only_gauge")], raw=True)
        _, want = get(eport, "/federate", None, [("match[]", f"app_requests_total{{{A}}}"), ("match[]", f"alice_only_gauge{{{A}}}")],
                      raw=True)
        lines = lambda b: sorted(norm(line) for line in b.splitlines() if line and not line.startswith("#"))  # noqa: E731
        return (st == 200 and lines(got) == lines(want) and len(lines(got)) == 3, f"{got}\n{want}")
    ok = wait_until(lambda: same_federate()[0], timeout=10, step=0.3)
    check(f"{label}: federate as the engine's", ok, same_federate()[1])


def isolation(label, vport, tok):
    bob = 'namespace="client-bob"'
    for path, params in [("/api/v1/query", [("query", f"app_requests_total{{{bob}}}")]),
                         ("/api/v1/query", [("query", f'sum(rate({{__name__=~".+",{bob}}}[1m]))')]),
                         ("/api/v1/query_range", [("query", f"up{{{bob}}}"), ("start", "1"), ("end", "100"), ("step", "10")]),
                         ("/api/v1/series", [("match[]", f"up{{{bob}}}")]),
                         ("/api/v1/labels", [("match[]", f"up{{{bob}}}")]),
                         ("/api/v1/label/job/values", [("match[]", f"up{{{bob}}}")]),
                         ("/api/v1/query_exemplars", [("query", f"up{{{bob}}}")]),
                         ("/federate", [("match[]", f"up{{{bob}}}")])]:
        st, body = get(vport, path, tok, params, raw=True)
        check(f"{label}: {path} naming bob's namespace is 403", st == 403, f"{st} {body[:300]}")
    bodies = []
    for path, params in [("/api/v1/query", [("query", '{__name__=~".+"}')]), ("/api/v1/query", [("query", "count by (namespace) (up)")]),
                         ("/api/v1/query_range", [("query", "up"), ("start", f"{time.time() - 30:.0f}"), ("end", f"{time.time():.0f}"), ("step", "5")]),
                         ("/api/v1/series", [("match[]", '{__name__=~".+"}')]), ("/api/v1/labels", []),
                         ("/api/v1/label/namespace/values", []), ("/api/v1/label/__name__/values", []), ("/api/v1/label/job/values", []),
                         ("/api/v1/metadata", []), ("/federate", [("match[]", '{__name__=~".+"}')])]:
        st, body = get(vport, path, tok, params, raw=True)
        bodies.append((path, st, body))
    bad = [(p, st, leaks(b)) for p, st, b in bodies if st != 200 or leaks(b)]
    check(f"{label}: nothing of bob's or carol's in any endpoint", not bad, bad)
    check(f"{label}: alice's own series are there", "client-alice" in bodies[0][2] and "alice_only_gauge" in bodies[3][2], bodies[0][2][:300])


def bypass(label, vport, tok):
    bad, statuses = [], {}
    for q in corpus():
        st, body = get(vport, "/api/v1/query", tok, [("query", q)], raw=True)
        statuses[st] = statuses.get(st, 0) + 1
        if st not in (200, 400, 403, 422) or leaks(body, q):
            bad.append((q, st, body[:200]))
    check(f"{label}: the bypass corpus leaks nothing ({statuses})", not bad and statuses.get(200), bad[:5])


def tenant_header(tmp, procs, tok):
    rec = serve(Recorder)
    cfg = vigil_config(tmp, "vrec", f"http://127.0.0.1:{rec.server_address[1]}/prometheus/",
                       ", timeout: 5s, headers: {X-Extra: yes}, authorization: {credentials: engine-secret}")
    port, v = start_vigil(tmp, "vrec", cfg, procs)
    check("gateway to a recording engine starts", wait_http(port, "/-/ready"), v.output()[-2000:])
    Recorder.seen.clear()
    st, _ = get(port, "/api/v1/query", tok, [("query", "up")])
    seen = Recorder.seen[-1] if Recorder.seen else {}
    check("the engine gets X-Scope-OrgID of the caller", st == 200 and seen.get("X-Scope-OrgID") == "alice", seen)
    check("the engine gets the configured credentials, never the caller's token",
          seen.get("Authorization") == "Bearer engine-secret" and tok not in json.dumps(seen) and seen.get("X-Extra") == "yes", seen)
    admin = hs256(claims(role="admin", sub="ops"))
    get(port, "/api/v1/query", admin, [("query", "up")])
    check("an unscoped caller is named by unscoped_tenant", Recorder.seen and Recorder.seen[-1].get("X-Scope-OrgID") == "anonymous",
          Recorder.seen[-1:] if Recorder.seen else None)
    rec.shutdown()
    rec.server_close()
    st, body = get(port, "/api/v1/query", tok, [("query", "up")], raw=True)
    check("an engine that is gone: 503 unavailable", st == 503 and '"errorType":"unavailable"' in body, f"{st} {body}")


def errors_pass_through(vport, eport, tok):
    A = '{namespace="client-alice"}'
    t = f"{time.time() - 3:.3f}"
    for q, eq in [('label_replace(up, "x", "$1", "job", "(")', f'label_replace(up{A}, "x", "$1", "job", "(")'),
                  ("app_requests_total + on() app_requests_total", f"app_requests_total{A} + on () app_requests_total{A}")]:
        st, got = get(vport, "/api/v1/query", tok, [("query", q), ("time", t)])
        est, want = get(eport, "/api/v1/query", None, [("query", eq), ("time", t)])
        check(f"engine error for {q} passes through: status {est}, errorType, text", st == est and got == want, f"{st} {got}\n{est} {want}")


def overhead(vport, pport, tok):
    A = 'namespace="client-alice"'
    for q, eq in [("up", f"up{{{A}}}"), ("sum by (code) (rate(app_requests_total[1m]))", f"sum by (code) (rate(app_requests_total{{{A}}}[1m]))"),
                  ('count({__name__=~".+"})', f'count({{__name__=~".+",{A}}})')]:
        def lat(port, query, token):
            ts = []
            for _ in range(200):
                t0 = time.perf_counter()
                get(port, "/api/v1/query", token, [("query", query)], raw=True)
                ts.append((time.perf_counter() - t0) * 1000)
            return statistics.median(ts)
        direct, via = lat(pport, eq, None), lat(vport, q, tok)
        print(f"# overhead: {q!r}: direct {direct:.3f} ms, through vigil {via:.3f} ms, +{via - direct:.3f} ms (median of 200)")


# ---- remote read ----

def unsnappy(data):
    """A snappy block decoder (literals and copies), enough for the responses."""
    i, n, shift = 0, 0, 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    out = bytearray()
    while i < len(data):
        tag = data[i]
        i += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(data[i:i + nb], "little")
                i += nb
            ln += 1
            out += data[i:i + ln]
            i += ln
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | data[i]
            i += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[i:i + 2], "little")
            i += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[i:i + 4], "little")
            i += 4
        for _ in range(ln):
            out.append(out[-off])
    assert len(out) == n
    return bytes(out)


def uvarint(b, i):
    v, s = 0, 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    i, out = 0, []
    while i < len(b):
        tag, i = uvarint(b, i)
        f, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = uvarint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = uvarint(b, i)
            v, i = b[i:i + n], i + n
        else:
            v, i = b[i:i + 4], i + 4
        out.append((f, v))
    return out


def crc32c(data):
    c = 0xFFFFFFFF
    for x in data:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def read_request(matchers, start, end, accepted):
    q = (b"\x08" + varint(start) + b"\x10" + varint(end)
         + b"".join(field(3, b"\x08" + varint(t) + field(2, n.encode()) + field(3, v.encode())) for t, n, v in matchers))
    return field(1, q) + (field(2, b"".join(varint(a) for a in accepted)) if accepted else b"")


def varint(n):
    n &= 0xFFFFFFFFFFFFFFFF
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def remote_read(tmp, procs, prom):
    port, v = start_vigil(tmp, "vlocal", (f"storage: {{path: {tmp}/vlocal}}\n"
                                          f"auth:\n  jwt:\n    admin_claim: {{name: role, value: admin}}\n"
                                          f"    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]\n"
                                          f"tenants:\n  enforce: {{namespace: \"client-{{org_id}}\"}}\n"), procs)
    check("vigil (local storage) starts", wait_http(port, "/-/ready"), v.output()[-2000:])
    toks = {t: hs256(claims(org_id=t)) for t in TENANTS}
    now = int(time.time() * 1000) // 1000 * 1000
    for t in TENANTS:
        series = [({"__name__": "rr_metric", "inst": str(k)}, [(now - 600000 + i * 15000, float(i * (k + 1))) for i in range(41)])
                  for k in range(3)]
        series.append(({"__name__": f"{t}_only_rr"}, [(now - 60000, 1.0)]))
        st, _, body = request(port, "/api/v1/write", method="POST", body=snappy(write_request(series)),
                              headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                                       "Authorization": f"Bearer {toks[t]}"})
        check(f"remote_write of {t}'s series into vigil", st == 204, body)
    pport = free_port()
    with open(f"{tmp}/tok", "w") as f:
        f.write(toks["alice"])
    with open(f"{tmp}/prr.yml", "w") as f:
        f.write(f"remote_read:\n  - url: http://127.0.0.1:{port}/api/v1/read\n    read_recent: true\n"
                f"    authorization: {{credentials_file: {tmp}/tok}}\n")
    pr = Proc([prom, f"--config.file={tmp}/prr.yml", f"--storage.tsdb.path={tmp}/prr", f"--web.listen-address=127.0.0.1:{pport}"],
              f"{tmp}/prr.log")
    procs.append(pr)
    check("Prometheus with remote_read to vigil starts", wait_http(pport, "/-/ready", timeout=30), pr.output()[-2000:])
    ta = toks["alice"]
    for q in ["rr_metric", "sum(rr_metric)", "rate(rr_metric[2m])", "{__name__=~\"rr_metric|alice_only_rr|bob_only_rr\"}"]:
        params = [("query", q), ("time", f"{now / 1000 - 10:.3f}")]
        st, got = get(pport, "/api/v1/query", None, params)
        _, want = get(port, "/api/v1/query", ta, params)
        strip = lambda d: sorted(json.dumps(s, sort_keys=True) for s in d["data"]["result"])  # noqa: E731
        check(f"Prometheus via remote_read answers {q} as vigil does for alice", st == 200 and strip(got) == strip(want) and strip(got),
              f"{got}\n{want}")
        check(f"nothing of bob's through remote_read for {q}", not leaks(json.dumps(got)), got)
    params = [("query", "rr_metric"), ("start", f"{now / 1000 - 600:.3f}"), ("end", f"{now / 1000:.3f}"), ("step", "15")]
    st, got = get(pport, "/api/v1/query_range", None, params)
    _, want = get(port, "/api/v1/query_range", ta, params)
    check("Prometheus via remote_read: query_range as vigil's", st == 200 and got["data"] == want["data"], f"{got}\n{want}")
    # raw requests: both response types, negotiation, enforcement
    rq = read_request([(0, "__name__", "rr_metric")], now - 700000, now, [])
    h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf", "Authorization": f"Bearer {ta}"}
    import urllib.request
    def post(body, hh):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/read", data=snappy(body), method="POST", headers=hh)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()
    st, hd, body = post(rq, h)
    check("remote read SAMPLES: 200, snappy protobuf", st == 200 and hd.get("Content-Type") == "application/x-protobuf"
          and hd.get("Content-Encoding") == "snappy", (st, hd))
    res = fields(unsnappy(body))
    series = [fields(ts) for f, qr in res for ff, ts in fields(qr)]
    nsamples = sum(1 for s in series for f, v in s if f == 2)
    labels = [dict((dict(fields(v))[1].decode(), dict(fields(v))[2].decode()) for f, v in s if f == 1) for s in series]
    check("SAMPLES: alice's 3 series with 41 samples each, her namespace only",
          len(series) == 3 and nsamples == 123 and all(l.get("namespace") == "client-alice" for l in labels), labels)
    st, hd, body = post(read_request([(0, "__name__", "rr_metric")], now - 700000, now, [1, 0]), h)
    ok = st == 200 and hd.get("Content-Type") == "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
    i, frames, chunks, crc_ok = 0, 0, [], True
    while ok and i < len(body):
        n, i = uvarint(body, i)
        crc = int.from_bytes(body[i:i + 4], "big")
        msg = body[i + 4:i + 4 + n]
        i += 4 + n
        crc_ok &= crc == crc32c(msg)
        frames += 1
        for f, cs in fields(msg):
            if f == 1:
                for ff, c in fields(cs):
                    if ff == 2:
                        chunks.append(dict(fields(c)))
    nsmp = sum(int.from_bytes(c[4][:2], "big") for c in chunks)
    check("STREAMED_XOR_CHUNKS: frames with valid CRC32C, XOR chunks holding all 123 samples",
          ok and frames >= 1 and crc_ok and all(c.get(3) == 1 for c in chunks) and nsmp == 123, (st, hd, frames, crc_ok, len(chunks), nsmp))
    st, _, body = post(read_request([(0, "namespace", "client-bob")], now - 700000, now, []), h)
    check("remote read with bob's namespace as alice: 403", st == 403, (st, body[:200]))
    st, _, body = post(read_request([(0, "__name__", "rr_metric")], now - 700000, now, [7]), h)
    check("remote read with only an unknown response type: 400", st == 400, (st, body[:200]))
    st, _, body = post(rq, {k: v for k, v in h.items() if k != "Authorization"})
    check("remote read without a token: 401", st == 401, (st, body[:200]))
    with open(f"{tmp}/vlocal.yml", "a") as f:
        f.write("remote_read_limits: {sample_limit: 100}\n")
    request(port, "/-/reload", method="POST", headers={"Authorization": f"Bearer {hs256(claims(role='admin'))}"})
    st, _, body = post(rq, h)
    check("remote read past remote_read_limits.sample_limit: refused", st == 422 and b"exceeded sample limit (100)" in body, (st, body[:200]))


def main():
    prom = which("prometheus")
    if not prom:
        skip("gateway", "prometheus not installed")
        finish("integration_gateway")
    tmp = tempfile.mkdtemp(prefix="vigil-gateway-")
    target = serve(Target)
    procs = []
    try:
        with open(f"{tmp}/hs.key", "wb") as f:
            f.write(SECRET)
        tok = hs256(claims(org_id="alice"))
        pport = free_port()
        with open(f"{tmp}/prom.yml", "w") as f:
            f.write(scrape_config(target.server_address[1]))
        pr = Proc([prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p", f"--web.listen-address=127.0.0.1:{pport}",
                   "--web.enable-remote-write-receiver"], f"{tmp}/prom.log")
        procs.append(pr)
        check("Prometheus starts", wait_http(pport, "/-/ready", timeout=30), pr.output()[-2000:])
        vport, v = start_vigil(tmp, "vgw", vigil_config(tmp, "vgw", f"http://127.0.0.1:{pport}"), procs)
        check("vigil in gateway mode starts", wait_http(vport, "/-/ready"), v.output()[-2000:])
        have = lambda: len(get(pport, "/api/v1/query", None, [("query", "count by (namespace) (app_requests_total)")])[1]["data"]["result"]) == 3  # noqa: E731
        check("Prometheus holds three tenants' series", wait_until(have, timeout=30))
        time.sleep(4)  # a few scrapes, for rates and ranges
        compare_engine("prometheus", vport, pport, tok)
        isolation("prometheus", vport, tok)
        bypass("prometheus", vport, tok)
        errors_pass_through(vport, pport, tok)
        tenant_header(tmp, procs, tok)

        vm = which("victoria-metrics", "victoria-metrics-prod")
        if not vm:
            skip("gateway to VictoriaMetrics", "victoria-metrics not installed")
        else:
            mport = free_port()
            vmp = Proc([vm, f"-httpListenAddr=127.0.0.1:{mport}", f"-storageDataPath={tmp}/vm", f"-promscrape.config={tmp}/prom.yml",
                        "-search.latencyOffset=0s", "-search.disableCache"], f"{tmp}/vm.log")
            procs.append(vmp)
            check("VictoriaMetrics starts", wait_http(mport, "/health", timeout=30), vmp.output()[-2000:])
            gport, g = start_vigil(tmp, "vgvm", vigil_config(tmp, "vgvm", f"http://127.0.0.1:{mport}"), procs)
            check("vigil in front of VictoriaMetrics starts", wait_http(gport, "/-/ready"), g.output()[-2000:])
            check("VictoriaMetrics holds three tenants' series", wait_until(lambda: len(get(mport, "/api/v1/query", None, [
                ("query", "count by (namespace) (app_requests_total)")])[1]["data"]["result"]) == 3, timeout=40))
            time.sleep(4)
            compare_engine("victoriametrics", gport, mport, tok, has_metadata=False)
            isolation("victoriametrics", gport, tok)
            bypass("victoriametrics", gport, tok)

        remote_read(tmp, procs, prom)
        overhead(vport, pport, tok)
    finally:
        for p in procs:
            p.stop()
        target.shutdown()
    finish("integration_gateway")


if __name__ == "__main__":
    main()
