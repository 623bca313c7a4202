#!/usr/bin/env python3
"""A tenant's own vigil API keys through the real binary (/api/v1/tenants/self/api-keys): alice creates
a key (answered once, 201; listed without the key or its digest), the key authenticates as alice (a
query sees her series only, a write gets her label), bob can neither see nor revoke it (404), a revoked
key is refused at once (401), names are checked, limits.max_api_keys (per-tenant override) refuses the
next key with 400, the creation rate limit answers 429 with Retry-After, an admin acts for alice with
?tenant= (and without it gets 400), the Grafana datasource's key is listed with its flag and is revoked
only with grafana=true, and keys survive a restart. Output is TAP."""
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import snappy, write_request  # noqa: E402
from test_tenancy import SECRET, claims, hs256  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, wait_http  # noqa: E402

VIGIL = sys.argv[1]
KEYS = "/api/v1/tenants/self/api-keys"


def call(port, path, token=None, method="GET", params=(), body=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        h["Content-Type"] = "application/json"
        body = json.dumps(body).encode()
    q = urllib.parse.urlencode(list(params))
    st, hd, text = request(port, f"{path}?{q}" if q else path, method=method, body=body, headers=h)
    try:
        return st, hd, json.loads(text) if text else None
    except ValueError:
        return st, hd, text


def create(port, token, name, params=()):
    return call(port, KEYS, token, "POST", params, {"name": name})


def query(port, token, q):
    return call(port, "/api/v1/query", token, params=[("query", q)])


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-apikeys-")
    procs = []
    try:
        with open(f"{tmp}/hs.key", "wb") as f:
            f.write(SECRET)
        # a Grafana datasource key of alice, as the Grafana integration leaves it in the store
        ds_key = "vgk_" + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        os.makedirs(f"{tmp}/data")
        with open(f"{tmp}/data/apikeys.json", "w") as f:
            json.dump([{"id": 1, "tenant": "alice", "name": "grafana-datasource",
                        "sha256": hashlib.sha256(ds_key.encode()).hexdigest(), "created_ms": int(time.time() * 1000)}], f)
        port = free_port()
        cfg = f"""storage: {{path: {tmp}/data}}
auth:
  jwt:
    admin_claim: {{name: role, value: admin}}
    issuer: https://issuer.test
    audience: vigil
    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]
tenants:
  enforce: {{namespace: "client-{{org_id}}"}}
  overrides:
    few: {{limits: {{max_api_keys: 2}}}}
grafana: {{token_requests: 5, token_window: 1h}}
"""
        with open(f"{tmp}/vigil.yml", "w") as f:
            f.write(cfg)
        argv = [VIGIL, "serve", "--config", f"{tmp}/vigil.yml", "--listen", f"127.0.0.1:{port}"]
        vig = Proc(argv, f"{tmp}/vigil.log")
        procs.append(vig)
        check("vigil starts", wait_http(port, "/-/ready"), vig.output()[-2000:])
        alice, bob = hs256(claims(org_id="alice")), hs256(claims(org_id="bob"))
        admin = hs256(claims(role="admin"))
        now = int(time.time() * 1000)
        for tok, name in ((alice, "alice_metric"), (bob, "bob_metric")):
            st, _, b = request(port, "/api/v1/write", method="POST", body=snappy(write_request([({"__name__": name}, [(now, 1)])])),
                               headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                                        "Authorization": f"Bearer {tok}"})
            check(f"{name} written", st == 204, b)

        # create: the key once, 201, not cached
        st, hd, body = create(port, alice, "ci deploy")
        k = body["data"] if st == 201 else {}
        key = k.get("key", "")
        check("alice creates a key: 201 with id, name, created and the key",
              st == 201 and key.startswith("vgk_") and len(key) == 47 and k["name"] == "ci deploy" and k["id"] > 1
              and k["created"].endswith("Z") and k["grafana"] is False, (st, body))
        check("… answered with Cache-Control: no-store", hd.get("Cache-Control") == "no-store", hd)
        st, _, body = call(port, KEYS, alice)
        listed = body["data"] if st == 200 else []
        check("alice lists her keys: the Grafana datasource's (flagged) and the new one",
              [(x["id"], x["name"], x["grafana"]) for x in listed] == [(1, "grafana-datasource", True), (k.get("id"), "ci deploy", False)],
              body)
        check("… never the key nor its digest", key not in json.dumps(body) and "sha256" not in json.dumps(body)
              and all(set(x) == {"id", "name", "created", "grafana"} for x in listed), body)
        with open(f"{tmp}/data/apikeys.json") as f:
            stored = f.read()
        check("the store keeps the digest, not the key", key and key not in stored
              and hashlib.sha256(key.encode()).hexdigest() in stored, stored)

        # the key is alice
        st, _, body = query(port, key, '{__name__=~".+_metric"}')
        got = sorted(r["metric"]["__name__"] for r in body["data"]["result"]) if st == 200 else body
        check("the new key authenticates a query scoped to alice", got == ["alice_metric"], (st, body))
        st, _, body = call(port, "/api/v1/tenants/self", key)
        check("… /tenants/self says tenant alice, not admin", st == 200 and body["data"]["tenant"] == "alice"
              and body["data"]["admin"] is False and body["data"]["limits"]["max_api_keys"] == 20, body)
        st, _, body = query(port, key, 'bob_metric{namespace="client-bob"}')
        check("… and cannot reach bob's series (403)", st == 403, (st, body))

        # bob cannot see or touch alice's key
        st, _, body = call(port, KEYS, bob)
        check("bob's list does not show alice's keys", st == 200 and body["data"] == [], body)
        st, _, body = call(port, f"{KEYS}/{k.get('id')}", bob, "DELETE")
        check("bob revoking alice's key → 404", st == 404, (st, body))
        st, _, body = call(port, f"{KEYS}/{k.get('id')}", bob, "DELETE", params=[("tenant", "alice")])
        check("… also with ?tenant=alice (a tenant acts for itself only)", st == 404, (st, body))
        st, _, body = call(port, f"{KEYS}/999", alice, "DELETE")
        check("an unknown id → 404", st == 404, (st, body))
        st, _, body = call(port, f"{KEYS}/abc", alice, "DELETE")
        check("a malformed id → 404", st == 404, (st, body))
        st, _, _ = query(port, key, "alice_metric")
        check("alice's key still works after bob's attempts", st == 200, st)

        # names
        for bad in ["", " lead", "trail ", "x" * 65, "semi;colon", "new\nline", "grafana-datasource"]:
            st, _, body = create(port, alice, bad)
            check(f"name {bad!r} → 400", st == 400 and body["errorType"] == "bad_data", (st, body))
        st, _, body = call(port, KEYS, alice, "POST", body={"nom": "x"})
        check("a body without a name → 400", st == 400, (st, body))

        # admin acts for a tenant
        st, _, body = call(port, KEYS, admin)
        check("an admin without ?tenant= → 400", st == 400 and "tenant" in body["error"], (st, body))
        st, _, body = call(port, KEYS, admin, params=[("tenant", "alice")])
        check("an admin with ?tenant=alice lists alice's keys",
              st == 200 and [x["name"] for x in body["data"]] == ["grafana-datasource", "ci deploy"], body)
        st, _, body = create(port, admin, "made by admin", params=[("tenant", "alice")])
        admin_made = body["data"] if st == 201 else {}
        st2, _, b2 = call(port, "/api/v1/tenants/self", admin_made.get("key"))
        check("an admin creates a key for alice: it is alice's, never admin",
              st == 201 and st2 == 200 and b2["data"]["tenant"] == "alice" and not b2["data"]["admin"], (st, body, st2, b2))
        st, _, body = call(port, f"{KEYS}/{admin_made.get('id')}", admin, "DELETE", params=[("tenant", "alice")])
        check("… and revokes it (204)", st == 204 and body is None, (st, body))
        st, _, _ = query(port, admin_made.get("key"), "alice_metric")
        check("… which is refused at once (401)", st == 401, st)

        # the Grafana datasource's key: revoked only when asked for by name
        st, _, body = query(port, ds_key, "alice_metric")
        check("the datasource key authenticates as alice", st == 200 and body["data"]["result"], (st, body))
        st, _, body = call(port, f"{KEYS}/1", alice, "DELETE")
        check("revoking the datasource key without grafana=true → 409, says why", st == 409 and "grafana=true" in body["error"], (st, body))
        st, _, _ = query(port, ds_key, "alice_metric")
        check("… and it still works", st == 200, st)

        # revoke
        st, _, body = call(port, f"{KEYS}/{k.get('id')}", alice, "DELETE")
        check("alice revokes her key (204)", st == 204, (st, body))
        st, _, body = query(port, key, "alice_metric")
        check("the revoked key is refused at once (401)", st == 401 and body["errorType"] == "unauthorized", (st, body))
        st, _, body = call(port, f"{KEYS}/{k.get('id')}", alice, "DELETE")
        check("revoking it again → 404", st == 404, (st, body))
        st, _, body = call(port, f"{KEYS}/1", alice, "DELETE", params=[("grafana", "true")])
        st2, _, _ = query(port, ds_key, "alice_metric")
        check("the datasource key with grafana=true: revoked (204), then 401", st == 204 and st2 == 401, (st, body, st2))

        # the count limit (per-tenant override: 2)
        few = hs256(claims(org_id="few"))
        codes = [create(port, few, f"k{i}")[0] for i in range(3)]
        st, _, body = create(port, few, "k3")
        check("limits.max_api_keys: 2 keys, then 400 naming the limit",
              codes[:2] == [201, 201] and codes[2] == 400 and st == 400 and "limits.max_api_keys" in body["error"], (codes, body))
        st, _, body = call(port, KEYS, few)
        ids = [x["id"] for x in body["data"]]
        check("… two keys listed", len(ids) == 2, body)
        call(port, f"{KEYS}/{ids[0]}", few, "DELETE")
        st, _, body = create(port, few, "after revoke")
        check("… a revoked key makes room", st == 201, (st, body))

        # the creation rate (grafana.token_requests: 5 per hour, per tenant): few used 5 above, refused ones included
        st, hd, body = create(port, few, "too fast")
        check("past grafana.token_requests creations → 429 with Retry-After",
              st == 429 and int(hd.get("Retry-After", "0")) > 0 and body["errorType"] == "too_many_requests", (st, hd, body))
        st, _, body = create(port, bob, "bob ci")
        check("… another tenant is not limited by it", st == 201, (st, body))
        bob_key = body["data"]["key"] if st == 201 else ""

        # restart: keys are durable
        vig.stop()
        vig = Proc(argv, f"{tmp}/vigil2.log")
        procs.append(vig)
        check("vigil restarts", wait_http(port, "/-/ready"), vig.output()[-2000:])
        st, _, body = call(port, "/api/v1/tenants/self", bob_key)
        check("bob's key works after a restart", st == 200 and body["data"]["tenant"] == "bob", (st, body))
        st, _, _ = query(port, key, "alice_metric")
        check("alice's revoked key stays revoked after a restart", st == 401, st)
        check("vigil still serving", vig.alive(), vig.output()[-2000:])
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish("integration_apikeys")


if __name__ == "__main__":
    main()
