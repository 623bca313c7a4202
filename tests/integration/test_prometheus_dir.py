#!/usr/bin/env python3
"""vigil on Prometheus' data and Prometheus on vigil's, compared query by query.

The same OpenMetrics data (the compliance test's demo_* series over 6 h) becomes Prometheus blocks
(`promtool tsdb create-blocks-from openmetrics`) and vigil blocks (`vigil import openmetrics`, dense and
xor chunks). A real Prometheus 2.42 first runs on the promtool directory, so it also holds Prometheus'
own wal/ and chunks_head/ when vigil opens a copy of it: vigil must set them aside (renamed, logged,
nothing deleted) and serve the blocks. Then these serve the same instant and range queries (rate,
sum by, histogram_quantile, offset, subqueries), and every answer must equal the oracle's (Prometheus
on the promtool blocks):
  - vigil on the Prometheus directory, on its dense import and on its xor import;
  - Prometheus 2.42 on vigil's xor import and on `vigil tsdb export --format prometheus` of the dense one.
`promtool tsdb analyze` must accept vigil's xor blocks. Also: import throughput against promtool's on the
same file, and the bytes of each directory's blocks, printed as TAP comments. Output is TAP."""
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import test_compliance_diff as cd  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]
HOURS = 6
QUERIES = [
    "demo_cpu_usage_seconds_total",
    'rate(demo_cpu_usage_seconds_total{mode="idle"}[5m])',
    "sum by (mode) (rate(demo_cpu_usage_seconds_total[5m]))",
    "sum by (instance) (demo_memory_usage_bytes) / 1e6",
    "histogram_quantile(0.9, sum by (le) (rate(demo_api_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(demo_api_request_duration_seconds_bucket[10m]))",
    "demo_memory_usage_bytes offset 1h",
    "rate(demo_cpu_usage_seconds_total[5m] offset 2h)",
    "max_over_time(rate(demo_cpu_usage_seconds_total[5m])[30m:1m])",
    "avg_over_time(demo_disk_usage_bytes[2h])",
    "count_over_time(demo_intermittent_metric[10m])",
    "resets(demo_cpu_usage_seconds_total[3h])",
    "deriv(demo_disk_usage_bytes[1h])",
    "topk(2, demo_num_cpus)",
]


def dir_bytes(d):
    return sum(os.path.getsize(f) for b in glob.glob(f"{d}/*/") if os.path.exists(f"{b}meta.json")
               for f in glob.glob(f"{b}**", recursive=True) if os.path.isfile(f))


def run(argv):
    t = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True)
    return p, time.monotonic() - t


