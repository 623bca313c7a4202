#!/usr/bin/env python3
"""Storage benchmarks of vigil against Prometheus 2.42 and VictoriaMetrics 1.79 (docs/performance.md,
"Storage"). Standard library only; every server listens on 127.0.0.1 with its own data directory and is
stopped (by PID) when the step ends.

  disk      OM PROMTXT --work DIR   import one history (bench/storage/gen_history.py) into vigil dense
                                    and xor blocks, promtool blocks and VictoriaMetrics; bytes per sample
  queries   --work DIR --end T      vigil on its dense and xor blocks and Prometheus on promtool's, up at
                                    once, after their block compaction settles: disk again, then range
                                    queries over 24 h, round-robin, median of --reps
  memrestart --data DIR --system S  S on DIR (blocks or empty) scraping the shared harness' targets for
                                    --window s: RSS per active series; then --restarts restarts, each
                                    timed until /-/ready answers 200
  headcompact --series N            remote_write of N series every --interval s into vigil with a 1m
                                    block_duration: per-request latency, longest gap between acks, head
                                    compactions during the run

Each prints one JSON object per case on stdout; see bench/storage/README.md."""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request

VIGIL = os.environ.get("VIGIL_BIN", "build-release/vigil")
PROM = os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("PROMTOOL_BIN", "/usr/bin/promtool")
VM = os.environ.get("VM_BIN", "/usr/bin/victoria-metrics")
GEN_TARGETS = os.environ.get("GEN_TARGETS", "/work/shared/bench/gen_targets.py")


