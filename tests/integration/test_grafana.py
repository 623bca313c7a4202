#!/usr/bin/env python3
"""Grafana integration through the real binary against the contract fake of Grafana
(tests/grafana_fake): a tenant's POST /api/v1/metrics/grafana-token provisions its own organisation
(idempotently) and returns a service-account token; the datasource vigil puts there carries a vigil API
key that is scoped to the tenant (a query for another namespace through it is refused, its series are
the tenant's only), kept across token requests and rotated on request with the new key live before the
old is revoked (also when Grafana's update fails); token list and revocation; the 5-per-window rate
limit (a sliding window); dashboards from templates and public links; Grafana down gives a clear 503 and shows in
/api/v1/status. Output is TAP."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import snappy, write_request  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http  # noqa: E402

VIGIL = sys.argv[1]
ROOT = os.environ.get("VIGIL_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
SECRET = b"grafana-test-secret-of-at-least-32-bytes!"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(**claims):
    claims.setdefault("exp", int(time.time()) + 3600)
    head = b64(b'{"alg":"HS256","typ":"JWT","kid":"k1"}')
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}." + b64(hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest())


def call(port, path, tok, method="GET", body=None, params=()):
    h = {"Authorization": f"Bearer {tok}"} if tok else {}
    if body is not None:
        h["Content-Type"] = "application/json"
        body = json.dumps(body).encode()
    q = urllib.parse.urlencode(list(params))
    st, hd, text = request(port, f"{path}?{q}" if q else path, method=method, body=body, headers=h)
    try:
        return st, hd, json.loads(text)
    except ValueError:
        return st, hd, text


def main():
    fake_py = os.path.join(ROOT, "tests", "grafana_fake", "fake_grafana.py")
    tmp = tempfile.mkdtemp(prefix="vigil-grafana-")
    procs = []
    fake = subprocess.Popen([sys.executable, fake_py, "--port", "0", "--admin-password", "pw"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = fake.stdout.readline()
        if not line.startswith("PORT "):
            skip("grafana", "the Grafana fake did not start")
            finish("integration_grafana")
        gport = int(line.split()[1])
        fake_state = lambda: json.loads(request(gport, "/__fake/state")[2])
        with open(f"{tmp}/hs.key", "wb") as f:
            f.write(SECRET)
        with open(f"{tmp}/gpw", "w") as f:
            f.write("pw\n")
        port = free_port()
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(f"""storage: {{path: {tmp}/data}}
auth:
  jwt:
    admin_claim: {{name: role, value: admin}}
    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]
grafana:
  url: http://127.0.0.1:{gport}
  external_url: https://grafana.example.com
  admin_user: admin
  admin_password_file: {tmp}/gpw
  vigil_url: http://127.0.0.1:{port}
  dashboards_dir: {ROOT}/grafana/dashboards
  token_window: 5m
  datasource_url_allow: ["http://127.0.0.1:{gport}/allowed"]
  retries: 1
  retry_backoff: 10ms
  timeout: 3s
