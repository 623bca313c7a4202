#!/usr/bin/env python3
"""Alert templates against Prometheus 2.42 as the oracle: every case (a template, the alert's labels
and value) becomes one alerting rule whose annotation is the template; `promtool test rules` is run with
a deliberately wrong expected annotation, and its failure report ("got: ... Annotations:{t=...}")
gives Prometheus' own expansion. `vigil template expand` must produce exactly the same text; for an
execution error, the same message after the position (Prometheus counts columns in its prefixed
text). Templates that fail to parse are checked with `promtool check rules` the same way. Output is
TAP; skipped when promtool is not installed."""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import check, finish, skip, which  # noqa: E402

VIGIL = sys.argv[1]
INF, NAN = "Inf", "NaN"

# (template, labels, value as PromQL number text)
CASES = [
    ("{{ $value }}", {}, "1"),
    ("{{ $value }}", {}, "1234.5"),
    ("{{ $value }}", {}, "1e6"),
    ("{{ $value }}", {}, "123456"),
    ("{{ $value }}", {}, "1e21"),
    ("{{ $value }}", {}, "0.0001"),
    ("{{ $value }}", {}, "0.00001"),
    ("{{ $value }}", {}, "0.1+0.2"),
    ("{{ $value }}", {}, "-2.5e-7"),
    ("{{ $value }}", {}, INF),
    ("{{ $value }}", {}, "-" + INF),
    ("{{ $value }}", {}, NAN),
    ("{{ .Value }}", {}, "42"),
    ("{{ humanize $value }}", {}, "0"),
    ("{{ humanize $value }}", {}, "1e-9"),
    ("{{ humanize $value }}", {}, "0.001234"),
    ("{{ humanize $value }}", {}, "1234"),
    ("{{ humanize $value }}", {}, "1e27"),
    ("{{ humanize $value }}", {}, "1e30"),
    ("{{ humanize $value }}", {}, "-1234567"),
    ("{{ humanize $value }}", {}, NAN),
    ("{{ humanize $value }}", {}, INF),
    ("{{ humanize $value }}", {}, "1e-30"),
    ("{{ humanize1024 $value }}", {}, "0.5"),
    ("{{ humanize1024 $value }}", {}, "1023"),
    ("{{ humanize1024 $value }}", {}, "1048576"),
    ("{{ humanize1024 $value }}", {}, "-5e12"),
    ("{{ humanize1024 $value }}", {}, "1e30"),
    ("{{ humanizeDuration $value }}", {}, "0"),
    ("{{ humanizeDuration $value }}", {}, "0.0015"),
    ("{{ humanizeDuration $value }}", {}, "1.5e-6"),
    ("{{ humanizeDuration $value }}", {}, "59.99"),
    ("{{ humanizeDuration $value }}", {}, "3725"),
    ("{{ humanizeDuration $value }}", {}, "-93784.5"),
    ("{{ humanizeDuration $value }}", {}, INF),
    ("{{ humanizePercentage $value }}", {}, "0.123456"),
    ("{{ humanizePercentage $value }}", {}, "1.5"),
    ("{{ humanizeTimestamp $value }}", {}, "1234567890.123456"),
    ("{{ humanizeTimestamp $value }}", {}, "0"),
    ("{{ humanizeTimestamp $value }}", {}, NAN),
    ('{{ humanize "12345" }} {{ humanize 3 }}', {}, "1"),
    ('{{ printf "%.2f|%5.1f|%-8.3e|%g|%G" $value $value $value $value 1e-7 }}', {}, "3.14159"),
    ('{{ printf "%d|%5d|%-5d|%05d|%x|%X|%o|%+d" 42 42 42 42 255 255 8 7 }}', {}, "1"),
    ('{{ printf "%s|%q|%10s|%-10s|%.2s|%x" "ab" "a\\"b\\n" "r" "l" "trunc" "hi" }}', {}, "1"),
    ('{{ printf "%v %v %v %t %%" 1.5 7 "s" true }}', {}, "1"),
    ('{{ printf "%d %s" $value 3 }}', {}, "1.5"),
    ('{{ printf "%s %s" "a" }}|{{ printf "%s" "a" "b" 3 }}', {}, "1"),
    ('{{ print 1 2 "a" "b" 3 true nil }}', {}, "1"),
    ('{{ println 1 "a" 2 }}', {}, "1"),
    ("{{ $labels.instance }}|{{ .Labels.job }}|{{ $labels.missing }}|{{ index $labels \"job\" }}", {"instance": "h:9100", "job": "node"}, "1"),
    ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", {"b": "2", "a": "1", "c": "3"}, "1"),
    ("{{ range $labels }}[{{ . }}]{{ else }}none{{ end }}", {"z": "last", "m": "mid"}, "1"),
    ("{{ range $labels }}x{{ else }}none{{ end }}", {}, "1"),
    ("{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}", {}, "60"),
    ("{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}", {}, "10"),
    ("{{ if and $labels.a (not $labels.b) }}yes{{ end }}|{{ or $labels.b \"dflt\" }}", {"a": "1"}, "1"),
    ("{{ if eq $labels.sev \"page\" \"crit\" }}P{{ end }}{{ if ne $labels.sev \"x\" }}N{{ end }}", {"sev": "crit"}, "1"),
    ("{{ with $labels.team }}team={{ . }}{{ else }}unowned{{ end }}", {"team": "db"}, "1"),
    ("{{ with $labels.team }}team={{ . }}{{ else }}unowned{{ end }}", {}, "1"),
    ("a  {{- $value -}}  b\n{{- /* comment */ -}}\nc", {}, "5"),
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", {}, "1"),
    ("{{ title \"hello wORLD foo-bar_baz\" }}|{{ toUpper \"abc\" }}|{{ toLower \"ABC\" }}", {}, "1"),
    ("{{ reReplaceAll \"(.*):(\\\\d+)\" \"$1 port $2\" $labels.instance }}", {"instance": "host:9100"}, "1"),
    ("{{ reReplaceAll \"a(x*)\" \"<${1}>\" \"baaxxac\" }}|{{ reReplaceAll \"x*\" \"-\" \"abc\" }}|{{ reReplaceAll \"^a\" \"Z\" \"aaa\" }}", {}, "1"),
    ("{{ match \"^h.*\" $labels.instance }} {{ match \"oo\" \"foo\" }} {{ match \"^x$\" \"y\" }}", {"instance": "host"}, "1"),
    ("{{ $labels.instance | stripPort }}|{{ stripPort \"[::1]:80\" }}|{{ stripPort \"nohost\" }}", {"instance": "web:8080"}, "1"),
    ("{{ len $labels }} {{ len \"abc\" }} {{ $value | humanize | printf \"%s!\" }}", {"a": "1", "b": "2"}, "2048"),
    ("{{ (args 1 \"x\").arg1 }} {{ args 1 2 }} {{ parseDuration \"1h30m\" }} {{ toTime 1.5 }}", {}, "1"),
    ("{{ html \"<a href='x'>&\" }} {{ js \"it's <b>\" }} {{ urlquery \"a b&c=d\" }}", {}, "1"),
    ("{{ safeHtml \"<b>\" }} {{ lt 1 2 }} {{ le 2.5 2.5 }} {{ ge \"b\" \"a\" }}", {}, "1"),
    ("{{ .ExternalURL }}|{{ $externalURL }}|{{ $externalLabels.x }}", {}, "1"),
    ("{{ gt $value 10 }}", {}, "20"),
    ('{{ humanize "abc" }}', {}, "1"),
    ("{{ humanize 1 2 }}", {}, "1"),
    ("{{ index $labels 3 }}", {"a": "b"}, "1"),
    ('{{ reReplaceAll "(" "x" "y" }}', {}, "1"),
    ("{{ len 3 }}", {}, "1"),
    ("{{ first 1 }}", {}, "1"),
]

