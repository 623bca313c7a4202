#!/usr/bin/env bash
# run.sh: regenerates ../compat_cases.h — serves every input of cases.py as a scrape target to a real
# Prometheus (the `prometheus` on PATH, 2.42 for the recorded table), waits for a few scrapes, and
# records each target's health from /api/v1/targets. Needs python3, curl and free ports 19300-19301.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $sp $pp 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
cp "$here/cases.py" "$here/serve.py" .
python3 - <<'PY'
from cases import cases
cfg = "global:\n  scrape_interval: 2s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: c\n    static_configs:\n"
for i in range(len(cases)):
    cfg += f"      - targets: ['127.0.0.1:19300']\n        labels: {{__metrics_path__: '/c/{i}', case: '{i}'}}\n"
open('prom.yml', 'w').write(cfg)
PY
python3 serve.py 19300 & sp=$!
prometheus --version | head -1
prometheus --config.file=prom.yml --storage.tsdb.path=data --web.listen-address=127.0.0.1:19301 >prom.log 2>&1 & pp=$!
sleep 12
curl -sf 127.0.0.1:19301/api/v1/targets >targets.json
python3 - "$here/../compat_cases.h" <<'PY'
import json, sys
from cases import cases
d = json.load(open('targets.json'))
prom = {int(t['labels']['case']): (t['health'], t['lastError']) for t in d['data']['activeTargets']}
def cstr(b):
    out = ''
    for ch in b:
        c = chr(ch)
        if c == '"': out += '\\"'
        elif c == '\\': out += '\\\\'
        elif c == '\n': out += '\\n'
        elif c == '\t': out += '\\t'
        elif 32 <= ch < 127: out += c
        else: out += '\\%03o' % ch
    return '"' + out + '"'
lines = []
for i, (f, b) in enumerate(cases):
    health, err = prom[i]
    up, note = health == 'up', ''
    if 'is not unique' in err:
        up = True
        note = ' /* Prometheus: down at append (duplicate label); the parser accepts, normalisation rejects */'
    lines.append('    {%s, %s, %d, %s},%s' % ('OM' if f == 'om' else 'TEXT', cstr(b), len(b), 'true' if up else 'false', note))
hdr = '''/* Inputs with the scrape health Prometheus 2.42.0 gave them (up = parsed), recorded by
 * tests/unit/ingest/compat/run.sh, which serves each input as a target to a real Prometheus and reads
 * /api/v1/targets. test_expfmt.c checks that the parser accepts exactly the inputs Prometheus did.
 * Generated: do not edit by hand. */
typedef struct {
    ingest_expfmt_format_t fmt;
    const char *in;
    size_t len;
    bool prom_up;
} compat_case_t;

static const compat_case_t compat_cases[] = {
''' + '\n'.join(lines) + '\n};\n'
open(sys.argv[1], 'w').write(hdr)
print(f"{len(lines)} cases, {sum(1 for v in prom.values() if v[0] == 'up')} up")
PY
