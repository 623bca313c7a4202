#!/usr/bin/env python3
"""The ruler configuration API through the real binary, called as mimirtool and Grafana call Mimir's
(POST /prometheus/config/v1/rules/{namespace} with a YAML group, GET the listing, a namespace and a
group back as YAML, DELETE a group and a namespace, 202 for changes, 404 for what does not exist),
with tenancy on: alice's recording rule writes a series carrying her tenant label computed from her
data only; bob sees none of her namespaces, groups, rules or alerts; a rule naming bob's namespace is
refused at upload (403, as such a query is); the per-tenant limits answer 400, a body past
rules.ruler_max_group_size 413; an admin acts for a tenant with X-Scope-OrgID; the groups survive a
restart and keep their alerts' `for` state; alice's alert reaches a real Alertmanager carrying her
tenant label. Output is TAP."""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import snappy, write_request  # noqa: E402
from test_tenancy import claims, hs256, SECRET  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402

try:
    import yaml
except ImportError:  # the YAML shapes are then compared as text only
    yaml = None

VIGIL = sys.argv[1]

AM_CONFIG = """route:
  receiver: "null"
  group_wait: 1s
receivers:
  - name: "null"
"""

ALICE_GROUP = """name: alice-rules
interval: 1s
rules:
- record: app:requests:sum
  expr: sum(app_requests)
- alert: AliceHigh
  expr: sum(app_requests) > 10
  labels:
    severity: page
  annotations:
    summary: "total is {{ $value }}"
- alert: AliceSlow
  expr: sum(app_requests) > 1
  for: 30m
"""