def log(*a):
    print("[storage %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=300):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return 0, b""


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def rss_split(pid):
    """VmRSS split in anonymous and file-backed (mapped block files count as file)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                if line.startswith(k + ":"):
                    out[k] = int(line.split()[1]) * 1024
    return out


def dir_bytes(root):
    """(total, chunks/ or data/, index or indexdb/) apparent file sizes under root."""
    tot = chunks = index = 0
    for dp, _, fns in os.walk(root):
        for fn in fns:
            p = os.path.join(dp, fn)
            try:
                sz = os.lstat(p).st_size
            except FileNotFoundError:
                continue
            tot += sz
            rel = os.path.relpath(p, root).split(os.sep)
            if "chunks" in rel[:-1] or rel[0] == "data":
                chunks += sz
            elif fn == "index" or rel[0] == "indexdb":
                index += sz
    return tot, chunks, index


def blocks_bytes(root):
    """Bytes of the ULID block directories only (no WAL, head chunks, lock)."""
    tot = chunks = index = n = 0
    for d in sorted(os.listdir(root)):
        p = os.path.join(root, d)
        if len(d) == 26 and os.path.isdir(p):
            t, c, i = dir_bytes(p)
            tot, chunks, index, n = tot + t, chunks + c, index + i, n + 1
    return {"bytes": tot, "chunks": chunks, "index": index, "blocks": n}


class Server:
    """One server process on its own port; stop() by PID (SIGTERM, SIGKILL after grace)."""

    def __init__(self, system, data, config=None, extra=(), logpath=None):
        self.system, self.data, self.port = system, data, free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        if system == "vigil":
            cmd = [VIGIL, "serve", "--listen", "127.0.0.1:%d" % self.port, "--data", data]
            if config:
                cmd += ["--config", config]
        elif system == "prometheus":
            cmd = [PROM, "--storage.tsdb.path=" + data, "--web.listen-address=127.0.0.1:%d" % self.port,
                   "--web.enable-admin-api", "--query.max-samples=500000000", "--log.level=warn",
                   "--storage.tsdb.retention.time=15d", "--config.file=" + (config or os.devnull)]
        else:
            cmd = [VM, "-storageDataPath=" + data, "-httpListenAddr=127.0.0.1:%d" % self.port,
                   "-retentionPeriod=30d", "-search.maxUniqueTimeseries=50000000", "-loggerLevel=WARN"]
            if config:
                cmd.append("-promscrape.config=" + config)
        self.cmd = cmd + list(extra)
        self.log = open(logpath or os.path.join(os.path.dirname(data.rstrip("/")), "%s-%d.log" % (system, self.port)), "ab")
        self.t_start = time.time()
        self.p = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.p.pid

    def ready_path(self):
        return "/health" if self.system == "victoriametrics" else "/-/ready"

    def wait_ready(self, timeout=600, poll=0.02):
        end = time.time() + timeout
        while time.time() < end:
            if self.p.poll() is not None:
                raise RuntimeError("%s exited with %s" % (self.system, self.p.returncode))
            st, _ = http_get(self.url + self.ready_path(), timeout=2)
            if st == 200:
                return time.time() - self.t_start
            time.sleep(poll)
        raise RuntimeError("%s not ready after %ss" % (self.system, timeout))

    def query(self, path, params, timeout=600):
        st, body = http_get(self.url + path + "?" + urllib.parse.urlencode(params), timeout=timeout)
        if st != 200:
            raise RuntimeError("%s %s: HTTP %d %s" % (self.system, params.get("query"), st, body[:300]))
        return json.loads(body)

    def metric(self, name):
        st, body = http_get(self.url + "/metrics", timeout=30)
        tot = None
        for line in body.decode(errors="replace").split("\n"):
            if line.startswith(name + " ") or line.startswith(name + "{"):
                tot = (tot or 0) + float(line.rsplit(" ", 1)[1])
        return tot

    def stop(self, grace=60):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


# ---------------------------------------------------------------------------------------------- disk
def cmd_disk(a):
    os.makedirs(a.work, exist_ok=True)
    res = {"case": "disk", "samples": a.samples, "series": a.series}
    for name, cmd in [
        ("vigil-dense", [VIGIL, "import", "openmetrics", a.om, "--data", os.path.join(a.work, "vigil-dense"),
                         "--chunk-encoding", "dense", "--block-duration", a.vigil_block_duration]),
        ("vigil-xor", [VIGIL, "import", "openmetrics", a.om, "--data", os.path.join(a.work, "vigil-xor"),
                       "--chunk-encoding", "xor", "--block-duration", a.vigil_block_duration]),
        ("promtool", [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", a.om, os.path.join(a.work, "prom")]),
    ]:
        d = cmd[-1] if name == "promtool" else cmd[5]
        shutil.rmtree(d, ignore_errors=True)
        t0 = time.time()
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit("%s failed: %s" % (name, out.stderr[-2000:]))
        b = blocks_bytes(d)
        b.update({"import_s": round(time.time() - t0, 1), "bytes_per_sample": b["bytes"] / a.samples,
                  "chunk_bytes_per_sample": b["chunks"] / a.samples, "index_bytes_per_series": b["index"] / a.series})
        res[name] = b
        log(name, b)
    # VictoriaMetrics: the same samples through /api/v1/import/prometheus, then flush + forced merge
    vmdir = os.path.join(a.work, "vm")
    shutil.rmtree(vmdir, ignore_errors=True)
    s = Server("victoriametrics", vmdir)
    try:
        s.wait_ready()
        t0 = time.time()
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=3600)
        with open(a.prom_txt, "rb") as f:
            conn.request("POST", "/api/v1/import/prometheus", body=f,
                         headers={"Content-Length": str(os.path.getsize(a.prom_txt))})
            r = conn.getresponse()
            body = r.read()
        if r.status not in (200, 204):
            raise SystemExit("vm import: %d %s" % (r.status, body[:300]))
        http_get(s.url + "/internal/force_flush")
        time.sleep(5)
        http_get(s.url + "/internal/force_merge")
        for _ in range(900):
            time.sleep(2)
            if not s.metric("vm_active_force_merges"):
                break
        http_get(s.url + "/internal/force_flush")
        time.sleep(3)
        rows = s.metric("vm_rows")
        tot, data, index = dir_bytes(vmdir)
        res["victoriametrics"] = {"bytes": tot, "chunks": data, "index": index, "import_s": round(time.time() - t0, 1),
                                  "rows": rows, "bytes_per_sample": tot / a.samples,
                                  "chunk_bytes_per_sample": data / a.samples, "index_bytes_per_series": index / a.series}
        log("vm", res["victoriametrics"])
    finally:
        s.stop()
    v = res["victoriametrics"]["bytes"]
    p = res["promtool"]["bytes"]
    res["ratios"] = {"dense/vm": res["vigil-dense"]["bytes"] / v, "dense/prom": res["vigil-dense"]["bytes"] / p,
                     "xor/prom": res["vigil-xor"]["bytes"] / p}
    emit(res)


# ------------------------------------------------------------------------------------------- queries
QUERIES = [
    ("rate_sum_by", 'sum by (job, code) (rate(http_requests_total[5m]))'),
    ("hist_quantile", 'histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))'),
    ("max_over_time", 'max by (instance) (max_over_time(node_load1[1h]))'),
    ("cpu_rate", 'sum by (instance, mode) (rate(node_cpu_seconds_total[5m]))'),
    ("max_over_time_all", 'max_over_time(node_network_receive_bytes_total[10m])'),
    ("rate_all_buckets", 'sum(rate(http_request_duration_seconds_bucket[1h]))'),
]


def settle_blocks(servers, quiet=30, timeout=900):
    """Wait until no server's block list has changed for `quiet` seconds (block compaction done)."""
    def state():
        return tuple(tuple(sorted(x for x in os.listdir(s.data) if len(x) >= 26)) for s in servers)
    last, since, t0 = state(), time.time(), time.time()
    while time.time() - t0 < timeout:
        time.sleep(2)
        cur = state()
        if cur != last:
            last, since = cur, time.time()
        elif time.time() - since >= quiet:
            return time.time() - t0
    return None


def summarize(resp):
    r = resp["data"]["result"]
    pts = sum(len(x.get("values", [])) for x in r)
    tot = 0.0
    for x in r:
        for _, v in x.get("values", []):
            f = float(v)
            if f == f and abs(f) != float("inf"):
                tot += f
    return len(r), pts, tot


def cmd_queries(a):
    cfg = os.path.join(a.work, "vigil-q.yml")
    with open(cfg, "w") as f:
        f.write("storage: {retention: 15d}\nquery_cache: {enabled: false}\n")
    cfgx = os.path.join(a.work, "vigil-qx.yml")
    with open(cfgx, "w") as f:
        f.write("storage: {retention: 15d, block_chunk_encoding: xor}\nquery_cache: {enabled: false}\n")
    servers = {}
    try:
        servers["vigil-dense"] = Server("vigil", os.path.join(a.work, "vigil-dense"), cfg)
        servers["vigil-xor"] = Server("vigil", os.path.join(a.work, "vigil-xor"), cfgx)
        servers["prometheus"] = Server("prometheus", os.path.join(a.work, "prom"))
        for s in servers.values():
            s.wait_ready()
        # Prometheus looks at its blocks a minute after start; give every server that long, then wait
        # for the block lists to stop changing
        time.sleep(a.compact_wait)
        settled = settle_blocks(list(servers.values()), quiet=a.quiet)
        disk = {k: blocks_bytes(s.data) for k, s in servers.items()}
        for k in disk:
            disk[k]["bytes_per_sample"] = disk[k]["bytes"] / a.samples if a.samples else None
        emit({"case": "disk_after_compaction", "settled_s": settled, "disk": disk,
              "rss": {k: rss_split(s.pid) for k, s in servers.items()}})
        end = a.end - a.end % a.step
        start = end - int(a.hours * 3600)
        times = {k: {q: [] for q, _ in QUERIES} for k in servers}
        check = {}
        for rep in range(a.reps + 1):  # round 0 is the warm-up
            for qn, q in QUERIES:
                for k, s in servers.items():
                    t0 = time.time()
                    resp = s.query("/api/v1/query_range", {"query": q, "start": start, "end": end, "step": a.step})
                    dt = time.time() - t0
                    if rep == 0:
                        check.setdefault(qn, {})[k] = summarize(resp)
                    else:
                        times[k][qn].append(dt)
        for qn, _ in QUERIES:
            row = {"case": "query", "query": qn, "start": start, "end": end, "step": a.step,
                   "result": check[qn]}
            for k in servers:
                row[k + "_ms"] = round(statistics.median(times[k][qn]) * 1000, 1)
            p = row["prometheus_ms"]
            row["dense/prom"] = round(row["vigil-dense_ms"] / p, 3)
            row["xor/prom"] = round(row["vigil-xor_ms"] / p, 3)
            emit(row)
    finally:
        for s in servers.values():
            s.stop()


# ----------------------------------------------------------------------------------- memory, restart
def cmd_memrestart(a):
    gen = None
    s = None
    out = {"case": "memrestart", "system": a.system, "history": a.history, "data": a.data}
    try:
        port = free_port()
        scrape = os.path.join(os.path.dirname(a.data.rstrip("/")), "scrape-%s.yml" % a.system)
        txt = subprocess.run([sys.executable, GEN_TARGETS, "config", "--targets", str(a.targets), "--series-per-target",
                              str(a.series_per_target), "--port", str(port), "--interval", a.interval],
                             capture_output=True, text=True, check=True).stdout
        cfg = scrape
        with open(cfg, "w") as f:
            f.write(txt)
            if a.system == "vigil":
                f.write("storage: {retention: 15d}\n")
        quiet_cfg = os.path.join(os.path.dirname(a.data.rstrip("/")), "noscrape-%s.yml" % a.system)
        with open(quiet_cfg, "w") as f:
            f.write("storage: {retention: 15d}\n" if a.system == "vigil" else "global: {scrape_interval: 15s}\n")
        gen = subprocess.Popen([sys.executable, GEN_TARGETS, "serve", "--targets", str(a.targets), "--series-per-target",
                                str(a.series_per_target), "--port", str(port), "--max-seconds", str(a.window + 3600)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            if http_get("http://127.0.0.1:%d/healthz" % port, timeout=2)[0] == 200:
                break
            time.sleep(0.25)
        s = Server(a.system, a.data, cfg)
        out["first_ready_s"] = round(s.wait_ready(), 2)
        t0 = time.time()
        samples = []
        while time.time() - t0 < a.window:
            time.sleep(5)
            samples.append(rss_split(s.pid))
        q = s.query("/api/v1/query", {"query": 'count({__name__=~".+"})'})
        series = int(float(q["data"]["result"][0]["value"][1])) if q["data"]["result"] else 0
        fin = rss_split(s.pid)
        out.update({"active_series": series, "rss": fin, "rss_per_series": fin["VmRSS"] / series,
                    "anon_per_series": fin.get("RssAnon", 0) / series,
                    "rss_median_last_half_per_series": statistics.median(x["VmRSS"] for x in samples[len(samples) // 2:]) / series})
        if a.system == "vigil":
            out["head_series"] = s.metric("vigil_head_series")
        log(out)
        s.stop()
        s = None
        gen.terminate()
        gen.wait()
        gen = None
        if a.system != "victoriametrics":
            b = blocks_bytes(a.data)
            out["blocks"] = b["blocks"]
            out["data_bytes"] = dir_bytes(a.data)[0]
            restarts = []
            for _ in range(a.restarts):
                s = Server(a.system, a.data, quiet_cfg)
                restarts.append(round(s.wait_ready(poll=0.01), 3))
                s.stop()
                s = None
            out["restart_ready_s"] = restarts
            out["restart_median_s"] = statistics.median(restarts)
        emit(out)
    finally:
        if s:
            s.stop()
        if gen:
            gen.terminate()
            gen.wait()


# ---------------------------------------------------------------------------------- head compaction
def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):
    return uvarint((num << 3) | 2) + uvarint(len(payload)) + payload


def snappy_literal(data):
    """A valid snappy block holding `data` as literals only (no compression; the servers decode it)."""
    out = bytearray(uvarint(len(data)))
    i = 0
    while i < len(data):
        n = min(65536, len(data) - i)
        out.append(61 << 2)  # literal, length-1 in the next 2 bytes
        out += struct.pack("<H", n - 1)
        out += data[i:i + n]
        i += n
    return bytes(out)


def cmd_headcompact(a):
    d = a.data
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cfg = os.path.join(os.path.dirname(d.rstrip("/")), "vigil-hc.yml")
    with open(cfg, "w") as f:
        f.write("storage: {block_duration: %s, retention: 1d}\nlimits: {max_series_total: 0}\n" % a.block_duration)
    # one label set per series, encoded once: TimeSeries.labels (field 1) of Label{name=1, value=2}
    labels = []
    for i in range(a.series):
        ls = [("__name__", "hc_metric_%d" % (i % 50)), ("instance", "host-%05d:9100" % (i // 500)),
              ("job", "node"), ("series", str(i))]
        labels.append(b"".join(field(1, field(1, k.encode()) + field(2, v.encode())) for k, v in ls))
    s = Server("vigil", d, cfg)
    lat = []
    try:
        s.wait_ready()
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
        per_round = a.series
        batches = (per_round + a.batch - 1) // a.batch
        t_begin = time.time()
        comp0 = s.metric("vigil_tsdb_compactions_total") or 0
        rnd = 0
        last_ack = None
        max_gap = 0.0
        sent = 0
        while time.time() - t_begin < a.duration:
            t_round = t_begin + rnd * a.interval
            ts = int(t_round * 1000)
            for b in range(batches):
                # pace: batch b of this round is due at t_round + b * interval / batches
                due = t_round + b * a.interval / batches
                now = time.time()
                if due > now:
                    time.sleep(due - now)
                lo, hi = b * a.batch, min(per_round, (b + 1) * a.batch)
                tsb = b"\x10" + uvarint(ts)
                body = b"".join(field(1, labels[i] + field(2, b"\x09" + struct.pack("<d", float((i + rnd) % 1000)) + tsb))
                                for i in range(lo, hi))
                req = snappy_literal(body)
                t0 = time.time()
                conn.request("POST", "/api/v1/write", body=req, headers={
                    "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                    "X-Prometheus-Remote-Write-Version": "0.1.0"})
                r = conn.getresponse()
                body_err = r.read()[:300]
                t1 = time.time()
                if r.status // 100 != 2:
                    raise SystemExit("remote_write: HTTP %d %s" % (r.status, body_err))
                lat.append((t0 - t_begin, t1 - t0))
                if last_ack is not None:
                    max_gap = max(max_gap, t1 - last_ack)
                last_ack = t1
                sent += hi - lo
            rnd += 1
        comp = (s.metric("vigil_tsdb_compactions_total") or 0) - comp0
        ls = sorted(x[1] for x in lat)
        worst = max(lat, key=lambda x: x[1])
        emit({"case": "headcompact", "series": a.series, "interval_s": a.interval, "block_duration": a.block_duration,
              "duration_s": round(time.time() - t_begin, 1), "requests": len(lat), "samples": sent,
              "batch": a.batch, "rounds": rnd, "head_compactions": comp,
              "p50_ms": round(ls[len(ls) // 2] * 1000, 1), "p99_ms": round(ls[int(len(ls) * 0.99)] * 1000, 1),
              "max_ms": round(worst[1] * 1000, 1), "max_at_s": round(worst[0], 1),
              "longest_gap_between_acks_s": round(max_gap, 3), "rss": rss_split(s.pid),
              "head_series": s.metric("vigil_head_series"),
              "behind_schedule_s": round(time.time() - (t_begin + rnd * a.interval), 1)})
        if a.latency_out:
            with open(a.latency_out, "w") as f:
                for t, l in lat:
                    f.write("%.3f %.4f\n" % (t, l))
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = ap.add_subparsers(dest="cmd", required=True)
    p = sp.add_parser("disk")
    p.add_argument("om")
    p.add_argument("prom_txt")
    p.add_argument("--work", required=True)
    p.add_argument("--samples", type=int, required=True)
    p.add_argument("--series", type=int, required=True)
    p.add_argument("--vigil-block-duration", default="2h",
                   help="vigil import's block range (promtool always writes 2h blocks)")
    p = sp.add_parser("queries")
    p.add_argument("--work", required=True)
    p.add_argument("--end", type=int, required=True)
    p.add_argument("--hours", type=float, default=24)
    p.add_argument("--step", type=int, default=60)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--samples", type=int, default=0)
    p.add_argument("--compact-wait", type=int, default=70)
    p.add_argument("--quiet", type=int, default=20)
    p = sp.add_parser("memrestart")
    p.add_argument("--system", required=True, choices=["vigil", "prometheus", "victoriametrics"])
    p.add_argument("--data", required=True)
    p.add_argument("--history", default="none")
    p.add_argument("--targets", type=int, default=50)
    p.add_argument("--series-per-target", type=int, default=2000)
    p.add_argument("--interval", default="1s")
    p.add_argument("--window", type=int, default=120)
    p.add_argument("--restarts", type=int, default=3)
    p = sp.add_parser("headcompact")
    p.add_argument("--data", required=True)
    p.add_argument("--series", type=int, default=1000000)
    p.add_argument("--interval", type=float, default=15)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--duration", type=int, default=300)
    p.add_argument("--block-duration", default="1m")
    p.add_argument("--latency-out", default=None)
    a = ap.parse_args()
    return {"disk": cmd_disk, "queries": cmd_queries, "memrestart": cmd_memrestart, "headcompact": cmd_headcompact}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
