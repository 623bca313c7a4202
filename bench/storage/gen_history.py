#!/usr/bin/env python3
"""Writes the shared benchmark's synthetic targets as history: an OpenMetrics file (timestamps in
seconds, ends with `# EOF`) for `vigil import openmetrics` and `promtool tsdb create-blocks-from
openmetrics`, and optionally the same samples in the Prometheus text format (timestamps in ms) for
VictoriaMetrics' /api/v1/import/prometheus.

Every target of gen_targets.py (loaded from the path given; it is not part of vigil) is rendered at
START, START+INTERVAL, ... for --hours, with the job and instance labels a scrape with gen_targets'
scrape config would add, so the series are exactly the ones the live harness produces. Timestamps are
exact multiples of the interval (a real scraper adds a few ms of jitter). Scrapes are written in time
order; --procs workers render disjoint time slices which are concatenated.

    python3 bench/storage/gen_history.py ../shared/bench/gen_targets.py /tmp/h.om \
        --targets 4 --hours 24 --interval 15 --end 1700000000 [--vm-out /tmp/h.prom]
"""
import argparse
import importlib.util
import multiprocessing
import os
import shutil
import sys
import time



def load_gt(path):
    spec = importlib.util.spec_from_file_location("gen_targets", path)
    gt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gt)
    return gt


def worker(args):
    gt_path, targets, spt, epoch_day, times, om_path, vm_path = args
    gt = load_gt(gt_path)
    tg = gt.Targets(targets, spt, 0.0, 10.0, epoch_day)
    extra = []
    for i in range(targets):
        _, inst = gt.target_meta(i)
        extra.append(',job="%s",instance="%s"} ' % (gt.JOBS[i % len(gt.JOBS)], inst))
    n = 0
    with open(om_path, "w") as om, (open(vm_path, "w") if vm_path else open(os.devnull, "w")) as vm:
        for t in times:
            for i in range(targets):
                body = "\n".join(l for l in tg.payload(i, float(t)).split("\n") if l and l[0] != "#") + "\n"
                lines = body.count("\n")
                body = body.replace("} ", extra[i])
                if body.count(extra[i]) != lines:
                    raise SystemExit("target %d: a line without labels" % i)
                n += lines
                om.write(body.replace("\n", " %d\n" % t))
                if vm_path:
                    vm.write(body.replace("\n", " %d000\n" % t))
    return n


def concat(parts, out, tail):
    with open(out, "wb") as f:
        for p in parts:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, f, 16 << 20)
            os.unlink(p)
        f.write(tail)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gen_targets")
    ap.add_argument("out")
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--series-per-target", type=int, default=2000)
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--interval", type=int, default=15, help="seconds between samples")
    ap.add_argument("--end", type=int, default=None, help="unix seconds after the last sample (default: now - 1h, "
                    "rounded down to the interval)")
    ap.add_argument("--vm-out", default=None)
    ap.add_argument("--procs", type=int, default=2)
    a = ap.parse_args()
    end = a.end if a.end is not None else int(time.time()) - 3600
    end -= end % a.interval
    n_scrapes = int(a.hours * 3600 / a.interval)
    start = end - n_scrapes * a.interval
    times = [start + k * a.interval for k in range(n_scrapes)]
    epoch_day = float((start // 86400) * 86400 - 86400)  # counters start before the history does
    step = (len(times) + a.procs - 1) // a.procs
    jobs = []
    for p in range(a.procs):
        sl = times[p * step:(p + 1) * step]
        if sl:
            jobs.append((a.gen_targets, a.targets, a.series_per_target, epoch_day, sl, "%s.part%d" % (a.out, p),
                         "%s.part%d" % (a.vm_out, p) if a.vm_out else None))
    t0 = time.time()
    with multiprocessing.Pool(len(jobs)) as pool:
        n = sum(pool.map(worker, jobs))
    concat([j[5] for j in jobs], a.out, b"# EOF\n")
    if a.vm_out:
        concat([j[6] for j in jobs], a.vm_out, b"")
    print('{"samples": %d, "series": %d, "scrapes": %d, "start": %d, "end": %d, "interval": %d, "seconds": %.1f}'
          % (n, a.targets * a.series_per_target, n_scrapes, start, end, a.interval, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