def main():
    prom, promtool = which("prometheus"), which("promtool")
    if not prom or not promtool:
        skip("Prometheus data directory test", "prometheus/promtool not installed")
        finish("integration_prometheus_dir")
    tmp = tempfile.mkdtemp(prefix="vigil-promdir-")
    procs = []
    try:
        cd.HOURS = HOURS
        t0 = (int(time.time()) // 7200 - HOURS // 2 - 2) * 7200 + 1234
        with open(f"{tmp}/data.om", "w") as f:
            f.write(cd.om_data(t0, random.Random(11)))
        n_samples = sum(1 for line in open(f"{tmp}/data.om") if not line.startswith("#"))
        p, tp = run([promtool, "tsdb", "create-blocks-from", "openmetrics", f"{tmp}/data.om", f"{tmp}/p"])
        check("promtool creates blocks", p.returncode == 0, p.stderr[-1500:])
        p, td = run([VIGIL, "import", "openmetrics", f"{tmp}/data.om", "--data", f"{tmp}/vd"])
        check("vigil import (dense)", p.returncode == 0 and f"imported {n_samples} samples" in p.stdout, p.stdout + p.stderr[-1500:])
        p, tx = run([VIGIL, "import", "openmetrics", f"{tmp}/data.om", "--data", f"{tmp}/vx", "--chunk-encoding", "xor"])
        check("vigil import (xor)", p.returncode == 0 and f"imported {n_samples} samples" in p.stdout, p.stdout + p.stderr[-1500:])
        p = subprocess.run([VIGIL, "tsdb", "export", "--format", "prometheus", f"{tmp}/vd", f"{tmp}/ve"], capture_output=True, text=True)
        check("vigil tsdb export --format prometheus", p.returncode == 0, p.stderr[-1500:])
        print(f"# import of {n_samples} samples: promtool {n_samples / tp:,.0f} samples/s, vigil dense {n_samples / td:,.0f}, "
              f"vigil xor {n_samples / tx:,.0f} (debug build with sanitizers)")
        print(f"# block bytes: promtool {dir_bytes(f'{tmp}/p'):,}, vigil xor {dir_bytes(f'{tmp}/vx'):,}, "
              f"vigil dense {dir_bytes(f'{tmp}/vd'):,}")
        for d in ("vx", "ve"):
            p = subprocess.run([promtool, "tsdb", "analyze", f"{tmp}/{d}"], capture_output=True, text=True)
            check(f"promtool tsdb analyze accepts vigil's {d} blocks", p.returncode == 0 and "Block ID" in p.stdout, p.stderr[-800:])
        p = subprocess.run([promtool, "tsdb", "list", f"{tmp}/vx"], capture_output=True, text=True)
        check("promtool tsdb list reads vigil's xor blocks", p.returncode == 0 and p.stdout.count("\n") >= HOURS // 2 + 1, p.stdout + p.stderr)

        # a real Prometheus writes its own wal/ and chunks_head/ into the promtool directory
        pport = free_port()
        with open(f"{tmp}/prom.yml", "w") as f:
            f.write("global: {evaluation_interval: 1m}\n")
        pargs = lambda d, port: [prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={d}",  # noqa: E731
                                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d"]
        with open(f"{tmp}/prom-warmup.yml", "w") as f:  # it scrapes itself, so its head and WAL hold samples
            f.write(f"global: {{scrape_interval: 1s}}\nscrape_configs: [{{job_name: self, static_configs: [{{targets: ['127.0.0.1:{pport}']}}]}}]\n")
        pr = Proc(pargs(f"{tmp}/p", pport)[:1] + [f"--config.file={tmp}/prom-warmup.yml"] + pargs(f"{tmp}/p", pport)[2:],
                  f"{tmp}/prom-warmup.log")
        check("prometheus starts on the promtool blocks", wait_http(pport, "/-/ready", timeout=30))
        wait_until(lambda: '"result":[{' in request(pport, "/api/v1/query?query=up")[2], timeout=30)
        time.sleep(3)  # a few scrapes into its WAL
        pr.stop()
        wal_bytes = sum(os.path.getsize(f) for f in glob.glob(f"{tmp}/p/wal/**", recursive=True) if os.path.isfile(f))
        check("prometheus left its wal/ (with records) and chunks_head/", wal_bytes > 0 and os.path.isdir(f"{tmp}/p/chunks_head"), wal_bytes)
        had_chunks = bool(os.listdir(f"{tmp}/p/chunks_head"))
        shutil.copytree(f"{tmp}/p", f"{tmp}/pv")
        shutil.copytree(f"{tmp}/vx", f"{tmp}/px")
        wal_files = sorted(os.listdir(f"{tmp}/p/wal"))

        servers = {}
        ports = {}
        for name, d in (("oracle", f"{tmp}/p"), ("prometheus on vigil xor", f"{tmp}/px"), ("prometheus on vigil export", f"{tmp}/ve")):
            ports[name] = free_port()
            servers[name] = Proc(pargs(d, ports[name]), f"{tmp}/{name.replace(' ', '_')}.log")
        for name, d in (("vigil on the prometheus dir", f"{tmp}/pv"), ("vigil on its dense import", f"{tmp}/vd"),
                        ("vigil on its xor import", f"{tmp}/vx")):
            ports[name] = free_port()
            with open(f"{tmp}/{ports[name]}.yml", "w") as f:
                f.write(f"storage: {{path: {d}, retention: 30d}}\n")
            servers[name] = Proc([VIGIL, "serve", "--config", f"{tmp}/{ports[name]}.yml", "--listen", f"127.0.0.1:{ports[name]}"],
                                 f"{tmp}/{name.replace(' ', '_')}.log")
        procs += list(servers.values())
        for name in servers:
            check(f"{name} starts", wait_http(ports[name], "/-/ready", timeout=60), servers[name].output()[-1500:])

        moved = sorted(x for x in os.listdir(f"{tmp}/pv") if ".prometheus-" in x)
        check("vigil set Prometheus' wal/ (and chunks_head/ when it held files) aside, renamed",
              [m.split(".")[0] for m in moved] == (["chunks_head", "wal"] if had_chunks else ["wal"]), (moved, had_chunks))
        wal_aside = [m for m in moved if m.startswith("wal.")]
        check("the moved log is intact (nothing deleted)", wal_aside and sorted(os.listdir(f"{tmp}/pv/{wal_aside[0]}")) == wal_files)
        log = servers["vigil on the prometheus dir"].output()
        check("vigil logs what it moved", "Prometheus write-ahead log was moved aside" in log and
              (not had_chunks or "head chunk files were moved aside" in log), log[-1500:])

        end = t0 + HOURS * 3600 - 900
        total, nonempty, diffs = 0, 0, []
        for q in QUERIES:
            for path, params in (("/api/v1/query", [("time", str(end))]), ("/api/v1/query", [("time", str(end - 3 * 3600 + 17))]),
                                 ("/api/v1/query_range", [("start", str(end - 4 * 3600)), ("end", str(end)), ("step", "60")])):
                qs = urllib.parse.urlencode([("query", q)] + params)
                os_, _, ob = request(ports["oracle"], f"{path}?{qs}", timeout=30)
                total += 1
                try:
                    body = json.loads(ob)
                    nonempty += body["status"] == "success" and body["data"]["result"] not in ([], None)
                except ValueError:
                    pass
                for name in servers:
                    if name == "oracle":
                        continue
                    s, _, b = request(ports[name], f"{path}?{qs}", timeout=30)
                    if s != os_ or not cd.same(ob, b):
                        diffs.append((name, q, path, params, os_, s, ob[:200], b[:200]))
        print(f"# {total} queries x {len(servers) - 1} servers compared with Prometheus on the promtool blocks; {len(diffs)} differ")
        check("the oracle's answers carry data (not vacuous)", nonempty >= total - 3, (nonempty, total))
        for d in diffs[:20]:
            print(f"#   {d[0]}: {d[2]} {d[1]} {d[3]}\n#     oracle {d[4]} {d[6]}\n#     other  {d[5]} {d[7]}")
        for name in servers:
            if name != "oracle":
                check(f"{name}: every answer equals Prometheus'", not [d for d in diffs if d[0] == name],
                      f"{len([d for d in diffs if d[0] == name])} differ")
        for name, pr_ in servers.items():
            check(f"{name} survives", pr_.alive(), pr_.output()[-1000:])
    finally:
        for p_ in procs:
            p_.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_prometheus_dir")


if __name__ == "__main__":
    main()
