#!/usr/bin/env python3
"""remote_write out throughput and CPU per forwarded sample, vigil against Prometheus 2.42 on the same
load: each scrapes one target of N series every second (alone, one after the other), first without and
then with remote_write to VictoriaMetrics, for DURATION seconds; CPU is utime+stime from /proc/<pid>/stat.
Prints one line per case:  name  cpu_s  samples_forwarded  samples/s  added_cpu_us_per_forwarded_sample

usage: rw_out_bench.py VIGIL [SERIES=10000] [DURATION=60]
(build vigil with --buildtype=release; needs prometheus and victoria-metrics on PATH)"""
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

VIGIL = sys.argv[1]
SERIES = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
DURATION = float(sys.argv[3]) if len(sys.argv) > 3 else 60
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target(http.server.BaseHTTPRequestHandler):
    """N gauges whose values change every second (the body is rendered once per second)."""
    cache = (None, b"")
    mu = threading.Lock()

    def do_GET(self):
        sec = int(time.time())
        with Target.mu:
            if Target.cache[0] != sec:
                lines = ["# TYPE bench_value gauge"]
                lines += [f'bench_value{{i="{i}",group="g{i % 100}"}} {(sec * 7 + i) % 1000}' for i in range(SERIES)]
                Target.cache = (sec, ("\n".join(lines) + "\n").encode())
            body = Target.cache[1]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK


def metric(port, name):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    v = 0.0
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            v += float(line.rsplit(" ", 1)[1])
    return v


def wait_ready(port, path):
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"not ready on {port}{path}")


def run(kind, forward, tport, vmport, tmp):
    port = free_port()
    d = tempfile.mkdtemp(dir=tmp)
    scrape = (f"global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n"
              f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['127.0.0.1:{tport}']}}]\n")
    if forward:
        scrape += (f"remote_write:\n  - url: http://127.0.0.1:{vmport}/api/v1/write\n"
                   f"    queue_config: {{max_samples_per_send: 2000, capacity: 10000, batch_send_deadline: 5s}}\n")
    with open(f"{d}/cfg.yml", "w") as f:
        f.write(scrape)
    if kind == "vigil":
        argv = [VIGIL, "serve", "--config", f"{d}/cfg.yml", "--listen", f"127.0.0.1:{port}", "--data", f"{d}/data"]
        ready, sent = "/-/ready", "vigil_remote_storage_samples_total"
    else:
        argv = ["prometheus", f"--config.file={d}/cfg.yml", f"--storage.tsdb.path={d}/data",
                f"--web.listen-address=127.0.0.1:{port}"]
        ready, sent = "/-/ready", "prometheus_remote_storage_samples_total"
    log = open(f"{d}/log", "w")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, ready)
        time.sleep(10)  # warm up: series created, first scrapes done
        c0, s0, t0 = cpu_s(p.pid), metric(port, sent) if forward else 0, time.time()
        time.sleep(DURATION)
        c1, s1, t1 = cpu_s(p.pid), metric(port, sent) if forward else 0, time.time()
        return c1 - c0, s1 - s0, t1 - t0
    finally:
        p.terminate()
        p.wait(30)
        log.close()


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-rwbench-")
    tport, vmport = free_port(), free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", tport), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    vm = subprocess.Popen(["victoria-metrics", f"-storageDataPath={tmp}/vm", f"-httpListenAddr=127.0.0.1:{vmport}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(vmport, "/health")
        res = {}
        for kind in ("vigil", "prometheus"):
            for fwd in (False, True):
                res[(kind, fwd)] = run(kind, fwd, tport, vmport, tmp)
        print(f"# {SERIES} series scraped every 1s, {DURATION:.0f}s measured per case, forwarding to VictoriaMetrics")
        for kind in ("vigil", "prometheus"):
            base = res[(kind, False)][0]
            cpu, n, secs = res[(kind, True)]
            print(f"{kind:<10} scrape only      cpu_s={base:7.2f}")
            print(f"{kind:<10} scrape+forward   cpu_s={cpu:7.2f} forwarded={int(n)} rate={n / secs:9.0f}/s "
                  f"added_cpu_per_sample={(cpu - base) / n * 1e6 if n else float('nan'):.2f}us")
    finally:
        srv.shutdown()
        vm.terminate()
        vm.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
