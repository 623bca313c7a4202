#!/usr/bin/env python3
"""Integration test of the real vigil binary against hostile clients: a bounded slowloris from one
loopback address (127.0.0.2) while a probe from another (127.0.0.3) must keep getting answers; trickling
connections closed after server.header_timeout; the per-address connection cap; kept-alive connections
that idle past header_timeout still served; garbage request lines answered 400 and closed at once; a
decoded NUL byte in a URL or form parameter refused with 400. All traffic goes to 127.0.0.1, every
socket has a timeout, and the attack stops by itself. Output is TAP."""
import errno
import http.client
import json
import os
import select
import socket
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, wait_http  # noqa: E402

VIGIL = sys.argv[1]
ATTACKER, PROBE = "127.0.0.2", "127.0.0.3"
HEADER_TIMEOUT = 2.0
PER_IP = 40
N_ATTACK = 200

CONFIG = f"""server:
  listen: 127.0.0.1:{{port}}
  read_timeout: 30s
  header_timeout: {int(HEADER_TIMEOUT)}s
  max_connections: 100
  max_connections_per_ip: {PER_IP}
  threads: 2
storage:
  path: {{data}}
log:
  level: info
  format: json
"""


def connect_from(src, port, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def closed_by_server(s):
    """True when the server has closed (or reset) s; never blocks."""
    try:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        return s.recv(4096, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError as e:
        return e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN)


def probe(port):
    """GET /-/healthy from PROBE; returns (status or None, seconds)."""
    t = time.time()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(PROBE, 0))
        c.request("GET", "/-/healthy")
        st = c.getresponse().status
        c.close()
        return st, time.time() - t
    except OSError:
        return None, time.time() - t


def raw_exchange(port, data, src=PROBE, wait=5):
    """Sends data; returns (bytes answered, seconds until the server closed, or None if it did not)."""
    s = connect_from(src, port)
    s.settimeout(wait)
    t = time.time()
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out, time.time() - t
            out += chunk
    except socket.timeout:
        return out, None
    except ConnectionResetError:
        return out, time.time() - t
    finally:
        s.close()


def test_slowloris(port):
    socks, refused = [], 0
    for _ in range(N_ATTACK):
        try:
            s = connect_from(ATTACKER, port)
            s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        except OSError:
            refused += 1
    t0 = time.time()
    probes, trickle = [], b"X-Slow: " + b"a" * 64
    i = 0
    # trickle one byte per connection every 0.25 s for a bounded time, probing from the other address
    while time.time() - t0 < HEADER_TIMEOUT + 2.0:
        for s in socks:
            try:
                s.send(trickle[i % len(trickle): i % len(trickle) + 1], socket.MSG_DONTWAIT)
            except OSError:
                pass
        i += 1
        if i % 2 == 0:
            probes.append(probe(port))
        if i == 4:  # ~1 s in: the per-address cap has closed every connection beyond it
            alive = sum(not closed_by_server(s) for s in socks)
            check(f"slowloris: at most {PER_IP} of {N_ATTACK} connections from one address are kept",
                  alive <= PER_IP, f"alive={alive} refused_at_connect={refused}")
        time.sleep(0.25)
    bad = [p for p in probes if p[0] != 200 or p[1] > 1.0]
    check("slowloris: /-/healthy from another address answers within 1 s throughout", probes and not bad,
          f"{len(bad)} of {len(probes)} probes failed or slow: {bad[:5]}")
    still = sum(not closed_by_server(s) for s in socks)
    check("slowloris: trickling connections are closed after server.header_timeout", still == 0,
          f"{still} still open {time.time() - t0:.1f}s after their first bytes")
    for s in socks:
        s.close()
    # the metric names the reason
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(PROBE, 0))
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    line = [ln for ln in text.splitlines() if ln.startswith('vigil_http_connections_refused_total{reason="header_timeout"}')]
    check("slowloris: vigil_http_connections_refused_total{reason=header_timeout} counts them",
          line and float(line[0].split()[-1]) >= 1, line)


def test_keepalive(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(PROBE, 0))
    c.request("GET", "/-/healthy")
    r1 = c.getresponse()
    r1.read()
    time.sleep(HEADER_TIMEOUT + 1.0)  # idle longer than header_timeout, shorter than read_timeout
    sock_before = c.sock
    c.request("GET", "/-/ready")
    r2 = c.getresponse()
    r2.read()
    check("a kept-alive connection idle longer than header_timeout still serves its next request",
          r1.status == 200 and r2.status == 200 and c.sock is sock_before, (r1.status, r2.status))
    c.close()


def test_garbage(port):
    cases = [("NUL bytes", b"\x00\x00\x00\x00"), ("NUL bytes and a line end", b"\x00\x00\r\n\r\n"),
             ("a TLS ClientHello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
             ("a method with no target", b"GARBAGE\r\n\r\n"), ("a control byte in the target", b"GET /a\x01b HTTP/1.1\r\n\r\n")]
    for name, data in cases:
        out, closed = raw_exchange(port, data)
        check(f"garbage request line ({name}): 400 and closed at once",
              out.startswith(b"HTTP/1.1 400 ") and b'"errorType":"bad_data"' in out and closed is not None and closed < 1.0,
              f"answer={out[:120]!r} closed_after={closed}")
    out, closed = raw_exchange(port, b"\r\nGET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("an empty line before the request line is still accepted", out.startswith(b"HTTP/1.1 200 "), out[:120])


def http_req(port, method, path, body=None, ctype=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(PROBE, 0))
    headers = {"Content-Type": ctype} if ctype else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    out = r.status, r.read().decode()
    c.close()
    return out


def test_nul_params(port):
    st, body = http_req(port, "GET", "/api/v1/query?query=up%00junk")
    j = json.loads(body)
    check("NUL in a URL parameter: 400 bad_data naming the parameter",
          st == 400 and j.get("errorType") == "bad_data" and '"query"' in j.get("error", "") and "NUL" in j.get("error", ""),
          (st, body))
    st, body = http_req(port, "POST", "/api/v1/query", body="query=up%00junk",
                        ctype="application/x-www-form-urlencoded")
    j = json.loads(body)
    check("NUL in a form body parameter: 400 bad_data naming the parameter",
          st == 400 and j.get("errorType") == "bad_data" and '"query"' in j.get("error", ""), (st, body))
    st, body = http_req(port, "GET", "/api/v1/query?query=up&ti%00me=1")
    check("NUL in a parameter name: 400", st == 400 and "NUL" in body, (st, body))
    st, body = http_req(port, "GET", "/api/v1/query?" + urllib.parse.urlencode({"query": 'up{job="a b"}'}))
    check("a parameter without NUL still answers 200", st == 200, (st, body))


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-hostile-")
    port = free_port()
    cfg = os.path.join(tmp, "vigil.yml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(port=port, data=os.path.join(tmp, "data")))
    proc = Proc([VIGIL, "serve", "--config", cfg], os.path.join(tmp, "vigil.log"))
    try:
        if not check("vigil starts", wait_http(port, "/-/ready"), proc.output()[-2000:]):
            return
        test_garbage(port)
        test_nul_params(port)
        test_keepalive(port)
        test_slowloris(port)
        check("vigil is still serving", probe(port)[0] == 200)
    finally:
        rc = proc.stop()
        with open(proc.log_path) as f:
            check("vigil stops cleanly", rc == 0, f.read()[-3000:])
    finish("hostile")


if __name__ == "__main__":
    main()
