#!/usr/bin/env python3
"""`vigil test rules` against `promtool test rules` (Prometheus 2.42) as the oracle. Every file of
tests/rules_unittest/ (about a third fail on purpose: a wrong value, a missing alert, an extra label, a
wrong annotation, a rule that cannot be evaluated, a malformed file) and examples/rules/node_test.yml
runs under both: the exit codes must be equal, and so must the failure headers ("alertname: X, time:
T", "expr: ..., time: T", "rule: R, time: T" and the test names) and, where promtool's report is not
about a malformed file, the whole report. The files named pass_* must pass. Output is TAP; the oracle
checks are skipped when promtool is not installed."""
import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import check, finish, skip, which  # noqa: E402

VIGIL = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "rules_unittest")
HEADER = re.compile(r"^    (name: .*|alertname: .*, time: [^,]*|expr: .*, time: [^,]*|rule: .*, time: [^,]*),")
# failures whose text is the file reader's own (yaml.v2 or the series parser) rather than the runner's
READER_ERRORS = ("fail_malformed_series.yml", "fail_unknown_field.yml")


def run(cmd, path):
    r = subprocess.run(cmd + [os.path.basename(path)], cwd=os.path.dirname(path), capture_output=True, text=True,
                       timeout=120)
    return r.returncode, r.stdout, r.stderr


# promtool loads a test's input series from a Go map, so which of two conflicting series a many-to-many
# error names first changes from run to run (promtool alone prints both orders): compare that pair as a set
DUPLICATES = re.compile(r"(on the (?:left|right) hand-side of the operation: \[)(\{[^}]*\}), (\{[^}]*\})(\])")


def canonical(report):
    return DUPLICATES.sub(lambda m: m.group(1) + ", ".join(sorted((m.group(2), m.group(3)))) + m.group(4), report)


def headers(stderr):
    return sorted(m.group(1) for m in map(HEADER.match, stderr.splitlines()) if m)


def main():
    files = sorted(glob.glob(os.path.join(CORPUS, "*.yml")))
    files.append(os.path.join(ROOT, "examples", "rules", "node_test.yml"))
    check("corpus has about 25 files", len(files) >= 25, str(len(files)))
    n_fail = sum(os.path.basename(f).startswith("fail_") for f in files)
    check("about a third of the corpus fails on purpose", n_fail * 4 >= len(files), f"{n_fail}/{len(files)}")
    promtool = which("promtool")
    agree = 0
    for f in files:
        name = os.path.relpath(f, ROOT)
        vrc, vout, verr = run([VIGIL, "test", "rules"], f)
        check(f"{name}: vigil reports the file", vout.startswith("Unit Testing:  " + os.path.basename(f) + "\n"), vout)
        check(f"{name}: no sanitizer or log noise", "runtime error" not in verr and '"level"' not in verr, verr)
        base = os.path.basename(f)
        if base.startswith("pass_") or base == "node_test.yml":
            check(f"{name}: passes under vigil", vrc == 0 and "  SUCCESS\n" in vout, vout + verr)
        elif base.startswith("fail_"):
            check(f"{name}: fails under vigil", vrc == 1 and verr.startswith("  FAILED:\n"), vout + verr)
        if not promtool:
            skip(f"{name}: same result as promtool", "promtool not installed")
            continue
        prc, pout, perr = run([promtool, "test", "rules"], f)
        ok = check(f"{name}: same exit code as promtool ({prc})", prc == vrc, f"promtool:\n{perr}\nvigil:\n{verr}")
        ok &= check(f"{name}: same failing tests as promtool", headers(perr) == headers(verr),
                    f"promtool: {headers(perr)}\nvigil:    {headers(verr)}")
        if base not in READER_ERRORS:
            ok &= check(f"{name}: same report as promtool", (pout, canonical(perr)) == (vout, canonical(verr)),
                        f"promtool:\n{pout}{perr}\nvigil:\n{vout}{verr}")
        agree += ok
    if promtool:
        print(f"# {agree}/{len(files)} files agree with promtool")
    # several files in one run: one report each, exit 1 when any failed
    some = [os.path.join(CORPUS, n) for n in ("pass_chain.yml", "fail_extra_label.yml", "pass_absent.yml")]
    r = subprocess.run([VIGIL, "test", "rules"] + some, capture_output=True, text=True, timeout=120)
    check("several files: exit 1 when one fails", r.returncode == 1, r.stdout + r.stderr)
    check("several files: a report each", r.stdout.count("Unit Testing:  ") == 3 and r.stdout.count("  SUCCESS") == 2,
          r.stdout)
    r = subprocess.run([VIGIL, "test", "rules"], capture_output=True, text=True, timeout=60)
    check("no file: usage, exit 2", r.returncode == 2 and "usage" in r.stderr, r.stderr)
    finish("integration_rules_unittest")


main()
