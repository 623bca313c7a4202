#!/usr/bin/env python3
"""The TSDB admin API (/api/v1/admin/tsdb/snapshot, delete_series, clean_tombstones) on a real server
whose data lies in imported blocks and in the head (remote_write):
  - snapshot: Prometheus' answer shape; a second vigil started on the snapshot directory gives the same
    answers to a set of instant and range queries (the restore);
  - delete_series: 204; the samples are gone from blocks and head, also after a restart; a time range
    deletes only its part;
  - clean_tombstones: 204; the blocks with tombstones are rewritten (new ULIDs, no tombstones), the
    answers unchanged, also after a restart;
  - a tenant gets 403 on every admin endpoint; with authentication off they are open;
  - `vigil import` into the running server's directory is served after /-/reload; with --tenant the
    series carry the tenant's label.
Output is TAP."""
import glob
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_query_oracle import push  # noqa: E402
from test_tenancy import SECRET, claims, hs256  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, wait_http  # noqa: E402

VIGIL = sys.argv[1]
ADMIN = {"Authorization": "Bearer " + hs256(claims(role="admin"))}
TENANT = {"Authorization": "Bearer " + hs256(claims(org_id="alice"))}
QUERIES = ["node_load1", "sum by (job) (rate(http_requests_total[5m]))", "count(node_load1)",
           "max_over_time(node_load1[2h])", 'node_load1{instance="i1"} offset 3h', "rate(http_requests_total[10m] offset 1h)"]


def om(t0, t1, rng):
    out = ["# TYPE node_load1 gauge"]
    for i in range(4):
        for t in range(t0, t1, 30):
            out.append(f'node_load1{{instance="i{i}",job="node"}} {round(rng.uniform(0, 3), 2)} {t}')
    out.append("# TYPE http_requests counter")
    for i in range(4):
        v = 0
        for t in range(t0, t1, 30):
            v += rng.randint(0, 20)
            out.append(f'http_requests_total{{instance="i{i}",job="{["api", "web"][i % 2]}"}} {v} {t}')
    out.append("# EOF")
    return "\n".join(out) + "\n"


def answers(port, end, headers=None):
    res = {}
    for q in QUERIES:
        for path, params in (("/api/v1/query", [("time", end)]), ("/api/v1/query", [("time", end - 5 * 3600)]),
                             ("/api/v1/query_range", [("start", end - 6 * 3600), ("end", end), ("step", 120)])):
            qs = urllib.parse.urlencode([("query", q)] + params)
            st, _, body = request(port, f"{path}?{qs}", headers=headers, timeout=30)
            res[(path, q, str(params))] = (st, json.loads(body)["data"] if st == 200 else body)
    return res


def blocks(d):
    return sorted(os.path.basename(os.path.dirname(m)) for m in glob.glob(f"{d}/*/meta.json"))


