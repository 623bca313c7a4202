#!/usr/bin/env python3
"""remote_write out, end to end: the test writes a known stream of samples into vigil (remote_write in,
5 per second per series); vigil forwards them to a real Prometheus 2.42 (--web.enable-remote-write-receiver),
to VictoriaMetrics and to a capturing receiver (per-tenant, X-Scope-OrgID). Then:
  - VictoriaMetrics is stopped for VIGIL_RW_OUTAGE_S seconds (default 60) and restarted: nothing lost;
  - vigil is killed with SIGKILL while it is still catching up, and restarted: nothing lost;
  - at the end, for every series, the number of samples (count_over_time over the whole run) is exactly
    the number acknowledged by vigil's remote_write endpoint, in vigil, Prometheus and VictoriaMetrics.
Duplicates: samples sent after the last saved position are sent again after the SIGKILL; Prometheus runs
with an out-of-order window so it accepts them (and its queries merge identical samples), and
VictoriaMetrics with -dedup.minScrapeInterval=1ms; both then must hold exactly the acknowledged data.
The capturing receiver must see each tenant's series only in requests carrying that tenant's header."""
import http.server
import json
import os
import signal
import struct
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402
from test_remote_write import post, snappy, write_request  # noqa: E402

VIGIL = sys.argv[1]
OUTAGE_S = float(os.environ.get("VIGIL_RW_OUTAGE_S", "60"))
N_SERIES = 30  # 10 client-a, 10 client-b, 10 without a tenant


def series_labels(i):
    lab = {"__name__": "rwo_value", "i": str(i)}
    if i < 10:
        lab["namespace"] = "client-a"
    elif i < 20:
        lab["namespace"] = "client-b"
    return lab


# ---- the capturing receiver: snappy + protobuf decoded here ----
def unsnappy(b):
    i, n, shift = 0, 0, 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            break
    out = bytearray()
    while i < len(b):
        tag = b[i]
        i += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(b[i:i + nb], "little")
                i += nb
            ln += 1
            out += b[i:i + ln]
            i += ln
            continue
        if kind == 1:
            ln, off = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | b[i]
            i += 1
        elif kind == 2:
            ln, off = (tag >> 2) + 1, int.from_bytes(b[i:i + 2], "little")
            i += 2
        else:
            ln, off = (tag >> 2) + 1, int.from_bytes(b[i:i + 4], "little")
            i += 4
        for _ in range(ln):
            out.append(out[-off])
    assert len(out) == n
    return bytes(out)


def pb_fields(b):
    i = 0
    while i < len(b):
        key, i = uvarint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = uvarint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            ln, i = uvarint(b, i)
            v, i = b[i:i + ln], i + ln
        else:
            raise ValueError("wire type %d" % wt)
        yield f, v


def uvarint(b, i):
    n, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def decode_write_request(body):
    series = []
    for f, ts in pb_fields(unsnappy(body)):
        if f != 1:
            continue
        labels, samples = {}, []
        for g, v in pb_fields(ts):
            if g == 1:
                kv = dict(pb_fields(v))
                labels[kv.get(1, b"").decode()] = kv.get(2, b"").decode()
            elif g == 2:
                kv = dict(pb_fields(v))
                t = kv.get(2, 0)
                if t >= 1 << 63:
                    t -= 1 << 64
                samples.append((t, struct.unpack("<d", kv.get(1, b"\0" * 8))[0]))
        series.append((labels, samples))
    return series


captured = []  # (X-Scope-OrgID, series)
captured_mu = threading.Lock()


