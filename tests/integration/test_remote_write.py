#!/usr/bin/env python3
"""remote_write receiver: a real vmagent (VictoriaMetrics) scraping a real node_exporter and pushing
to vigil, plus requests built here with an independent protobuf + snappy encoder: valid writes (204),
partial acceptance (out-of-order / duplicate / far-future samples and series with invalid labels are
dropped, the rest kept, and the answer is 400 counting each reason), malformed bytes and label limits
(400 with a byte offset), oversized bodies (413), unsupported encodings and remote_write 2.0 (415),
and the server-wide series cap (limits.max_series_total) held against remote_write and a scrape job.
Output is TAP."""
import http.server
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]


# ---- an independent encoder: protobuf (prometheus.WriteRequest) and snappy (literal-only blocks) ----
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def write_request(series, metadata=()):
    """series: [(labels dict, [(t_ms, value), ...])]; metadata: [(type, family, help, unit)] as
    MetricMetadata (WriteRequest field 3: type=1 with COUNTER=1, GAUGE=2, …, metric_family_name=2, help=4,
    unit=5)"""
    out = b""
    for mtype, family, help_, unit in metadata:
        out += field_bytes(3, varint(1 << 3 | 0) + varint(mtype) + field_bytes(2, family.encode())
                           + field_bytes(4, help_.encode()) + field_bytes(5, unit.encode()))
    for labels, samples in series:
        ts = b""
        for k, v in labels.items():
            ts += field_bytes(1, field_bytes(1, k.encode()) + field_bytes(2, v.encode()))
        for t, v in samples:
            smp = varint(1 << 3 | 1) + struct.pack("<d", v) + varint(2 << 3 | 0) + varint(t & 0xFFFFFFFFFFFFFFFF)
            ts += field_bytes(2, smp)
        out += field_bytes(1, ts)
    return out


def snappy(data):
    out = varint(len(data))
    for i in range(0, len(data), 60):
        chunk = data[i:i + 60]
        out += bytes([(len(chunk) - 1) << 2]) + chunk
    return out


def post(port, body, headers=None):
    h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
         "X-Prometheus-Remote-Write-Version": "0.1.0"}
    h.update(headers or {})
    return request(port, "/api/v1/write", method="POST", body=body, headers=h)


def metric(port, name):
    for line in request(port, "/metrics")[2].splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


CONFIG = """server:
  max_body: 1MiB
storage:
  path: {data}
"""


LIMITS_CONFIG = """storage: {{path: {data}}}
limits:
  max_label_names_per_series: 4
  max_label_value_length: 16
  max_remote_write_series_per_request: 3
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
    metric_relabel_configs:
      - {{target_label: extra_a, replacement: x}}
      - {{target_label: extra_b, replacement: y}}
"""


def limits_from_config(tmp, procs):
    """The `limits:` section feeds the remote_write decoder and the scrape path (and the head)."""
    port = free_port()
    cfg = os.path.join(tmp, "limits.yml")
    with open(cfg, "w") as f:
        f.write(LIMITS_CONFIG.format(data=os.path.join(tmp, "data-limits"), port=port))
    vig = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}"], os.path.join(tmp, "limits.log"))
    procs.append(vig)
    check("limits: vigil starts", wait_http(port, "/-/ready"), vig.output())
    now = int(time.time() * 1000)
    four = {"__name__": "lim_a", "a": "1", "b": "2", "c": "3"}
    st, _, body = post(port, snappy(write_request([(four, [(now, 1)])])))
    check("limits: a series with 4 labels (the configured maximum) → 204", st == 204, (st, body))
    st, _, body = post(port, snappy(write_request([(dict(four, d="4"), [(now, 1)])])))
    check("limits: 5 labels → 400 bad_data naming the limit of 4 and the offset",
          st == 400 and "bad_data" in body and "more than 4 labels (offset" in body, (st, body))
    st, _, body = post(port, snappy(write_request([({"__name__": "lim_b", "v": "x" * 17}, [(now, 1)])])))
    check("limits: a 17-byte value over max_label_value_length 16 → 400", st == 400 and "limit of 16" in body, (st, body))
    many = [({"__name__": "lim_c", "i": str(i)}, [(now, 1)]) for i in range(4)]
    st, _, body = post(port, snappy(write_request(many)))
    check("limits: 4 series over max_remote_write_series_per_request 3 → 400", st == 400 and "more than 3 series" in body, (st, body))

    def scraped():
        st, _, body = request(port, "/api/v1/targets")
        return st == 200 and "more than the limit of 4" in body

    # the self-scrape's series get 2 more labels by relabeling: those past 4 labels fail the scrape
    check("limits: the scrape path applies the configured label limit", wait_until(scraped, 10),
          request(port, "/api/v1/targets")[2][:2000])
    check("limits: vigil survives", vig.alive(), vig.output()[-2000:])
    vig.stop()