def stones(d):
    return sum(os.path.getsize(f) - 9 for f in glob.glob(f"{d}/*/tombstones"))


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-admin-")
    procs = []
    try:
        now = int(time.time())
        rng = random.Random(5)
        with open(f"{tmp}/data.om", "w") as f:  # 8 h of history ending 70 minutes ago
            f.write(om(now - 8 * 3600 - 4200, now - 4200, rng))
        p = subprocess.run([VIGIL, "import", "openmetrics", f"{tmp}/data.om", "--data", f"{tmp}/data"], capture_output=True, text=True)
        check("import into blocks", p.returncode == 0, p.stdout + p.stderr)
        with open(f"{tmp}/hs.key", "wb") as f:
            f.write(SECRET)
        port = free_port()
        cfg = f"""storage: {{path: {tmp}/data, retention: 30d}}
auth:
  jwt:
    admin_claim: {{name: role, value: admin}}
    issuer: https://issuer.test
    audience: vigil
    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]
"""
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(cfg)
        start = lambda: Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{port}"],  # noqa: E731
                             f"{tmp}/vigil.log")
        vig = start()
        procs.append(vig)
        check("vigil starts on the imported blocks", wait_http(port, "/-/ready", timeout=30), vig.output()[-1500:])
        # the last hour into the head, through remote_write (as an admin: unscoped)
        series = []
        for i in range(4):
            series.append(({"__name__": "node_load1", "instance": f"i{i}", "job": "node"},
                           [((now - 3600 + k * 30) * 1000, round(rng.uniform(0, 3), 2)) for k in range(110)]))
        import test_query_oracle as qo
        old = qo.request
        qo.request = lambda p_, path, **kw: old(p_, path, **{**kw, "headers": {**kw.get("headers", {}), **ADMIN}})
        st, text = push(port, series)
        qo.request = old
        check("head data pushed", st == 204, text)
        end = now - 60
        before = answers(port, end, ADMIN)
        empty = [k for k, v in before.items() if not (v[0] == 200 and v[1]["result"])]
        check("the answers carry data (http_requests_total is in blocks only: empty at the end)",
              all(k[0] == "/api/v1/query" and "http_requests_total" in k[1] for k in empty) and len(empty) <= 2, empty)

        # tenants: 403 on every admin endpoint, whatever the method
        for ep in ("snapshot", "delete_series?match[]=up", "clean_tombstones"):
            for m in ("POST", "PUT"):
                st, _, body = request(port, f"/api/v1/admin/tsdb/{ep}", method=m, headers=TENANT)
                check(f"{m} {ep.split('?')[0]}: a tenant gets 403", st == 403 and json.loads(body)["errorType"], (st, body))
        st, _, _ = request(port, "/api/v1/admin/tsdb/snapshot", method="GET", headers=ADMIN)
        check("GET snapshot: 405", st == 405, st)

        # snapshot, then restore: a second vigil on the snapshot directory
        st, _, body = request(port, "/api/v1/admin/tsdb/snapshot", method="POST", headers=ADMIN)
        doc = json.loads(body)
        name = doc.get("data", {}).get("name", "")
        check("snapshot answers Prometheus' shape", st == 200 and doc["status"] == "success" and len(name) == 33 and name[8] == "T",
              (st, body))
        snap = f"{tmp}/data/snapshots/{name}"
        check("the snapshot holds the blocks (hard links) and the head as blocks",
              set(blocks(f"{tmp}/data")) < set(blocks(snap)) and
              all(os.stat(f"{snap}/{b}/index").st_ino == os.stat(f"{tmp}/data/{b}/index").st_ino for b in blocks(f"{tmp}/data")),
              (blocks(f"{tmp}/data"), blocks(snap)))
        st, _, body = request(port, "/api/v1/admin/tsdb/snapshot?skip_head=true", method="PUT", headers=ADMIN)
        n2 = json.loads(body)["data"]["name"]
        check("skip_head=true: the blocks only", st == 200 and blocks(f"{tmp}/data/snapshots/{n2}") == blocks(f"{tmp}/data"), body)
        st, _, body = request(port, "/api/v1/admin/tsdb/snapshot?skip_head=maybe", method="POST", headers=ADMIN)
        check("a bad skip_head is 400 bad_data", st == 400 and json.loads(body)["errorType"] == "bad_data", body)
        rport = free_port()
        with open(f"{tmp}/restore.yml", "w") as f:
            f.write(f"storage: {{path: {snap}, retention: 30d}}\n")
        rv = Proc([VIGIL, "serve", "--config", f"{tmp}/restore.yml", "--listen", f"127.0.0.1:{rport}"], f"{tmp}/restore.log")
        procs.append(rv)
        check("vigil starts on the snapshot", wait_http(rport, "/-/ready", timeout=30), rv.output()[-1500:])
        restored = answers(rport, end)
        check("the restored server gives the same answers", restored == before,
              [k for k in before if before[k] != restored.get(k)][:5])
        st, _, body = request(rport, "/api/v1/admin/tsdb/clean_tombstones", method="POST")
        check("with authentication off the admin endpoints are open", st == 204, (st, body))
        rv.stop()

        # delete_series: one series everywhere, another in a time range
        st, _, body = request(port, "/api/v1/admin/tsdb/delete_series?" + urllib.parse.urlencode(
            [("match[]", 'node_load1{instance="i1"}')]), method="POST", headers=ADMIN)
        check("delete_series answers 204", st == 204 and body == "", (st, body))
        cut0, cut1 = end - 5 * 3600 - 1800, end - 4 * 3600
        st, _, body = request(port, "/api/v1/admin/tsdb/delete_series?" + urllib.parse.urlencode(
            [("match[]", 'http_requests_total{instance="i2"}'), ("start", cut0), ("end", cut1)]), method="PUT", headers=ADMIN)
        check("delete_series with start and end answers 204", st == 204, (st, body))
        st, _, body = request(port, "/api/v1/admin/tsdb/delete_series", method="POST", headers=ADMIN)
        check("delete_series without match[] is 400", st == 400 and "no match[] parameter provided" in body, body)

        def deleted_ok(tag):
            a = answers(port, end, ADMIN)
            rq = ("/api/v1/query_range", "node_load1", str([("start", end - 6 * 3600), ("end", end), ("step", 120)]))
            gone = all(r["metric"].get("instance") != "i1" for r in a[rq][1]["result"])
            qs = urllib.parse.urlencode([("query", 'http_requests_total{instance="i2"}'), ("start", cut0 - 1800), ("end", cut1 + 1800), ("step", 60)])
            st_, _, b = request(port, f"/api/v1/query_range?{qs}", headers=ADMIN)
            ts = [int(float(v[0])) for v in json.loads(b)["data"]["result"][0]["values"]]
            part = ts and not any(cut0 + 300 <= t <= cut1 for t in ts) and min(ts) < cut0 and max(ts) > cut1
            check(f"{tag}: the deleted series is gone from blocks and head", gone)
            check(f"{tag}: the time range is gone, the rest kept", part, (cut0, cut1, ts[:3], ts[-3:]))
            others = a[("/api/v1/query", "count(node_load1)", str([("time", end)]))][1]["result"][0]["value"][1]
            check(f"{tag}: other series untouched", others == "3", others)
            return a
        after = deleted_ok("after delete_series")
        vig.stop()
        vig = start()
        procs.append(vig)
        check("vigil restarts", wait_http(port, "/-/ready", timeout=30), vig.output()[-1500:])
        check("after a restart: the same answers", answers(port, end, ADMIN) == after)
        deleted_ok("after a restart")

        # clean_tombstones: blocks rewritten, answers unchanged
        old_blocks = blocks(f"{tmp}/data")
        check("tombstones were written", stones(f"{tmp}/data") > 0)
        st, _, body = request(port, "/api/v1/admin/tsdb/clean_tombstones", method="POST", headers=ADMIN)
        check("clean_tombstones answers 204", st == 204, (st, body))
        new_blocks = blocks(f"{tmp}/data")
        check("the blocks with tombstones were rewritten", new_blocks != old_blocks and len(new_blocks) == len(old_blocks)
              and stones(f"{tmp}/data") == 0, (old_blocks, new_blocks))
        check("answers unchanged by clean_tombstones", answers(port, end, ADMIN) == after)
        vig.stop()
        vig = start()
        procs.append(vig)
        check("vigil restarts after clean_tombstones", wait_http(port, "/-/ready", timeout=30), vig.output()[-1500:])
        check("answers unchanged after the restart", answers(port, end, ADMIN) == after)
        # blocks imported into the running server's directory are served after /-/reload
        with open(f"{tmp}/late.om", "w") as f:
            f.write("".join(f"imported_late{{k=\"v\"}} {i} {now - 7 * 3600 + i * 60}\n" for i in range(120)) + "# EOF\n")
        p = subprocess.run([VIGIL, "import", "openmetrics", f"{tmp}/late.om", "--data", f"{tmp}/data", "--chunk-encoding", "xor"],
                           capture_output=True, text=True)
        check("import into the running server's directory", p.returncode == 0, p.stdout + p.stderr)
        q = "/api/v1/query?" + urllib.parse.urlencode([("query", "count_over_time(imported_late[3h])"), ("time", now - 5 * 3600)])
        check("not served before a reload", json.loads(request(port, q, headers=ADMIN)[2])["data"]["result"] == [])
        st, _, _ = request(port, "/-/reload", method="POST", headers=ADMIN)
        res = json.loads(request(port, q, headers=ADMIN)[2])["data"]["result"]
        check("served after /-/reload", st == 200 and res and res[0]["value"][1] == "120", (st, res))
        # --tenant: every imported series carries the tenant's label; that tenant reads it, the others do not
        p = subprocess.run([VIGIL, "import", "openmetrics", f"{tmp}/late.om", "--data", f"{tmp}/data", "--tenant", "alice",
                            "--config", f"{tmp}/vigil.yml", "--block-duration", "1h"], capture_output=True, text=True)
        check("import --tenant", p.returncode == 0, p.stdout + p.stderr)
        request(port, "/-/reload", method="POST", headers=ADMIN)
        q = "/api/v1/query?" + urllib.parse.urlencode([("query", "imported_late"), ("time", now - 7 * 3600 + 1800)])
        res = json.loads(request(port, q, headers=TENANT)[2])["data"]["result"]
        check("the tenant reads its imported series, labelled", len(res) == 1 and res[0]["metric"].get("namespace") == "client-alice", res)
        res = json.loads(request(port, q, headers={"Authorization": "Bearer " + hs256(claims(org_id="bob"))})[2])["data"]["result"]
        check("another tenant does not", res == [], res)
        check("vigil survives", vig.alive(), vig.output()[-1500:])
    finally:
        for p_ in procs:
            p_.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_storage_admin")


if __name__ == "__main__":
    main()
