#!/usr/bin/env python3
"""Turns the shared benchmark's synthetic targets into a samples file for bench_tsdb.

Loads gen_targets.py from the path given (it is not part of vigil), renders --scrapes payloads per
target at --interval seconds apart, adds job/instance labels as a scrape would, and writes:

    vigil-bench-samples 1
    series N
    <metric{label="value",...}>        N lines, job and instance included
    scrapes M
    t <ms>                              then N values, one per line, M times

--jitter-ms J adds a uniform 0..J ms delay to each scrape timestamp (per target), like an unaligned
scraper; 0 gives exactly regular timestamps.

    python3 bench/tsdb/gen_samples.py ../shared/bench/gen_targets.py /tmp/samples.txt --targets 10
"""
import argparse
import importlib.util
import random
import sys

JOBS = ["api", "checkout", "search", "payments", "auth"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gen_targets")
    ap.add_argument("out")
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--series-per-target", type=int, default=2000)
    ap.add_argument("--scrapes", type=int, default=240)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--jitter-ms", type=int, default=0)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("gen_targets", a.gen_targets)
    gt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gt)
    tg = gt.Targets(a.targets, a.series_per_target, 0.0, 10.0, gt.epoch_day_default())
    t0 = float(int(gt.epoch_day_default()) + 3600)
    rnd = random.Random(42)

    def parse(payload):
        out = []
        for line in payload.split("\n"):
            if not line or line[0] == "#":
                continue
            sp = line.rindex(" ")
            out.append((line[:sp], line[sp + 1:]))
        return out

    names = []
    for i in range(a.targets):
        extra = 'job="%s",instance="10.0.%d.%d:9100"' % (JOBS[i % len(JOBS)], i // 250, i % 250)
        for lhs, _ in parse(tg.payload(i, t0)):
            if "{" in lhs:
                names.append(lhs[:-1] + "," + extra + "}")
            else:
                names.append(lhs + "{" + extra + "}")
    with open(a.out, "w") as f:
        f.write("vigil-bench-samples 1\nseries %d\n" % len(names))
        f.write("\n".join(names) + "\n")
        f.write("scrapes %d\n" % a.scrapes)
        for k in range(a.scrapes):
            t = t0 + k * a.interval
            vals = []
            for i in range(a.targets):
                vals.extend(v for _, v in parse(tg.payload(i, t)))
            if len(vals) != len(names):
                sys.exit("series count changed between scrapes")
            ms = int(t * 1000) + (rnd.randint(0, a.jitter_ms) if a.jitter_ms else 0)
            f.write("t %d\n" % ms)
            f.write("\n".join(vals) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
