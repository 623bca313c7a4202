#!/usr/bin/env python3
"""Relabeling against Prometheus 2.42 as the oracle: a table of relabel cases (every action, regex
captures and anchoring, separators, missing labels, $-expansion corner cases, hashmod, labelmap,
keep/drop, label name/value edge cases) is turned into one scrape job per case; vigil and a real
Prometheus load the same file and their /api/v1/targets must agree on every resulting target's labels
and on which targets are dropped. Output is TAP."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import Proc, check, finish, free_port, get_json, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]

# (group labels, relabel rules as YAML flow mappings)
CASES = [
    ({"a": "foo"}, ["{source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}"]),
    ({"a": "foo"}, ["{source_labels: [a], target_label: b}"]),
    ({"a": "x", "b": "y"}, ["{source_labels: [a, b], separator: '|', regex: '(.*)\\|(.*)', target_label: c, replacement: '$2-$1'}"]),
    ({"a": "x"}, ["{source_labels: [a, zz], target_label: c}"]),
    ({"a": "foo"}, ["{source_labels: [a], regex: 'o', target_label: d, replacement: x}"]),
    ({"a": "foo", "b": "bar"}, ["{source_labels: [a], regex: 'foo', target_label: b, replacement: ''}"]),
    ({"a": "foo", "b": "bar"}, ["{source_labels: [a], regex: '(f)oo', target_label: b, replacement: '$1x'}"]),
    ({"a": "foo"}, ["{source_labels: [a], regex: '(f)oo', target_label: b, replacement: '${1}x'}"]),
    ({"a": "foo"}, ["{source_labels: [a], regex: '(?P<first>f)(?P<rest>.*)', target_label: b, replacement: '$rest$$${first}$'}"]),
    ({"a": "foo"}, ["{source_labels: [a], regex: '(.*)', target_label: 'x_$1', replacement: v}"]),
    ({"a": "1bad"}, ["{source_labels: [a], regex: '(.*)', target_label: '$1', replacement: v}"]),
    ({"a": "foo"}, ["{source_labels: [a], regex: 'f.*', action: keep}"]),
    ({"a": "bar"}, ["{source_labels: [a], regex: 'f.*', action: keep}"]),
    ({"a": "foo"}, ["{source_labels: [a], regex: 'f.*', action: drop}"]),
    ({"a": "bar"}, ["{source_labels: [zz], regex: '', action: keep}"]),
    ({"a": "x", "b": "x"}, ["{source_labels: [a], target_label: b, action: keepequal}"]),
    ({"a": "x", "b": "y"}, ["{source_labels: [a], target_label: b, action: keepequal}"]),
    ({"a": "x", "b": "x"}, ["{source_labels: [a], target_label: b, action: dropequal}"]),
    ({"c": "baz"}, ["{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}"]),
    ({"c": "foo"}, ["{source_labels: [c], target_label: d, action: hashmod, modulus: 7}"]),
    ({"c": "foo", "e": "bar"}, ["{source_labels: [c, e], target_label: d, action: hashmod, modulus: 3}"]),
    ({"__meta_pod": "p", "__meta_ns": "n"}, ["{action: labelmap, regex: '__meta_(.+)'}"]),
    ({"a": "1"}, ["{action: labelmap, regex: '(a)', replacement: '${1}_copy'}"]),
    ({"tmp_a": "1", "tmp_b": "2", "keep": "3"}, ["{action: labeldrop, regex: 'tmp_.*'}"]),
    ({"x1": "a", "x2": "b", "other": "o"}, ["{action: labelkeep, regex: 'job|instance|x.*'}"]),
    ({"a": "FoO"}, ["{source_labels: [a], target_label: b, action: lowercase}"]),
    ({"a": "FoO"}, ["{source_labels: [a], target_label: b, action: uppercase}"]),
    ({}, ["{source_labels: [__address__], regex: '([^:]+):\\d+', target_label: host}",
          "{source_labels: [host], target_label: role, replacement: web}"]),
    ({}, ["{target_label: instance, replacement: 'fixed:1'}"]),
    ({}, ["{source_labels: [__address__], target_label: __param_target}",
          "{target_label: __address__, replacement: '127.0.0.1:2'}"]),
    ({}, ["{target_label: __metrics_path__, replacement: '/probe'}", "{target_label: __scheme__, replacement: https}"]),
    ({"a": "x"}, ["{target_label: job, replacement: renamed}"]),
    ({"a": "a.b.c"}, ["{source_labels: [a], regex: '([^.]+)\\.(.*)', target_label: first, replacement: '$1'}",
                      "{source_labels: [a], regex: '([^.]+)\\.(.*)', target_label: rest, replacement: '$2'}"]),
    ({"a": "x"}, ["{source_labels: [a], regex: 'X', target_label: b, replacement: hit}"]),
    ({"a": "x"}, ["{source_labels: [a], regex: '(?i)X', target_label: b, replacement: hit}"]),
    ({"a": "é-ü"}, ["{source_labels: [a], regex: '(.)-(.)', target_label: b, replacement: '$2$1'}"]),
    ({"a": "foo"}, ["{source_labels: [a], regex: 'foo|bar', target_label: b, replacement: '$0'}"]),
    ({"a": "v"}, ["{source_labels: [a], target_label: b, replacement: '$1$1$1'}"]),
    ({}, ["{target_label: __scrape_interval__, replacement: 2s}"]),
    ({"a": "foo"}, ["{source_labels: [a], regex: 'foo', action: drop}", "{target_label: never, replacement: x}"]),
]


def view(port):
    st, j = get_json(port, "/api/v1/targets")
    if st != 200:
        return None
    act = {t["scrapePool"]: (t["labels"], t["scrapeUrl"], t["scrapeInterval"]) for t in j["data"]["activeTargets"]}
    dropped = sorted(t["discoveredLabels"]["job"] for t in j["data"]["droppedTargets"])
    return act, dropped


def main():
    prom = which("prometheus")
    if not prom:
        skip("relabel oracle", "prometheus not installed")
        finish("integration_relabel_oracle")
    tmp = tempfile.mkdtemp(prefix="vigil-relabel-")
    procs = []
    try:
        lines = ["global: {scrape_interval: 5s, scrape_timeout: 1s}", "scrape_configs:"]
        for i, (labels, rules) in enumerate(CASES):
            lab = ", ".join(f"{k}: {json.dumps(v)}" for k, v in labels.items())
            lines += [f"  - job_name: case{i:02d}", "    static_configs:", f"      - targets: ['127.0.0.1:1']",
                      f"        labels: {{{lab}}}", "    relabel_configs:"] + [f"      - {r}" for r in rules]
        cfg = os.path.join(tmp, "relabel.yml")
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        vport, pport = free_port(), free_port()
        vig = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{vport}", "--data", f"{tmp}/v"], f"{tmp}/vigil.log")
        pr = Proc([prom, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/p", f"--web.listen-address=127.0.0.1:{pport}"],
                  f"{tmp}/prom.log")
        procs += [vig, pr]
        check("vigil and prometheus accept the same relabel file", wait_http(vport, "/-/ready") and wait_http(pport, "/-/ready"),
              vig.output()[-1500:] + pr.output()[-1500:])
        # a case whose result is not scrapeable (no __address__ left) is listed by neither
        n = len(CASES) - 1
        full = lambda port: (lambda v: v if v and len(v[0]) + len(v[1]) == n else None)(view(port))
        pv, vv = wait_until(lambda: full(pport), 30), wait_until(lambda: full(vport), 30)
        check(f"both list {n} of {len(CASES)} cases", pv and vv, (pv and len(pv[0]), vv and len(vv[0])))
        if pv and vv:
            for i, (labels, rules) in enumerate(CASES):
                job = f"case{i:02d}"
                p, v = pv[0].get(job), vv[0].get(job)
                pd, vd = job in pv[1], job in vv[1]
                check(f"{job} {rules[0][:60]}: same result", (p, pd) == (v, vd), f"prometheus {p} dropped={pd}\nvigil      {v} dropped={vd}")
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_relabel_oracle")


if __name__ == "__main__":
    main()