def call(port, method, path, token=None, body=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if body is not None:
        h.setdefault("Content-Type", "application/yaml")
        body = body.encode()
    return request(port, path, method=method, body=body, headers=h)


def get_json(port, path, token, **params):
    q = urllib.parse.urlencode(params)
    st, _, body = call(port, "GET", f"{path}?{q}" if q else path, token)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, body


def push(port, token, series):
    h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
    return request(port, "/api/v1/write", method="POST", body=snappy(write_request(series)), headers=h)


def result(port, token, q):
    st, b = get_json(port, "/api/v1/query", token, query=q)
    return b["data"]["result"] if st == 200 else None


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-ruler-")
    procs = []
    am_bin = which("prometheus-alertmanager", "alertmanager")
    amport = free_port()
    try:
        with open(f"{tmp}/hs.key", "wb") as f:
            f.write(SECRET)
        if am_bin:
            with open(f"{tmp}/am.yml", "w") as f:
                f.write(AM_CONFIG)
            am = Proc([am_bin, f"--config.file={tmp}/am.yml", f"--storage.path={tmp}/am",
                       f"--web.listen-address=127.0.0.1:{amport}", "--cluster.listen-address="], f"{tmp}/am.log")
            procs.append(am)
            check("alertmanager starts", wait_http(amport, "/-/ready", timeout=30), am.output())
        port = free_port()
        cfg = f"""storage: {{path: {tmp}/data}}
global: {{evaluation_interval: 1s}}
auth:
  jwt:
    admin_claim: {{name: role, value: admin}}
    issuer: https://issuer.test
    audience: vigil
    keys:
      - {{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}
tenants:
  enforce: {{namespace: "client-{{org_id}}"}}
  overrides:
    small: {{limits: {{ruler_max_rule_groups: 1, ruler_max_rules_per_rule_group: 2}}}}
rules: {{ruler_max_group_size: 4KiB}}
alerting:
  alertmanagers:
    - static_configs: [{{targets: ['127.0.0.1:{amport}']}}]
"""
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(cfg)
        argv = [VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{port}"]
        vig = Proc(argv, f"{tmp}/vigil.log")
        procs.append(vig)
        if not check("vigil starts with tenancy on", wait_http(port, "/-/ready"), vig.output()):
            return
        alice, bob = hs256(claims(org_id="alice")), hs256(claims(org_id="bob"))
        small, admin = hs256(claims(org_id="small")), hs256(claims(role="admin"))
        now = int(time.time() * 1000)
        st, _, b = push(port, alice, [({"__name__": "app_requests", "pod": "a1"}, [(now, 5)]),
                                      ({"__name__": "app_requests", "pod": "a2"}, [(now, 7)])])
        st2, _, b2 = push(port, bob, [({"__name__": "app_requests", "pod": "b1"}, [(now, 100)])])
        check("alice and bob write their data", st == 204 and st2 == 204, (b, b2))

        # alice uploads a group as mimirtool does
        base = "/prometheus/config/v1/rules"
        st, hd, body = call(port, "POST", f"{base}/ns1", alice, ALICE_GROUP)
        check("POST a group → 202 with Mimir's success body", st == 202 and json.loads(body).get("status") == "success",
              (st, body))
        st, hd, body = call(port, "GET", base, alice)
        check("GET the listing → 200 application/yaml", st == 200 and hd.get("Content-Type", "").startswith("application/yaml"),
              (st, hd, body))
        if yaml:
            doc = yaml.safe_load(body)
            up = yaml.safe_load(ALICE_GROUP)
            check("listing: a map namespace → [groups], the group as uploaded", doc == {"ns1": [up]}, body)
            st, _, body = call(port, "GET", f"{base}/ns1", alice)
            check("GET a namespace → the same map", st == 200 and yaml.safe_load(body) == {"ns1": [up]}, body)
            st, _, body = call(port, "GET", f"{base}/ns1/alice-rules", alice)
            check("GET a group → the group", st == 200 and yaml.safe_load(body) == up, body)
            st, _, body2 = call(port, "GET", "/config/v1/rules/ns1/alice-rules", alice)
            check("the same API without the /prometheus prefix", st == 200 and body2 == body, body2)
        else:
            skip("YAML shapes", "PyYAML not installed")

        # the recorded series: her tenant label, her data only
        def recorded():
            r = result(port, admin, "app:requests:sum")
            return r if r else None
        r = wait_until(recorded, timeout=20)
        check("the recording rule writes one series with alice's label, from her data only (5 + 7)",
              r and len(r) == 1 and r[0]["metric"] == {"__name__": "app:requests:sum", "namespace": "client-alice"}
              and r[0]["value"][1] == "12", r)
        mine = result(port, alice, "app:requests:sum")
        check("alice reads her recorded series", mine and [(x["metric"], x["value"][1]) for x in mine] ==
              [(x["metric"], x["value"][1]) for x in r], mine)
        check("bob does not see it", result(port, bob, "app:requests:sum") == [], result(port, bob, "app:requests:sum"))

        # /api/v1/rules and /api/v1/alerts: each tenant its own
        st, b = get_json(port, "/api/v1/rules", alice)
        groups = b["data"]["groups"] if st == 200 else []
        check("alice's /api/v1/rules shows her group (file = namespace)",
              [(g["name"], g["file"]) for g in groups] == [("alice-rules", "ns1")], b)

        def alice_alert():
            st, b = get_json(port, "/api/v1/alerts", alice)
            a = [x for x in b["data"]["alerts"] if x["labels"].get("alertname") == "AliceHigh"] if st == 200 else []
            return a[0] if a and a[0]["state"] == "firing" else None
        a = wait_until(alice_alert, timeout=20)
        check("alice's alert fires carrying her tenant label", a and a["labels"] ==
              {"alertname": "AliceHigh", "namespace": "client-alice", "severity": "page"} and
              a["annotations"] == {"summary": "total is 12"}, a)
        st, b = get_json(port, "/api/v1/rules", bob)
        check("bob's /api/v1/rules: none of alice's groups", st == 200 and b["data"]["groups"] == [], b)
        st, b = get_json(port, "/api/v1/alerts", bob)
        check("bob's /api/v1/alerts: none of alice's alerts", st == 200 and b["data"]["alerts"] == [], b)
        for path in (base, f"{base}/ns1", f"{base}/ns1/alice-rules"):
            st, _, body = call(port, "GET", path, bob)
            check(f"bob GET {path[len(base):] or '/'} → 404", st == 404 and "sum(app_requests)" not in body, (st, body))
        st, _, body = call(port, "DELETE", f"{base}/ns1", bob)
        check("bob cannot delete alice's namespace (404 for him)", st == 404, (st, body))
        st, _, body = call(port, "GET", base, bob, headers={"X-Scope-OrgID": "alice"})
        check("a tenant naming another in X-Scope-OrgID → 403", st == 403, (st, body))
        st, _, body = call(port, "GET", f"{base}/ns1/alice-rules", alice)
        check("alice's group is still there", st == 200, (st, body))

        # a rule naming bob's namespace is refused at upload, as such a query is
        st, _, body = call(port, "POST", f"{base}/ns2", alice,
                           "name: snoop\nrules:\n- record: bob:sum\n  expr: sum(app_requests{namespace=\"client-bob\"})\n")
        check("a rule naming bob's namespace → 403 naming the rule", st == 403 and "snoop" in body and "namespace" in body,
              (st, body))
        st, _, body = call(port, "GET", f"{base}/ns2", alice)
        check("nothing stored for it", st == 404, (st, body))
        check("nothing recorded from bob's data", result(port, admin, "bob:sum") == [], result(port, admin, "bob:sum"))

        # validation and limits
        st, _, body = call(port, "POST", f"{base}/ns1", alice, "name: g\nrules:\n- record: \"bad name\"\n  expr: sum(up\n")
        check("an invalid group → 400 with positioned errors", st == 400 and
              "3:11: group \\\"g\\\", rule 1, \\\"bad name\\\": invalid recording rule name" in body and "4:15:" in body, (st, body))
        st, _, body = call(port, "POST", f"{base}/ns1", small,
                           "name: three\nrules:\n" + "".join(f"- record: r{i}\n  expr: vector({i})\n" for i in range(3)))
        check("past ruler_max_rules_per_rule_group → 400", st == 400 and "ruler_max_rules_per_rule_group" in body, (st, body))
        st, _, body = call(port, "POST", f"{base}/ns1", small, "name: one\nrules:\n- record: r\n  expr: vector(1)\n")
        check("small: one group is within its limits", st == 202, (st, body))
        st, _, body = call(port, "POST", f"{base}/ns9", small, "name: two\nrules:\n- record: r\n  expr: vector(2)\n")
        check("past ruler_max_rule_groups → 400", st == 400 and "ruler_max_rule_groups" in body, (st, body))
        st, _, body = call(port, "POST", f"{base}/ns1", small, "name: one\nrules:\n- record: r\n  expr: vector(3)\n")
        check("replacing a group does not count twice", st == 202, (st, body))
        big = "name: big\nrules:\n- record: r\n  expr: vector(1)\n  labels:\n    pad: \"" + "x" * 5000 + "\"\n"
        st, _, body = call(port, "POST", f"{base}/ns1", alice, big)
        check("a body past rules.ruler_max_group_size → 413", st == 413 and "ruler_max_group_size" in body, (st, body))

        # an admin acts for a tenant with X-Scope-OrgID
        st, _, body = call(port, "GET", f"{base}/ns1/one", admin, headers={"X-Scope-OrgID": "small"})
        check("admin with X-Scope-OrgID reads the tenant's group", st == 200 and "vector(3)" in body, (st, body))
        st, _, body = call(port, "GET", base, admin)
        check("admin without it: the unscoped owner's rules (none here → 404)", st == 404, (st, body))
        st, _, body = call(port, "GET", base, admin, headers={"X-Scope-OrgID": "a/b"})
        check("an invalid X-Scope-OrgID → 400", st == 400, (st, body))

        # delete a group, then a namespace
        for g in ("t1", "t2"):
            call(port, "POST", f"{base}/tmp", alice, f"name: {g}\nrules:\n- record: tmp_{g}\n  expr: vector(1)\n")
        st, _, body = call(port, "DELETE", f"{base}/tmp/t1", alice)
        check("DELETE a group → 202", st == 202, (st, body))
        st, _, body = call(port, "GET", f"{base}/tmp/t1", alice)
        check("the group is gone (404)", st == 404, (st, body))
        st, _, body = call(port, "GET", f"{base}/tmp/t2", alice)
        check("its neighbour stays", st == 200, (st, body))
        st, _, body = call(port, "DELETE", f"{base}/tmp/t1", alice)
        check("DELETE it again → 404", st == 404, (st, body))
        st, _, body = call(port, "DELETE", f"{base}/tmp", alice)
        check("DELETE a namespace → 202", st == 202, (st, body))
        st, _, body = call(port, "GET", f"{base}/tmp", alice)
        check("the namespace is gone (404)", st == 404, (st, body))
        st, b = get_json(port, "/api/v1/rules", alice)
        check("deleted groups no longer evaluate", st == 200 and [g["name"] for g in b["data"]["groups"]] == ["alice-rules"], b)
        check("the store holds alice's and small's namespaces only",
              sorted(os.listdir(f"{tmp}/data/rules")) == ["alice", "small"] and os.listdir(f"{tmp}/data/rules/alice") == ["ns1.yml"],
              [(d, os.listdir(f"{tmp}/data/rules/{d}")) for d in os.listdir(f"{tmp}/data/rules")])

        # a real Alertmanager receives alice's alert with her tenant label
        if am_bin:
            def in_am():
                st, _, body = request(amport, "/api/v2/alerts")
                al = [x for x in json.loads(body) if x["labels"].get("alertname") == "AliceHigh"] if st == 200 else []
                return al
            al = wait_until(in_am, timeout=30)
            check("Alertmanager has AliceHigh with namespace=client-alice", al and al[0]["labels"] ==
                  {"alertname": "AliceHigh", "namespace": "client-alice", "severity": "page"}, al)
        else:
            skip("Alertmanager receives the tenant alert", "Alertmanager is not installed")

        # a reload re-reads rule_files; the API's groups are not rule files and stay
        vig.p.send_signal(1)
        time.sleep(1.5)
        st, b = get_json(port, "/api/v1/rules", alice)
        check("a reload keeps the API's groups", st == 200 and [g["name"] for g in b["data"]["groups"]] == ["alice-rules"], b)

        # restart: the groups come back from the data directory, `for` state restored from her series
        def slow():
            st, b = get_json(port, "/api/v1/alerts", alice)
            a = [x for x in b["data"]["alerts"] if x["labels"].get("alertname") == "AliceSlow"] if st == 200 else []
            return a[0] if a else None
        time.sleep(max(0, 8 - (time.time() - now / 1000)))  # pending for several seconds before the restart
        before = slow()
        active_before = before and before["activeAt"]
        check("AliceSlow is pending before the restart", before and before["state"] == "pending", before)
        vig.stop()
        stopped = time.time()
        vig = Proc(argv, f"{tmp}/vigil2.log")
        procs.append(vig)
        check("vigil restarts", wait_http(port, "/-/ready"), vig.output())
        st, _, body = call(port, "GET", f"{base}/ns1/alice-rules", alice)
        check("alice's group survives the restart", st == 200 and (not yaml or yaml.safe_load(body) == yaml.safe_load(ALICE_GROUP)),
              (st, body))
        st, _, body = call(port, "GET", f"{base}/ns1/one", small)
        check("small's group survives the restart", st == 200 and "vector(3)" in body, (st, body))
        wait_until(slow, timeout=20)
        time.sleep(3)  # the state is restored after the group's second evaluation, as Prometheus does
        after = slow()
        if after and active_before:
            def secs(ts):
                return time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            # restored: activeAt moves by the downtime only, so it lies well before the restart's
            # first evaluation; fresh, it would be that evaluation itself
            check("AliceSlow's `for` state is restored from alice's ALERTS_FOR_STATE",
                  secs(after["activeAt"]) <= stopped - 4, (active_before, after, stopped))
        else:
            check("AliceSlow is back after the restart", False, (before, after))
        r = wait_until(recorded, timeout=20)
        check("the recording rule evaluates again after the restart", r and r[0]["value"][1] == "12", r)
        st, b = get_json(port, "/api/v1/rules", bob)
        check("bob still sees none of alice's groups", st == 200 and b["data"]["groups"] == [], b)
    finally:
        for p in procs:
            p.stop()
        import vigiltest
        if all(vigiltest.results):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"# logs kept in {tmp}")
    finish("ruler")


if __name__ == "__main__":
    main()