CAP_CONFIG = """storage: {{path: {data}}}
limits:
  max_series_total: {cap}
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ['127.0.0.1:{app}']}}]
"""


class CapTarget(http.server.BaseHTTPRequestHandler):
    """An exposition of `series` gauges cap_app{i="0".."series-1"} (grown by the test)."""
    series = 5

    def do_GET(self):
        body = "".join(f'cap_app{{i="{i}"}} {i}\n' for i in range(CapTarget.series)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def labelled_metric(port, name, labels):
    for line in request(port, "/metrics")[2].splitlines():
        if line.startswith(name + "{") and labels in line:
            return float(line.split()[-1])
    return 0.0


def series_cap(tmp, procs):
    """limits.max_series_total holds against anonymous remote_write (400 naming the limit, counted) and
    against a scrape job, whose existing series keep their samples while its new ones are refused."""
    cap = 30
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CapTarget)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = free_port()
    cfg = os.path.join(tmp, "cap.yml")
    with open(cfg, "w") as f:
        f.write(CAP_CONFIG.format(data=os.path.join(tmp, "data-cap"), cap=cap, app=srv.server_address[1]))
    vig = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}"], os.path.join(tmp, "cap.log"))
    procs.append(vig)
    try:
        check("cap: vigil starts", wait_http(port, "/-/ready"), vig.output())
        check("cap: the limit is exported", metric(port, "vigil_head_series_limit") == cap, metric(port, "vigil_head_series_limit"))

        def app_up():
            st, _, body = request(port, "/api/v1/query?query=count(cap_app)")
            return st == 200 and '"5"' in body
        check("cap: the scrape job's 5 series are stored", wait_until(app_up, 15), request(port, "/api/v1/query?query=cap_app")[2])
        held = int(metric(port, "vigil_head_series"))
        now = int(time.time() * 1000)
        st, _, body = post(port, snappy(write_request([({"__name__": "cap_rw", "i": str(i)}, [(now, i)]) for i in range(40)])))
        fit = cap - held
        check("cap: remote_write past the cap → 400 naming the server-wide limit and counting the refused series",
              st == 400 and f"server-wide series limit of {cap} (limits.max_series_total) reached: {40 - fit} new series refused"
              in body and f"{40 - fit} of 40 samples dropped, the other {fit} were kept" in body, (st, body, held))
        check("cap: the head holds exactly the cap", metric(port, "vigil_head_series") == cap, metric(port, "vigil_head_series"))
        check("cap: vigil_series_refused_total{reason=\"global\"} counts them",
              labelled_metric(port, "vigil_series_refused_total", 'reason="global"') == 40 - fit,
              labelled_metric(port, "vigil_series_refused_total", 'reason="global"'))
        st, _, body = post(port, snappy(write_request([({"__name__": "cap_rw", "i": "0"}, [(now + 1, 5)])])))
        check("cap: an existing series still accepts samples (204)", st == 204, (st, body))

        # the target grows: its new series are refused, the scrape goes on and its old series stay fresh
        CapTarget.series = 8
        base = metric(port, "vigil_target_scrapes_series_refused_total")
        check("cap: the scrape's new series are refused and counted",
              wait_until(lambda: metric(port, "vigil_target_scrapes_series_refused_total") >= base + 6, 15),
              metric(port, "vigil_target_scrapes_series_refused_total"))
        st, _, body = request(port, "/api/v1/query?query=count(cap_app)")
        check("cap: the scrape job still has its 5 series, no more", st == 200 and '"5"' in body, body)
        st, _, body = request(port, "/api/v1/query?query=time()-timestamp(cap_app)")
        import json as _json
        ages = [float(r["value"][1]) for r in _json.loads(body)["data"]["result"]] if st == 200 else []
        check("cap: its existing series keep getting samples", len(ages) == 5 and max(ages) < 3, body)
        st, _, body = request(port, '/api/v1/query?query=up{job="app"}')
        check("cap: the target stays up", st == 200 and '"1"]' in body, body)
        check("cap: vigil survives", vig.alive(), vig.output()[-2000:])
    finally:
        srv.shutdown()
        vig.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-rw-")
    procs = []
    try:
        cfg = os.path.join(tmp, "vigil.yml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(data=os.path.join(tmp, "data")))
        port = free_port()
        vig = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}"], os.path.join(tmp, "vigil.log"))
        procs.append(vig)
        check("vigil starts", wait_http(port, "/-/ready"), vig.output())
        now = int(time.time() * 1000)

        st, _, body = post(port, snappy(write_request([({"__name__": "rw_a", "job": "t"}, [(now - 2000, 1.5), (now - 1000, 2.5)]),
                                                       ({"__name__": "rw_b", "x": "y"}, [(now - 1000, -1)])])))
        check("valid write → 204 with empty body", st == 204 and body == "", (st, body))
        check("3 samples counted", metric(port, "vigil_remote_write_samples_total") == 3)
        series0 = metric(port, "vigil_head_series")
        check("2 series in the head", series0 == 2, series0)
        import json as _json
        import urllib.parse as _up
        q = _up.urlencode({"query": "rw_a", "start": (now - 2000) / 1000, "end": (now - 1000) / 1000, "step": 1})
        st, _, body = request(port, f"/api/v1/query_range?{q}")
        vals = [v for r in _json.loads(body)["data"]["result"] for v in r["values"]]
        check("queried back: exactly the samples sent", st == 200 and [v[1] for v in vals] == ["1.5", "2.5"]
              and [int(round(v[0] * 1000)) for v in vals] == [now - 2000, now - 1000], body)

        before = metric(port, "vigil_samples_appended_total")
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_new"}, [(now, 7)]),
                                                       ({"__name__": "rw_a", "job": "t"}, [(now - 5000, 3)])])))
        check("out-of-order sample → 400 counting it and naming the series",
              st == 400 and "out of order sample: 1" in body and "1 of 2 samples dropped" in body and 'rw_a{job=' in body, (st, body))
        check("the request's valid sample was kept", metric(port, "vigil_samples_appended_total") == before + 1
              and metric(port, "vigil_head_series") == series0 + 1, body)
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_a", "job": "t"}, [(now - 1000, 99)])])))
        check("duplicate timestamp with another value → 400", st == 400 and "duplicate sample for timestamp: 1" in body, (st, body))
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_far"}, [(1 << 62, 1)]),
                                                       ({"__name__": "rw_far_ok"}, [(now + 1000, 4)])])))
        check("a sample at t=2^62 ms is dropped as too far in the future, the current one kept (400)",
              st == 400 and "too far in the future (limits.max_future): 1" in body and "rw_far" in body, (st, body))
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_now"}, [(int(time.time() * 1000), 1)])])))
        check("after the far-future sample a current write still → 204", st == 204, (st, body))
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_seq"}, [(now, 1), (now - 10, 2), (now, 3), (now, 1)])])))
        check("within one series of a request: an older sample is out of order, another value at a sent time a duplicate",
              st == 400 and "out of order sample: 1" in body and "duplicate sample for timestamp: 1" in body
              and "2 of 4 samples dropped" in body, (st, body))
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_a", "job": "t"}, [(now - 1000, 2.5)])])))
        check("the same sample again is accepted (idempotent retry)", st == 204, (st, body))

        inv = metric(port, "vigil_remote_write_invalid_series_total")
        st, _, body = post(port, snappy(write_request([({"job": "no-name"}, [(now, 1)]), ({"__name__": "ok_one", "bad-label": "x"}, [(now, 1)]),
                                                       ({"__name__": "rw_c"}, [(now, 1)])])))
        check("series with invalid labels are skipped, the rest kept, and the answer says so (400)",
              st == 400 and "invalid labels: 2 series (2 samples)" in body and "2 of 3 samples dropped" in body
              and metric(port, "vigil_remote_write_invalid_series_total") == inv + 2, (st, body))
        st, _, body = request(port, "/api/v1/query?query=rw_c")
        check("the valid series of that request was stored", st == 200 and '"rw_c"' in body, body)
        st, _, body = post(port, snappy(write_request([({"job": "no-name"}, [(now, 1)])])))
        check("a request whose every series is invalid → 400, not 204", st == 400 and "1 of 1 samples dropped" in body, (st, body))

        st, _, body = post(port, snappy(write_request([({"__name__": "rw_gz"}, [(now, 1)])])), headers={"Content-Encoding": "gzip"})
        check("Content-Encoding: gzip → 415 naming snappy", st == 415 and "snappy" in body and "gzip" in body, (st, body))
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_v2"}, [(now, 1)])])),
                           headers={"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"})
        check("remote_write 2.0 content type → 415 naming what is supported",
              st == 415 and "remote_write 1.0" in body and "prometheus.WriteRequest" in body, (st, body))
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_v1"}, [(now, 1)])])),
                           headers={"Content-Type": "application/x-protobuf;proto=prometheus.WriteRequest"})
        check("remote_write 1.0 content type with proto= → 204", st == 204, (st, body))

        # a client that sends no content type or a form one (urllib's default) still writes: the body is
        # the payload, never form parameters (a '%' in it is not percent-encoding)
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_pct", "v": "100%zz"}, [(now, 1)])])),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        check("a form Content-Type on remote_write does not form-decode the payload", st == 204, (st, body))

        st, _, body = post(port, b"\x10not snappy at all")
        check("malformed snappy → 400 bad_data", st == 400 and '"bad_data"' in body, body)
        st, _, body = post(port, snappy(b"\x0a\x05\x0a\x03\x0a\x01"))
        check("truncated protobuf → 400 naming a byte offset", st == 400 and "offset" in body, body)
        st, _, body = post(port, varint(100 << 20) + b"\x00" * 10)
        check("snappy length header over the decode limit → 413", st == 413, (st, body))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (2 << 20))
            resp = sock.recv(4096).decode(errors="replace")
        check("body over server.max_body → 413 before it is sent", resp.startswith("HTTP/1.1 413"), resp[:200])
        st, _, body = request(port, "/api/v1/write", method="GET")
        check("GET /api/v1/write → 405", st == 405, st)

        # metric metadata sent with the samples is kept for /api/v1/metadata
        md = [(1, "rw_md_requests", "Requests served.", ""), (2, "rw_md_temp", "Temperature.", "celsius"),
              (1, "rw_md_long", "x" * 5000, "")]
        st, _, body = post(port, snappy(write_request([({"__name__": "rw_md_requests_total"}, [(int(time.time() * 1000), 1)])], md)))
        check("a write carrying metadata → 204", st == 204, (st, body))
        st, _, body = request(port, "/api/v1/metadata")
        got = _json.loads(body)["data"] if st == 200 else {}
        check("/api/v1/metadata shows the metadata sent, type, help and unit",
              got.get("rw_md_requests") == [{"type": "counter", "help": "Requests served.", "unit": ""}]
              and got.get("rw_md_temp") == [{"type": "gauge", "help": "Temperature.", "unit": "celsius"}], body[:2000])
        check("a help over 4096 bytes is skipped and counted", "rw_md_long" not in got
              and metric(port, 'vigil_remote_write_metadata_skipped_total{reason="too_long"}') == 1, body[:2000])
        st, _, body = post(port, snappy(write_request([], [(2, "rw_md_requests", "Requests served, now a gauge.", "")])))
        st2, _, body2 = request(port, "/api/v1/metadata?metric=rw_md_requests")
        check("metadata only (no samples) → 204, and the last entry sent for a family wins",
              st == 204 and _json.loads(body2)["data"] == {"rw_md_requests": [{"type": "gauge", "help": "Requests served, now a gauge.",
                                                                               "unit": ""}]}, (st, body, body2))
        st, _, body = request(port, "/api/v1/metadata?limit=1")
        check("limit counts families after the merge", st == 200 and list(_json.loads(body)["data"]) == ["rw_md_requests"], body)

        vmagent, node = which("vmagent"), which("prometheus-node-exporter", "node_exporter")
        if vmagent and node:
            nport, aport = free_port(), free_port()
            procs.append(Proc([node, f"--web.listen-address=127.0.0.1:{nport}", "--collector.disable-defaults",
                               "--collector.cpu", "--collector.meminfo", "--collector.loadavg"], os.path.join(tmp, "node.log")))
            # vmagent sends metadata only when built with -enableMetadata (1.79 has no such flag)
            vm_help = subprocess.run([vmagent, "-help"], capture_output=True, text=True)
            vm_metadata = "-enableMetadata" in vm_help.stdout + vm_help.stderr
            scfg = os.path.join(tmp, "vmagent.yml")
            with open(scfg, "w") as f:
                f.write(f"scrape_configs:\n  - job_name: node\n    scrape_interval: 1s\n    static_configs: [{{targets: ['127.0.0.1:{nport}']}}]\n")
            agent = Proc([vmagent, f"-promscrape.config={scfg}", f"-remoteWrite.url=http://127.0.0.1:{port}/api/v1/write",
                          f"-httpListenAddr=127.0.0.1:{aport}", f"-remoteWrite.tmpDataPath={tmp}/vmagent",
                          "-remoteWrite.flushInterval=500ms"] + (["-enableMetadata"] if vm_metadata else []),
                         os.path.join(tmp, "vmagent.log"))
            procs.append(agent)
            base = metric(port, "vigil_remote_write_samples_total")
            ok = wait_until(lambda: metric(port, "vigil_remote_write_samples_total") > base + 50, timeout=30)
            check("vmagent's remote_write samples arrive", ok, agent.output()[-2000:])
            check("node_exporter series are in the head", metric(port, "vigil_head_series") > 20, metric(port, "vigil_head_series"))
            errs = [l for l in agent.output().splitlines() if "cannot send" in l or "unexpected status code" in l]
            check("vmagent reports no send errors", not errs, "\n".join(errs[:5]))
            if vm_metadata:
                ok = wait_until(lambda: "node_load1" in request(port, "/api/v1/metadata")[2], timeout=30)
                check("vmagent's metadata shows in /api/v1/metadata", ok, request(port, "/api/v1/metadata")[2][:2000])
            else:
                skip("vmagent metadata → /api/v1/metadata", "this vmagent has no -enableMetadata flag")
        else:
            skip("vmagent → vigil", "vmagent or node_exporter not installed")
        check("vigil survives", vig.alive(), vig.output()[-2000:])
        limits_from_config(tmp, procs)
        series_cap(tmp, procs)
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_remote_write")


if __name__ == "__main__":
    main()