""")
        vig = Proc([VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{port}"], f"{tmp}/vigil.log")
        procs.append(vig)
        check("vigil starts with Grafana configured", wait_http(port, "/-/ready"), vig.output())
        alice, bob, admin = token(org_id="alice"), token(org_id="bob"), token(role="admin")
        now = int(time.time() * 1000)
        for tok, ns in ((alice, "client-alice"), (bob, "client-bob")):
            h = {"Content-Encoding": "snappy", "Authorization": f"Bearer {tok}"}
            st, _, body = request(port, "/api/v1/write", method="POST", headers=h,
                                  body=snappy(write_request([({"__name__": "app_up", "pod": ns}, [(now, 1)])])))
            check(f"{ns}'s data is written", st == 204, body)

        t_first = time.monotonic()
        st, _, t1 = call(port, "/api/v1/metrics/grafana-token", alice, method="POST")
        fields = {"token", "name", "service_account_id", "grafana_url", "org_id", "namespace", "message", "expires_in_days"}
        check("grafana-token: 200 with the seed's fields", st == 200 and fields <= set(t1) and t1["name"] == "metrics-alice-token-1"
              and t1["namespace"] == "client-alice" and t1["grafana_url"].startswith("https://grafana.example.com")
              and t1["expires_in_days"] == 365, (st, t1))
        state = fake_state()
        orgs = {o["name"]: o for o in state["orgs"]}
        org = orgs.get("vigil-alice")
        check("alice's organisation is provisioned: datasource, folder, dashboards, Viewer account",
              org and [d["uid"] for d in org["datasources"]] == ["vigil"] and org["folders"] and len(org["dashboards"]) >= 4
              and any(sa["name"] == "metrics-alice" and sa["role"] == "Viewer" for sa in org["service_accounts"]), org)
        ds = org["datasources"][0]
        key1 = ds["secureJsonData"]["httpHeaderValue1"].split(" ", 1)[1]
        check("the datasource points at vigil with a vigil API key", ds["url"] == f"http://127.0.0.1:{port}"
              and key1.startswith("vgk_") and ds["jsonData"]["httpHeaderName1"] == "Authorization", ds)

        # datasource URLs: a tenant reaches vigil or the allowed prefixes only; an admin anything
        refused = [f"http://127.0.0.1:{port}@169.254.169.254/", f"http://127.0.0.1:{gport}/",
                   f"http://127.0.0.1:{gport}/allowed-not", f"http://127.0.0.1:{gport}/allowed/../api/admin",
                   f"http://127.0.0.1:{port}.evil.example/", "http://169.254.169.254/latest/meta-data"]
        n_ds = lambda: len({o["name"]: o for o in fake_state()["orgs"]}["vigil-alice"]["datasources"])
        before = n_ds()
        res = [call(port, "/api/v1/grafana/datasources", alice, method="POST", body={"name": f"x{i}", "url": u})
               for i, u in enumerate(refused)]
        check("a tenant's datasource elsewhere than vigil or an allowed prefix: 403, nothing created",
              all(r[0] == 403 and r[2]["errorType"] == "forbidden" for r in res) and n_ds() == before
              and "169.254" not in json.dumps([r[2] for r in res]), [(r[0], r[2]) for r in res])
        ok = [call(port, "/api/v1/grafana/datasources", alice, method="POST", body={"name": f"ok{i}", "url": u})[0]
              for i, u in enumerate([f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{gport}/allowed/prom"])]
        st, _, body = call(port, "/api/v1/grafana/datasources", admin, method="POST", params=[("tenant", "alice")],
                           body={"name": "by-admin", "url": "http://169.254.169.254/"})
        check("a tenant's datasource at vigil or under an allowed prefix is created; an admin is not restricted",
              ok == [200, 200] and st == 200 and n_ds() == before + 3, (ok, st, body))
        for name in ("ok0", "ok1", "by-admin"):  # alice's org keeps vigil's datasource only, as the checks below expect
            uid = next(d["uid"] for d in {o["name"]: o for o in fake_state()["orgs"]}["vigil-alice"]["datasources"]
                       if d["name"] == name)
            request(gport, f"/api/datasources/uid/{uid}", method="DELETE", headers={
                "Authorization": "Basic " + base64.b64encode(b"admin:pw").decode(), "X-Grafana-Org-Id": str(org["id"])})

        # the datasource credential is alice's and only alice's
        st, _, body = call(port, "/api/v1/series", key1, params=[("match[]", '{__name__=~".+"}')])
        check("through the datasource key: alice's series only", st == 200 and body["data"]
              and all(s["namespace"] == "client-alice" for s in body["data"]), body)
        st, _, body = call(port, "/api/v1/series", key1, params=[("match[]", 'app_up{namespace="client-bob"}')])
        check("through the datasource key: another namespace is refused", st == 403, body)
        st, _, body = call(port, "/api/v1/status/config", key1)
        check("the datasource key is not admin", st == 403, body)

        st, _, t2 = call(port, "/api/v1/metrics/grafana-token", alice, method="POST")
        state2 = fake_state()
        org2 = {o["name"]: o for o in state2["orgs"]}["vigil-alice"]
        key2 = org2["datasources"][0]["secureJsonData"]["httpHeaderValue1"].split(" ", 1)[1]
        check("second token: token-2, no duplicate objects", st == 200 and t2["name"] == "metrics-alice-token-2"
              and len(org2["datasources"]) == 1 and len(org2["dashboards"]) == len(org["dashboards"])
              and len([o for o in state2["orgs"] if o["name"] == "vigil-alice"]) == 1, (t2, org2))
        check("a second token keeps the datasource key (still valid, not rewritten)",
              key2 == key1 and call(port, "/api/v1/labels", key1)[0] == 200, (key1[:8], key2[:8]))

        def ds_key():
            o = {o["name"]: o for o in fake_state()["orgs"]}["vigil-alice"]
            return o["datasources"][0]["secureJsonData"]["httpHeaderValue1"].split(" ", 1)[1]

        def ds_keys_stored():
            with open(f"{tmp}/data/apikeys.json") as f:
                return len([k for k in json.load(f) if k["tenant"] == "alice" and k["name"] == "grafana-datasource"])

        st, _, body = call(port, "/api/v1/metrics/grafana-credential/rotate", alice, method="POST")
        key3 = ds_key()
        check("rotate: the new key is live in Grafana, the old one revoked", st == 200 and body["data"]["rotated"]
              and body["data"]["revoked_keys"] == 1 and key3 != key1 and call(port, "/api/v1/labels", key1)[0] == 401
              and call(port, "/api/v1/labels", key3)[0] == 200 and ds_keys_stored() == 1, (st, body))
        request(gport, "/__fake/fail", method="POST", body=json.dumps(
            {"path_prefix": "/api/datasources/uid/vigil", "method": "PUT", "status": 500, "count": 100}).encode())
        st, _, body = call(port, "/api/v1/metrics/grafana-credential/rotate", alice, method="POST")
        request(gport, "/__fake/up", method="POST", body=b"{}")  # clears the faults
        check("rotate while Grafana's update fails: an error, the old key stays live, the new one is revoked",
              st == 503 and ds_key() == key3 and call(port, "/api/v1/labels", key3)[0] == 200 and ds_keys_stored() == 1,
              (st, body))
        request(gport, "/__fake/fail", method="POST", body=json.dumps(
            {"path_prefix": "/api/datasources/uid/vigil", "method": "PUT", "status": 502, "count": 100,
             "after": True}).encode())
        st, _, body = call(port, "/api/v1/metrics/grafana-credential/rotate", alice, method="POST")
        request(gport, "/__fake/up", method="POST", body=b"{}")
        key4 = ds_key()
        check("rotate whose answer is lost after Grafana stored the key: the new key is the live one",
              st == 503 and key4 != key3 and call(port, "/api/v1/labels", key4)[0] == 200
              and call(port, "/api/v1/labels", key3)[0] == 401 and ds_keys_stored() == 1, (st, body))
        st, _, body = call(port, "/api/v1/metrics/grafana-credential/rotate", token(org_id="carol"), method="POST")
        check("rotate provisions a tenant that has no organisation yet", st == 200 and body["data"]["rotated"], (st, body))

        st, _, lst = call(port, "/api/v1/metrics/grafana-tokens", alice)
        names = [t["name"] for t in lst["data"]]
        check("token list", st == 200 and names == ["metrics-alice-token-1", "metrics-alice-token-2"], lst)
        st, _, body = call(port, f"/api/v1/metrics/grafana-tokens/{lst['data'][0]['id']}", alice, method="DELETE")
        st2, _, lst2 = call(port, "/api/v1/metrics/grafana-tokens", alice)
        check("token revoke", st == 200 and [t["name"] for t in lst2["data"]] == ["metrics-alice-token-2"], (body, lst2))
        st, _, body = call(port, "/api/v1/metrics/grafana-tokens", bob)
        check("bob has no tokens (not provisioned) and sees none of alice's", st in (200, 404) and "alice" not in json.dumps(body), body)

        sts = [call(port, "/api/v1/metrics/grafana-token", alice, method="POST")[0] for _ in range(3)]
        st6, hd6, body6 = call(port, "/api/v1/metrics/grafana-token", alice, method="POST")
        elapsed = time.monotonic() - t_first
        ra = int(hd6.get("Retry-After", "0"))
        # the oldest of the five (alice's first) leaves the 5m window 300s after it was taken
        check("5 grafana-token requests per 5m window: the 6th is 429, Retry-After when the oldest leaves",
              sts == [200] * 3 and st6 == 429 and 300 - elapsed - 1 <= ra <= 300 and "any 5m" in body6["error"],
              (sts, st6, ra, elapsed, body6))
        st, _, body = call(port, "/api/v1/metrics/grafana-token", admin, method="POST", params=[("tenant", "alice")])
        check("an admin acting for alice counts against alice's window", st == 429, (st, body))

        st, _, d = call(port, "/api/v1/grafana/dashboards", bob, method="POST", body={"template": "k8s-namespace", "variables": {"cluster": "prod"}})
        check("dashboard from a template needs a provisioned org", st == 404, (st, d))
        call(port, "/api/v1/metrics/grafana-token", bob, method="POST")
        st, _, d = call(port, "/api/v1/grafana/dashboards", bob, method="POST", body={"template": "k8s-namespace", "variables": {"cluster": "prod"}})
        check("dashboard from a template", st == 200 and d["data"]["uid"], (st, d))
        uid = d["data"]["uid"] if st == 200 else "x"
        st, _, p = call(port, f"/api/v1/grafana/dashboards/{uid}/public", bob, method="POST")
        check("public dashboard link", st == 200 and "public-dashboards" in json.dumps(p), (st, p))
        st, _, body = call(port, f"/api/v1/grafana/dashboards/{uid}", alice)
        check("alice cannot read bob's dashboard", st == 404, (st, body))
        st, _, body = call(port, "/api/v1/grafana/dashboards", admin)
        check("an admin must name the tenant", st == 400, body)
        st, _, body = call(port, "/api/v1/grafana/dashboards", admin, params=[("tenant", "bob")])
        check("an admin names the tenant", st == 200 and any(x["uid"] == uid for x in body["data"]), body)
        # datasources and alert rules: read and delete, in the caller's organisation only
        st, _, body = call(port, "/api/v1/grafana/datasources", bob, method="POST",
                           body={"name": "second", "uid": "second", "url": f"http://127.0.0.1:{port}/"})
        st, _, lst = call(port, "/api/v1/grafana/datasources", bob)
        check("datasource list", st == 200 and sorted(d["uid"] for d in lst["data"]) == ["second", "vigil"], lst)
        st, _, one = call(port, "/api/v1/grafana/datasources/second", bob)
        st2, _, _ = call(port, "/api/v1/grafana/datasources/second", alice)
        check("datasource get: the caller's own only", st == 200 and one["data"]["uid"] == "second" and st2 == 404,
              (st, one, st2))
        st, _, body = call(port, "/api/v1/grafana/datasources/vigil", bob, method="DELETE")
        st2, _, _ = call(port, "/api/v1/grafana/datasources/second", alice, method="DELETE")
        st3, _, _ = call(port, "/api/v1/grafana/datasources/second", bob, method="DELETE")
        st4, _, _ = call(port, "/api/v1/grafana/datasources/second", bob)
        check("datasource delete: vigil's own is refused to a tenant, another tenant's is not found",
              st == 403 and st2 == 404 and st3 == 200 and st4 == 404, (st, body, st2, st3, st4))
        rule = {"uid": "bob-rule", "title": "errors", "ruleGroup": "g", "condition": "A", "for": "1m",
                "data": [{"refId": "A", "relativeTimeRange": {"from": 600, "to": 0}, "datasourceUid": "vigil",
                          "model": {"refId": "A", "expr": "up"}}]}
        st, _, body = call(port, "/api/v1/grafana/alerts", bob, method="POST", body=rule)
        st2, _, lst = call(port, "/api/v1/grafana/alerts", bob)
        st3, _, lst_a = call(port, "/api/v1/grafana/alerts", alice)
        st4, _, one = call(port, "/api/v1/grafana/alerts/bob-rule", bob)
        st5, _, _ = call(port, "/api/v1/grafana/alerts/bob-rule", alice)
        check("alert rules: list and get in the caller's organisation only",
              st == 200 and [r["uid"] for r in lst["data"]] == ["bob-rule"] and lst_a["data"] == []
              and st4 == 200 and one["data"]["title"] == "errors" and st5 == 404, (st, body, lst, lst_a, st4, st5))
        st, _, _ = call(port, "/api/v1/grafana/alerts/bob-rule", bob, method="DELETE")
        st2, _, _ = call(port, "/api/v1/grafana/alerts/bob-rule", bob)
        check("alert rule delete", st == 200 and st2 == 404, (st, st2))
        # the seed API's snake_case body: aliases mapped, no rule group → "vigil", unknown fields refused
        seed = {"uid": "seed-rule", "title": "seed", "condition": "A", "for_duration": "5m",
                "no_data_state": "OK", "exec_err_state": "Alerting", "folder_uid": "vigil",
                "labels": {"severity": "page"}, "annotations": {"summary": "down"},
                "data": [{"refId": "A", "relativeTimeRange": {"from": 300, "to": 0}, "datasourceUid": "vigil",
                          "model": {"refId": "A", "expr": "up == 0"}}]}
        st, _, body = call(port, "/api/v1/grafana/alerts", bob, method="POST", body=seed)
        st2, _, one = call(port, "/api/v1/grafana/alerts/seed-rule", bob)
        got = one.get("data", {}) if isinstance(one, dict) else {}
        check("seed-style alert rule: snake_case fields mapped onto Grafana's, default rule group",
              st == 200 and st2 == 200 and got.get("for") == "5m" and got.get("noDataState") == "OK"
              and got.get("execErrState") == "Alerting" and got.get("folderUID") == "vigil"
              and got.get("ruleGroup") == "vigil" and got.get("labels") == {"severity": "page"}
              and got.get("annotations") == {"summary": "down"}
              and not any(k in got for k in ("for_duration", "no_data_state", "exec_err_state", "folder_uid")),
              (st, body, st2, one))
        bad = dict(seed, uid="seed-bad", severity="page", interval="1m")
        st, _, body = call(port, "/api/v1/grafana/alerts", bob, method="POST", body=bad)
        st2, _, _ = call(port, "/api/v1/grafana/alerts/seed-bad", bob)
        err = body.get("error", "") if isinstance(body, dict) else ""
        check("alert rule: every unknown field named in a 400, nothing created",
              st == 400 and '"severity"' in err and '"interval"' in err and st2 == 404, (st, body, st2))
        both = dict(seed, uid="seed-both", **{"for": "5m"})
        st, _, body = call(port, "/api/v1/grafana/alerts", bob, method="POST", body=both)
        err = body.get("error", "") if isinstance(body, dict) else ""
        check("alert rule: both spellings of a field are a 400 naming both",
              st == 400 and '"for"' in err and '"for_duration"' in err, (st, body))
        call(port, "/api/v1/grafana/alerts/seed-rule", bob, method="DELETE")
        # the cluster overview's dashboard: created from the cluster template on first request, published,
        # the same link afterwards; only for a cluster the tenant has nodes in
        h = {"Content-Encoding": "snappy", "Authorization": f"Bearer {alice}"}
        node = {"__name__": "node_uname_info", "cluster": "c1", "nodename": "n1", "instance": "10.0.0.1:9100", "job": "node"}
        st, _, body = request(port, "/api/v1/write", method="POST", headers=h,
                              body=snappy(write_request([(node, [(int(time.time() * 1000), 1)])])))
        check("alice's node of cluster c1 is written", st == 204, body)
        st, _, d1 = call(port, "/api/v1/clusters/c1/grafana-dashboard", alice)
        orgs = {o["name"]: o for o in fake_state()["orgs"]}
        dash = [x for x in orgs["vigil-alice"]["dashboards"] if st == 200 and x["uid"] == d1["data"]["dashboard_uid"]]
        pub = [x for x in orgs["vigil-alice"]["public_dashboards"] if st == 200 and x["dashboardUid"] == d1["data"]["dashboard_uid"]]
        check("cluster dashboard: created from the template and published on first request",
              st == 200 and d1["data"]["created"] is True and d1["data"]["url"] and len(dash) == 1 and len(pub) == 1,
              (st, d1, orgs["vigil-alice"]["public_dashboards"]))
        st, _, d2 = call(port, "/api/v1/clusters/c1/grafana-dashboard", alice)
        check("cluster dashboard: the same link afterwards, nothing created again",
              st == 200 and d2["data"]["created"] is False and d2["data"]["url"] == d1["data"]["url"]
              and len([x for x in {o["name"]: o for o in fake_state()["orgs"]}["vigil-alice"]["dashboards"]
                       if x["uid"] == d1["data"]["dashboard_uid"]]) == 1, (st, d2))
        st, _, body = call(port, "/api/v1/clusters/c1/grafana-dashboard", bob)
        check("cluster dashboard: another tenant's cluster is 404", st == 404, (st, body))
        st, _, body = call(port, "/api/v1/grafana/health", alice)
        check("grafana health", st == 200, body)

        request(gport, "/__fake/down", method="POST", body=b"{}")
        st, _, body = call(port, "/api/v1/metrics/grafana-token", bob, method="POST")
        check("Grafana down: 503 unavailable with Grafana's error", st == 503 and body["errorType"] == "unavailable", (st, body))
        comp = json.loads(request(port, "/api/v1/status")[2])["data"]["components"].get("grafana", {})
        check("Grafana down shows in /api/v1/status", comp.get("status") == "down", comp)
        st, _, body = call(port, "/api/v1/metrics/health", alice)
        check("tenant metrics health reports it", st == 503 and body["components"]["grafana"]["status"] == "down", body)
        request(gport, "/__fake/up", method="POST", body=b"{}")
        st, _, body = call(port, "/api/v1/grafana/health", alice)
        check("Grafana back: healthy again", st == 200 and call(port, "/api/v1/metrics/health", alice)[0] == 200, body)
        log = vig.output()
        check("no token or key in vigil's log", "glsa_" not in log and "vgk_" not in log and t1["token"] not in log)
        check("vigil survives", vig.alive(), log[-2000:])
    finally:
        for p in procs:
            p.stop()
        fake.kill()
        fake.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_grafana")


if __name__ == "__main__":
    main()
