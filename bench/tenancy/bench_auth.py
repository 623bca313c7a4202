#!/usr/bin/env python3
"""Auth + enforcement overhead per query: one vigil (release build) with JWT keys and anonymous access
on; the same query is asked anonymously (no token, unscoped) and with a tenant token (JWT verification +
syntax-tree enforcement + a matcher on every selector), interleaved; prints the median latency of each
and the overhead. Data: N series of a counter in the tenant's namespace, remote-written first.

usage: bench_auth.py VIGIL_BIN [--series 2000] [--reps 2000]"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from test_remote_write import snappy, write_request  # noqa: E402
from vigiltest import free_port, request, wait_http  # noqa: E402

SECRET = b"bench-auth-secret-of-at-least-32-bytes!"


def b64(d):
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


def token(**c):
    c.setdefault("exp", int(time.time()) + 3600)
    h, b = b64(b'{"alg":"HS256","typ":"JWT","kid":"k1"}'), b64(json.dumps(c).encode())
    return f"{h}.{b}." + b64(hmac.new(SECRET, f"{h}.{b}".encode(), hashlib.sha256).digest())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vigil")
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=2000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-auth-")
    with open(f"{tmp}/k", "wb") as f:
        f.write(SECRET)
    port = free_port()
    with open(f"{tmp}/v.yml", "w") as f:
        f.write(f"storage: {{path: {tmp}/d}}\nlog: {{level: warn}}\nauth:\n  anonymous: true\n  jwt:\n"
                f"    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/k}}]\n")
    p = subprocess.Popen([a.vigil, "serve", "--config", f"{tmp}/v.yml", "--listen", f"127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port, "/-/ready")
        tok = token(org_id="acme")
        now = int(time.time() * 1000)
        series = [({"__name__": "http_requests_total", "namespace": "client-acme", "pod": f"p{i}", "code": str(200 + i % 3)},
                   [(now - k * 15000, float(k * i)) for k in range(20, -1, -1)]) for i in range(a.series)]
        for i in range(0, len(series), 500):
            request(port, "/api/v1/write", method="POST", body=snappy(write_request(series[i:i + 500])),
                    headers={"Content-Encoding": "snappy"})
        for query in ("sum(rate(http_requests_total[5m]))", 'sum by (code) (http_requests_total{pod=~"p1.*"})'):
            path = "/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": now / 1000})
            conn = http.client.HTTPConnection("127.0.0.1", port)
            lat = {"anonymous": [], "tenant": []}
            for r in range(a.reps):
                for kind in ("anonymous", "tenant"):
                    h = {"Authorization": f"Bearer {tok}"} if kind == "tenant" else {}
                    t0 = time.perf_counter()
                    conn.request("GET", path, headers=h)
                    resp = conn.getresponse()
                    body = resp.read()
                    lat[kind].append(time.perf_counter() - t0)
                    assert resp.status == 200, body
            conn.close()
            ma, mt = statistics.median(lat["anonymous"]) * 1e6, statistics.median(lat["tenant"]) * 1e6
            print(f"auth_overhead {query!r} series={a.series} reps={a.reps}: anonymous {ma:.0f} us, tenant {mt:.0f} us, "
                  f"overhead {100 * (mt - ma) / ma:+.1f}%")
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
