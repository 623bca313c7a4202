#!/usr/bin/env python3
"""Auth + enforcement overhead per query: one vigil (release build) with JWT keys and anonymous access
on; the same query is asked anonymously (no token, unscoped) and with a tenant token (JWT verification +
syntax-tree enforcement + a matcher on every selector), interleaved; prints the median latency of each
and the overhead. Data: N series of a counter in the tenant's namespace, remote-written first.

usage: bench_auth.py VIGIL_BIN [--series 2000] [--reps 2000] [--query Q ...]"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
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


def read_response(rf):
    """One HTTP/1.1 response with a Content-Length; returns (status, body)."""
    status = int(rf.readline().split()[1])
    length = 0
    while (line := rf.readline()) not in (b"\r\n", b""):
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    return status, rf.read(length)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vigil")
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--query", action="append", help="measure this query only (repeatable); default: three shapes")
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
            st, _, body = request(port, "/api/v1/write", method="POST", body=snappy(write_request(series[i:i + 500])),
                                  headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"})
            assert st == 204, body
        st, _, body = request(port, "/api/v1/query?" + urllib.parse.urlencode({"query": "count(http_requests_total)", "time": now / 1000}))
        assert json.loads(body)["data"]["result"][0]["value"][1] == str(a.series), body
        for query in a.query or ("sum(rate(http_requests_total[5m]))", 'sum by (code) (http_requests_total{pod=~"p1.*"})',
                                 'http_requests_total{pod="p7"}'):
            path = "/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": now / 1000})
            # requests are prebuilt bytes on a raw keep-alive socket, so the client's own cost is the same for
            # both kinds and the difference is the server's: token check, rewrite, the extra matcher
            reqs = {"anonymous": f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                    "tenant": f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n\r\n".encode()}
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rf = sock.makefile("rb")
            lat = {"anonymous": [], "tenant": []}
            for r in range(a.reps):
                for kind in ("anonymous", "tenant"):
                    t0 = time.perf_counter()
                    sock.sendall(reqs[kind])
                    status, body = read_response(rf)
                    lat[kind].append(time.perf_counter() - t0)
                    assert status == 200, body
            rf.close()
            sock.close()
            ma, mt = statistics.median(lat["anonymous"]) * 1e6, statistics.median(lat["tenant"]) * 1e6
            print(f"auth_overhead {query!r} series={a.series} reps={a.reps}: anonymous {ma:.0f} us, tenant {mt:.0f} us, "
                  f"overhead {100 * (mt - ma) / ma:+.1f}%")
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
