#!/usr/bin/env python3
"""Cross-tenant isolation, exhaustively and under load, through the real binary.

1. Two tenants with overlapping metric names and label values, plus a namespace owned by nobody: every
   case of the bypass corpus (tests/promql/bypass.txt) is asked by each tenant of every read endpoint that
   takes a query or a selector (instant, range, exemplars, the tenant metrics API, and as match[] of
   series, labels and label values), and every other read endpoint is asked by each tenant; no series,
   label name, label value or metric name of another namespace may appear in any answer.
2. A bounded soak (SOAK_SECONDS, default 60 s): writers for each tenant and readers for each tenant run
   concurrently; every answer is checked the same way, and no request may get a 5xx.
Output is TAP."""
import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import snappy, write_request  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, wait_http  # noqa: E402

VIGIL = sys.argv[1]
ROOT = os.environ.get("VIGIL_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
SECRET = b"soak-test-secret-of-at-least-32-bytes!!"
SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
TENANTS = ["alice", "bob"]
NAMESPACES = {"alice": "client-alice", "bob": "client-bob"}
FOREIGN = {"alice": ["client-bob", "client-nobody", "bob_secret"], "bob": ["client-alice", "client-nobody", "alice_secret"]}


def b64(d):
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


def token(**claims):
    claims.setdefault("exp", int(time.time()) + 3600)
    head = b64(b'{"alg":"HS256","typ":"JWT","kid":"k1"}')
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}." + b64(hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest())


def series_for(owner, t):
    """Overlapping names and label values across owners; one metric name only the owner has."""
    ns = NAMESPACES.get(owner, "client-nobody")
    return [({"__name__": "shared_metric", "namespace": ns, "pod": "p1", "team": "same"}, [(t, 1.0)]),
            ({"__name__": "http_requests_total", "namespace": ns, "code": "200"}, [(t, float(int(t / 1000)))]),
            ({"__name__": f"{owner}_secret", "namespace": ns, "secret_label": f"{owner}_value"}, [(t, 42.0)])]


def leaks(tenant, text, query=""):
    """Another namespace's names or values in an answer, unless the query wrote them itself (a string
    literal, or label_replace fabricating a value, echoes the caller's own text, not stored data)."""
    return [f for f in FOREIGN[tenant] if f in text and f not in query]