class Capture(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            s = decode_write_request(body)
            with captured_mu:
                captured.append((self.headers.get("X-Scope-OrgID"), self.headers.get("Content-Encoding"),
                                 self.headers.get("X-Prometheus-Remote-Write-Version"), s))
            self.send_response(204)
        except Exception as e:  # noqa: BLE001 - a test receiver reports anything it cannot decode
            with captured_mu:
                captured.append(("DECODE ERROR", str(e), "", []))
            self.send_response(400)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


# ---- the writer: the known stream ----
class Writer(threading.Thread):
    def __init__(self, port_fn):
        super().__init__(daemon=True)
        self.port_fn = port_fn
        self.acked = {}  # i -> number of samples vigil acknowledged
        self.running = threading.Event()
        self.idle = threading.Event()
        self.stop = False
        self.errors = 0

    def run(self):
        while not self.stop:
            if not self.running.is_set():
                self.idle.set()
                time.sleep(0.02)
                continue
            self.idle.clear()
            now = int(time.time() * 1000)
            series = [(series_labels(i), [(now, float(now % 100000) + i)]) for i in range(N_SERIES)]
            try:
                st, _, _ = post(self.port_fn(), snappy(write_request(series)))
            except OSError:
                st = 0
            if st == 204:
                for i in range(N_SERIES):
                    self.acked[i] = self.acked.get(i, 0) + 1
            else:
                self.errors += 1
            time.sleep(0.2)

    def pause(self):
        self.running.clear()
        self.idle.wait(5)


def counts(port, path, t_end, window_s, extra=None):
    q = {"query": f"count_over_time(rwo_value[{int(window_s)}s])", "time": f"{t_end:.3f}"}
    q.update(extra or {})
    st, _, body = request(port, f"{path}?{urllib.parse.urlencode(q)}", timeout=30)
    if st != 200:
        return None, body
    res = json.loads(body)["data"]["result"]
    return {int(r["metric"]["i"]): int(float(r["value"][1])) for r in res}, body


def start_vm(vm, tmp, port):
    return Proc([vm, f"-storageDataPath={tmp}/vm", f"-httpListenAddr=127.0.0.1:{port}", "-search.latencyOffset=0s",
                 "-dedup.minScrapeInterval=1ms", "-search.disableCache"], f"{tmp}/vm.log")


def metric(port, name, labels=""):
    st, _, body = request(port, "/metrics")
    total = None
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if labels and labels not in line:
                continue
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def main():
    prom, vm = which("prometheus"), which("victoria-metrics", "victoria-metrics-prod")
    if not prom or not vm:
        skip("remote_write out against Prometheus and VictoriaMetrics", "prometheus or victoria-metrics not installed")
        finish("integration_remote_write_out")
    tmp = tempfile.mkdtemp(prefix="vigil-rwo-")
    procs = {}
    vport, pport, mport, cport = free_port(), free_port(), free_port(), free_port()
    cap = http.server.ThreadingHTTPServer(("127.0.0.1", cport), Capture)
    threading.Thread(target=cap.serve_forever, daemon=True).start()
    with open(f"{tmp}/prom.yml", "w") as f:
        f.write("global: {evaluation_interval: 1m}\nstorage:\n  tsdb:\n    out_of_order_time_window: 30m\n")
    procs["prom"] = Proc([prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p",
                          f"--web.listen-address=127.0.0.1:{pport}", "--web.enable-remote-write-receiver"], f"{tmp}/prom.log")
    procs["vm"] = start_vm(vm, tmp, mport)
    queue = "      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n"
    cfg = f"""auth: {{anonymous: true}}
tenants:
  enforce: {{namespace: "client-{{org_id}}"}}
remote_write:
  - url: http://127.0.0.1:{pport}/api/v1/write
    name: prom
    queue_config:
{queue}  - url: http://127.0.0.1:{mport}/api/v1/write
    name: vm
    queue_config:
{queue}  - url: http://127.0.0.1:{cport}/receive
    name: capture
    tenant_header: X-Scope-OrgID
    queue_config:
{queue}"""
    with open(f"{tmp}/vigil.yml", "w") as f:
        f.write(cfg)

    def start_vigil():
        return Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{vport}", "--data", f"{tmp}/v"],
                    f"{tmp}/vigil.log.{len([k for k in procs if k.startswith('vigil')])}")

    procs["vigil"] = start_vigil()
    writer = Writer(lambda: vport)
    try:
        ok = check("vigil, Prometheus and VictoriaMetrics start",
                   wait_http(vport, "/-/ready", timeout=30) and wait_http(pport, "/-/ready", timeout=30)
                   and wait_http(mport, "/health", timeout=30), procs["vigil"].output()[-2000:])
        if not ok:
            finish("integration_remote_write_out")
        t_start = time.time()
        writer.start()
        writer.running.set()
        time.sleep(10)
        check("forwarding: samples sent to every receiver",
              wait_until(lambda: all((metric(vport, "vigil_remote_storage_samples_total", f'remote_name="{n}"') or 0) > 0
                                     for n in ("prom", "vm", "capture")), timeout=20))

        # ---- a receiver outage ----
        procs["vm"].stop()
        time.sleep(OUTAGE_S)
        retried = metric(vport, "vigil_remote_storage_samples_retried_total", 'remote_name="vm"') or 0
        pending = metric(vport, "vigil_remote_storage_samples_pending", 'remote_name="vm"') or 0
        check(f"VictoriaMetrics down for {OUTAGE_S:.0f}s: the queue retries and holds back", retried > 0, (retried, pending))
        procs["vm"] = start_vm(vm, tmp, mport)
        check("VictoriaMetrics restarted", wait_http(mport, "/health", timeout=30), procs["vm"].output()[-2000:])
        time.sleep(1.5)  # catching up: the backlog is being sent

        # ---- SIGKILL mid-stream ----
        writer.pause()
        procs["vigil"].stop(sig=signal.SIGKILL)
        procs["vigil.1"] = procs.pop("vigil")
        procs["vigil"] = start_vigil()
        check("vigil restarts after SIGKILL", wait_http(vport, "/-/ready", timeout=60), procs["vigil"].output()[-2000:])
        writer.running.set()
        time.sleep(10)
        writer.pause()
        writer.stop = True
        t_end = time.time() + 1
        window = t_end - t_start + 30

        # ---- everything arrives, exactly ----
        def sent_up():
            return all((metric(vport, "vigil_remote_storage_samples_pending", f'remote_name="{n}"') or 0) == 0
                       for n in ("prom", "vm", "capture"))
        check("every queue drains", wait_until(sent_up, timeout=60, step=0.5))
        time.sleep(2)
        request(mport, "/internal/force_flush")
        want = dict(writer.acked)
        total = sum(want.values())
        check(f"the writer's samples were acknowledged ({total} in {N_SERIES} series)", total > N_SERIES * 50, writer.errors)
        got_v, body = counts(vport, "/api/v1/query", t_end, window)
        check("vigil holds exactly the acknowledged samples", got_v == want, (got_v, want, body[:300]))
        got_p, body = wait_until(lambda: (lambda r: r if r[0] == want else None)(counts(pport, "/api/v1/query", t_end, window)),
                                 timeout=30) or counts(pport, "/api/v1/query", t_end, window)
        check("Prometheus holds exactly the same samples (series and counts)", got_p == want,
              ({k: (got_p or {}).get(k) for k in want if (got_p or {}).get(k) != want[k]}, body[:300]))
        got_m, body = wait_until(lambda: (lambda r: r if r[0] == want else None)(counts(mport, "/api/v1/query", t_end, window)),
                                 timeout=30) or counts(mport, "/api/v1/query", t_end, window)
        check("VictoriaMetrics holds exactly the same samples after the outage and the SIGKILL", got_m == want,
              ({k: (got_m or {}).get(k) for k in want if (got_m or {}).get(k) != want[k]}, body[:300]))
        failed = sum(metric(vport, "vigil_remote_storage_samples_failed_total", f'remote_name="{n}"') or 0
                     for n in ("prom", "vm"))
        check("no batch refused by Prometheus or VictoriaMetrics (after the restart)", failed == 0, failed)

        # ---- per-tenant forwarding ----
        with captured_mu:
            reqs = list(captured)
        bad = [r for r in reqs if r[0] not in ("client-a", "client-b") or r[1] != "snappy" or r[2] != "0.1.0"]
        check("capturing receiver: every request has X-Scope-OrgID of a tenant, snappy, version 0.1.0",
              reqs and not bad, bad[:3])
        mixed = [(t, lab) for t, _, _, ss in reqs for lab, _ in ss if lab.get("namespace") != t]
        check("capturing receiver: each request holds only its tenant's series", not mixed, mixed[:5])
        per = {}
        for t, _, _, ss in reqs:
            for lab, smp in ss:
                per[int(lab["i"])] = per.get(int(lab["i"]), set()) | {ts for ts, _ in smp}
        want_t = {i: n for i, n in want.items() if i < 20}
        got_t = {i: len(v) for i, v in per.items()}
        check("capturing receiver: every tenant sample arrived (series without a tenant are not sent)", got_t == want_t,
              ({k: got_t.get(k) for k in want_t if got_t.get(k) != want_t[k]}, sorted(got_t)[-3:]))
        dropped = metric(vport, "vigil_remote_storage_samples_dropped_total", 'remote_name="capture"') or 0
        check("series without a tenant are counted as dropped", dropped > 0, dropped)
    finally:
        writer.stop = True
        cap.shutdown()
        for p in procs.values():
            p.stop()
    finish("integration_remote_write_out")


if __name__ == "__main__":
    main()