# Templates Prometheus refuses to load: (template,)
PARSE_ERRORS = [
    "{{ foo }}",
    "{{ end }}",
    "{{ if true }}x",
    "ok {{ $value ",
    "{{ $nope }}",
    "{{ else }}",
    "{{ \"abc }}",
    "{{ 3x }}",
    "{{ print ) }}",
]


def promql_value(v):
    return f"vector({v})"


def rule_expr(labels, value):
    e = promql_value(value)
    for k, v in sorted(labels.items()):
        e = f'label_replace({e}, "{k}", "{v}", "", "")'
    return e


def go_unquote(s):
    out = bytearray()
    i = 0
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34, "'": 39}
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = s[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif e in "uU":
            n = 4 if e == "u" else 8
            out += chr(int(s[i + 2:i + 2 + n], 16)).encode()
            i += 2 + n
        else:
            out.append(int(s[i + 1:i + 4], 8))
            i += 4
    return out.decode("utf-8", "replace")


def prom_expansions(promtool, tmp):
    rules = ["groups:", "- name: g", "  rules:"]
    tests = ["rule_files: [rules.yml]", "evaluation_interval: 1m", "tests:", "- interval: 1m",
             "  input_series: []", "  alert_rule_test:"]
    for i, (tmpl, labels, value) in enumerate(CASES):
        rules += [f"  - alert: C{i}", f"    expr: {json.dumps(rule_expr(labels, value))}",
                  f"    annotations: {{t: {json.dumps(tmpl)}}}"]
        tests += ["  - eval_time: 0m", f"    alertname: C{i}",
                  "    exp_alerts: [{exp_labels: {}, exp_annotations: {t: \"\\u0001never\"}}]"]
    with open(os.path.join(tmp, "rules.yml"), "w") as f:
        f.write("\n".join(rules) + "\n")
    with open(os.path.join(tmp, "test.yml"), "w") as f:
        f.write("\n".join(tests) + "\n")
    ext = ["--external-url"] if False else []
    r = subprocess.run([promtool, "test", "rules", "test.yml"] + ext, cwd=tmp, capture_output=True, text=True, timeout=120)
    text = r.stdout + r.stderr
    got = {}
    for m in re.finditer(r'alertname: (C\d+), time: .*?got:\[(.*?)\]\s*(?=alertname:|$)', text, re.S):
        a = re.search(r'Annotations:\{t="((?:[^"\\]|\\.)*)"\}', m.group(2))
        if a:
            got[m.group(1)] = go_unquote(a.group(1))
    return got, text


def vigil_expand(name, tmpl, labels, value):
    v = {"Inf": "inf", "-Inf": "-inf", "NaN": "nan", "0.1+0.2": repr(0.1 + 0.2)}.get(value, value)
    args = [VIGIL, "template", "expand", "--name", name, "--value", v]
    if labels:
        args += ["--labels", ",".join(f"{k}={x}" for k, x in sorted(labels.items()))]
    r = subprocess.run(args + [tmpl], capture_output=True, timeout=30)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def exec_error_tail(s):
    """From `at <...>: message` on: the part that does not depend on the prefix's length."""
    m = re.search(r'executing "[^"]*" (at <.*)', s, re.S)
    return m.group(1).rstrip(">\n") if m else None


def main():
    promtool = which("promtool")
    if not promtool:
        skip("template oracle", "promtool not installed")
        finish("integration_template_oracle")
    with tempfile.TemporaryDirectory() as tmp:
        got, raw = prom_expansions(promtool, tmp)
        if not check("promtool reported every case", len(got) == len(CASES), f"{len(got)}/{len(CASES)}\n{raw[-3000:]}"):
            finish("integration_template_oracle")
        matched = 0
        for i, (tmpl, labels, value) in enumerate(CASES):
            want = got.get(f"C{i}")
            rc, out, errtxt = vigil_expand(f"__alert_C{i}", tmpl, labels, value)
            if want.startswith("<error expanding template: "):
                ok = rc == 1 and exec_error_tail(errtxt) == exec_error_tail(want)
                detail = f"template {tmpl!r} value {value}\nprometheus: {exec_error_tail(want)!r}\nvigil:      {exec_error_tail(errtxt)!r}"
            else:
                ok = rc == 0 and out == want
                detail = f"template {tmpl!r} value {value}\nprometheus: {want!r}\nvigil:      {out!r} {errtxt!r}"
            matched += ok
            check(f"C{i} {tmpl[:50]!r} value={value}", ok, detail)
        for j, tmpl in enumerate(PARSE_ERRORS):
            with open(os.path.join(tmp, "bad.yml"), "w") as f:
                f.write("groups:\n- name: g\n  rules:\n  - alert: P\n    expr: vector(1)\n"
                        f"    annotations: {{t: {json.dumps(tmpl)}}}\n")
            r = subprocess.run([promtool, "check", "rules", "bad.yml"], cwd=tmp, capture_output=True, text=True, timeout=60)
            m = re.search(r'template: __alert_P:(\d+): (.*)', r.stdout + r.stderr)
            rc, out, errtxt = vigil_expand("__alert_P", tmpl, {}, "1")
            v = re.search(r'template: __alert_P:(\d+):\d+: (.*)', errtxt)
            ok = bool(m and v and rc == 1 and m.group(1) == v.group(1) and m.group(2).strip() == v.group(2).strip())
            matched += ok
            check(f"parse error {tmpl!r}", ok,
                  f"prometheus: {m.group(0) if m else (r.stdout + r.stderr)!r}\nvigil:      {errtxt!r}")
        print(f"# {matched}/{len(CASES) + len(PARSE_ERRORS)} cases match Prometheus")
    finish("integration_template_oracle")


main()