def corpus():
    path = os.path.join(ROOT, "tests", "promql", "bypass.txt")
    out = []
    for line in open(path):
        if line.startswith("ok: ") or line.startswith("reject: "):
            out.append(line.split(": ", 1)[1].rstrip("\n").replace("<NL>", "\n"))
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-soak-")
    procs = []
    try:
        with open(f"{tmp}/k", "wb") as f:
            f.write(SECRET)
        port = free_port()
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(f"storage: {{path: {tmp}/d}}\nauth:\n  jwt:\n    admin_claim: {{name: role, value: admin}}\n"
                    f"    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/k}}]\n")
        vig = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{port}"], f"{tmp}/vigil.log")
        procs.append(vig)
        check("vigil starts", wait_http(port, "/-/ready"))
        toks = {t: token(org_id=t) for t in TENANTS}
        admin = token(role="admin")
        now = int(time.time() * 1000)

        def push(tok, series):
            return request(port, "/api/v1/write", method="POST", body=snappy(write_request(series)),
                           headers={"Content-Encoding": "snappy", "Authorization": f"Bearer {tok}"})[0]

        loaded = [push(toks[t], series_for(t, now - 60000) + series_for(t, now - 30000)) for t in TENANTS]
        loaded.append(push(admin, series_for("nobody", now - 60000) + series_for("nobody", now - 30000)))
        check("the data of both tenants and of the unowned namespace is written", loaded == [204] * len(loaded), loaded)

        def ask(tenant, path, params):
            q = urllib.parse.urlencode(params)
            return request(port, f"{path}?{q}", headers={"Authorization": f"Bearer {toks[tenant]}"})

        def ask_json(tenant, path, doc):
            return request(port, path, method="POST", body=json.dumps(doc).encode(),
                           headers={"Authorization": f"Bearer {toks[tenant]}", "Content-Type": "application/json"})

        # 1. every bypass-corpus case on every read endpoint that takes a query or a selector, for both
        # tenants (a case that is not a selector gets a 400 from the selector endpoints: no data either way)
        bad, n = [], 0
        t_now, t_start = str(now / 1000), str(now / 1000 - 120)
        for tenant in TENANTS:
            for qtext in corpus():
                answers = [(path, ask(tenant, path, params)) for path, params in (
                    ("/api/v1/query", [("query", qtext), ("time", t_now)]),
                    ("/api/v1/query_range", [("query", qtext), ("start", t_start), ("end", t_now), ("step", "15")]),
                    ("/api/v1/query_exemplars", [("query", qtext), ("start", t_start), ("end", t_now)]),
                    ("/api/v1/series", [("match[]", qtext)]),
                    ("/api/v1/labels", [("match[]", qtext)]),
                    ("/api/v1/label/__name__/values", [("match[]", qtext)]),
                    ("/api/v1/label/namespace/values", [("match[]", qtext)]),
                    ("/api/v1/label/secret_label/values", [("match[]", qtext)]))]
                answers.append(("/api/v1/metrics/query", ask_json(tenant, "/api/v1/metrics/query", {"query": qtext, "time": t_now})))
                answers.append(("/api/v1/metrics/query_range", ask_json(
                    tenant, "/api/v1/metrics/query_range", {"query": qtext, "start": t_start, "end": t_now, "step": "15"})))
                for path, (st, _, body) in answers:
                    n += 1
                    if st >= 500 or leaks(tenant, body, qtext):
                        bad.append((tenant, path, qtext, st, body[:200]))
            for path, params in (("/api/v1/series", [("match[]", '{__name__=~".+"}')]), ("/api/v1/series", []),
                                 ("/api/v1/labels", []), ("/api/v1/label/namespace/values", []),
                                 ("/api/v1/label/__name__/values", []), ("/api/v1/label/secret_label/values", []),
                                 ("/api/v1/metadata", []), ("/api/v1/targets", []), ("/api/v1/status/tsdb", []),
                                 ("/api/v1/targets/metadata", []), ("/api/v1/tenants/self", [])):
                st, _, body = ask(tenant, path, params)
                n += 1
                if st >= 400 or leaks(tenant, body):
                    bad.append((tenant, path, params, st, body[:200]))
        check(f"{n} answers of the bypass corpus and read endpoints: nothing of another namespace, no 5xx", not bad,
              "\n".join(map(str, bad[:10])))
        st1, _, a1 = ask("alice", "/api/v1/query", [("query", "absent(bob_secret)"), ("time", str(now / 1000))])
        st2, _, a2 = ask("alice", "/api/v1/query", [("query", "absent(never_written_anywhere)"), ("time", str(now / 1000))])
        check("absent() answers alike whether another tenant has the series", st1 == st2 == 200 and a1 == a2, (a1, a2))

        # 2. the soak
        stop = time.time() + SOAK_SECONDS
        stats = {"requests": 0, "5xx": 0, "leaks": 0, "writes": 0, "failed_writes": 0}
        lock = threading.Lock()
        queries = corpus()[:40] + ["sum(shared_metric)", "count by (namespace) ({__name__=~\".+\"})", "rate(http_requests_total[1m])"]

        def writer(tenant):
            i = 0
            while time.time() < stop:
                i += 1
                st = push(toks[tenant], series_for(tenant, int(time.time() * 1000)))
                with lock:
                    stats["writes"] += 1
                    stats["failed_writes"] += st != 204
                    stats["requests"] += 1
                    stats["5xx"] += st >= 500
                time.sleep(0.05)

        def reader(tenant, seed):
            rng = random.Random(seed)
            while time.time() < stop:
                qtext = rng.choice(queries)
                path, params = rng.choice([("/api/v1/query", [("query", qtext)]),
                                           ("/api/v1/series", [("match[]", '{__name__=~".+"}')]),
                                           ("/api/v1/label/namespace/values", [])])
                st, _, body = ask(tenant, path, params)
                with lock:
                    stats["requests"] += 1
                    stats["5xx"] += st >= 500
                    stats["leaks"] += bool(leaks(tenant, body, qtext if path == "/api/v1/query" else ""))

        threads = [threading.Thread(target=writer, args=(t,)) for t in TENANTS]
        threads += [threading.Thread(target=reader, args=(t, i)) for i, t in enumerate(TENANTS * 2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        print(f"# soak: {stats['requests']} requests in {SOAK_SECONDS:.0f} s ({stats['writes']} writes), "
              f"{stats['5xx']} 5xx, {stats['leaks']} cross-tenant answers")
        check("soak: zero cross-tenant answers and zero 5xx", stats["requests"] > 100 and stats["5xx"] == 0 and stats["leaks"] == 0,
              stats)
        check("soak: every write was accepted (204)", stats["writes"] > 10 and stats["failed_writes"] == 0, stats)
        check("vigil survives the soak", vig.alive(), vig.output()[-2000:])
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_soak")


if __name__ == "__main__":
    main()
