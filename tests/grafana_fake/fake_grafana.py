#!/usr/bin/env python3
"""A contract fake of the Grafana 10/11 HTTP API, for vigil's grafana module tests.

Built from the Grafana API facts file and the OpenAPI subset (read from ../shared/grafana at start),
standard library only. What it holds to:
  * Request bodies are validated against the subset's schemas (types, required, enum, length, pattern),
    with the facts file's corrections: alert-rule `for` is a duration string, relativeTimeRange is numbers
    of seconds. A body that fails binding gets Grafana's 400 {"message":"bad request data"}.
  * Status codes and the three error shapes are Grafana's: plain {"message"}, errutil
    {"statusCode","messageId","message"}, and dashboard {"status","message"}.
  * Every object lives in one org; basic auth acts in X-Grafana-Org-Id (member orgs only), a service
    account token acts in its own org with its own role. Viewer tokens may POST /api/ds/query against
    any datasource of their org, as OSS does (the leak vigil's one-org-per-tenant design exists for).
  * Control endpoints under /__fake/ (no auth): fail (inject statuses, before or after the real work),
    down/up (reset connections without answering), unhealthy/healthy, state, log, reset.

Usage: fake_grafana.py [--port N] [--admin-user U] [--admin-password P]
Prints "PORT <n>" on stdout once it listens (port 0 = pick a free one).
"""

import argparse
import base64
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
ROLES = {"None": 0, "Viewer": 1, "Editor": 2, "Admin": 3}
DURATION_RE = r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"
UID_RE = re.compile(r"^[a-zA-Z0-9\-_]+$")
MAX_BODY = 8 << 20


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(status)
        self.status = status
        self.body = body


def plain(status, message):
    return ApiError(status, {"message": message})


def errutil(status, message_id, message):
    return ApiError(status, {"statusCode": status, "messageId": message_id, "message": message})


def dash_err(status, st, message):
    return ApiError(status, {"status": st, "message": message})


# ---------------------------------------------------------------------------------------------------
# Schema validation against the OpenAPI subset


def norm(template):
    return re.sub(r"\{[^}]+\}", "{}", template)


class Schemas:
    def __init__(self, path):
        with open(path) as f:
            spec = json.load(f)
        self.defs = spec["definitions"]
        # Corrections from the facts file (x-anchor-corrections): the Go code wins over the spec.
        self.defs["ProvisionedAlertRule"]["properties"]["for"] = {"type": "string", "pattern": DURATION_RE}
        self.defs["RelativeTimeRange"] = {"type": "object",
                                          "properties": {"from": {"type": "number"}, "to": {"type": "number"}}}
        self.bodies = {}
        for p, ops in spec["paths"].items():
            for m, op in ops.items():
                if not isinstance(op, dict):
                    continue
                for prm in op.get("parameters", []):
                    if prm.get("in") == "body" and "schema" in prm:
                        self.bodies[(m.upper(), norm("/api" + p))] = prm["schema"]

    def body_schema(self, method, template):
        return self.bodies.get((method, norm(template)))

    def validate(self, schema, v, where="body"):
        """Returns None or a description of the first violation."""
        if "$ref" in schema:
            return self.validate(self.defs[schema["$ref"].split("/")[-1]], v, where)
        t = schema.get("type")
        if v is None:
            return None  # Go's JSON decoding leaves nulls as zero values
        checks = {"object": lambda x: isinstance(x, dict), "array": lambda x: isinstance(x, list),
                  "string": lambda x: isinstance(x, str), "boolean": lambda x: isinstance(x, bool),
                  "integer": lambda x: isinstance(x, int) and not isinstance(x, bool)
                  or isinstance(x, float) and x.is_integer(),
                  "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)}
        if t in checks and not checks[t](v):
            return "%s: want %s" % (where, t)
        if "enum" in schema and v not in schema["enum"]:
            return "%s: %r not in %s" % (where, v, schema["enum"])
        if isinstance(v, str):
            if "minLength" in schema and len(v) < schema["minLength"]:
                return "%s: too short" % where
            if "maxLength" in schema and len(v) > schema["maxLength"]:
                return "%s: too long" % where
            if "pattern" in schema and not re.search(schema["pattern"], v):
                return "%s: does not match %s" % (where, schema["pattern"])
        if isinstance(v, dict):
            for r in schema.get("required", []):
                if r not in v:
                    return "%s.%s: required" % (where, r)
            props = schema.get("properties", {})
            for k, sub in v.items():
                if k in props:
                    e = self.validate(props[k], sub, where + "." + k)
                    if e:
                        return e
                elif isinstance(schema.get("additionalProperties"), dict):
                    e = self.validate(schema["additionalProperties"], sub, where + "." + k)
                    if e:
                        return e
        if isinstance(v, list) and "items" in schema:
            for i, sub in enumerate(v):
                e = self.validate(schema["items"], sub, "%s[%d]" % (where, i))
                if e:
                    return e
        return None


# ---------------------------------------------------------------------------------------------------
# State


class Org:
    def __init__(self, oid, name):
        self.id = oid
        self.name = name
        self.members = {}  # login -> role
        self.datasources = {}  # uid -> dict
        self.folders = {}  # uid -> dict
        self.dashboards = {}  # uid -> {"dashboard":…, "version", "folderUid", "id", ...}
        self.service_accounts = {}  # id -> dict
        self.public_dashboards = {}  # dashboardUid -> dict
        self.alert_rules = {}  # uid -> dict


class State:
    def __init__(self, admin_user, admin_password):
        self.lock = threading.RLock()
        self.admin_user = admin_user
        self.admin_password = admin_password
        self.reset()

    def reset(self):
        self.next_id = 1
        self.orgs = {}
        self.tokens = {}  # key -> {"id","name","sa","org","created","expires","lastUsedAt","revoked"}
        self.mutations = 0
        self.faults = []
        self.down = False
        self.unhealthy = False
        self.log = []
        main = self.new_org("Main Org.")
        main.members[self.admin_user] = "Admin"

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def new_org(self, name):
        oid = 1 if not self.orgs else max(self.orgs) + 1
        org = Org(oid, name)
        self.orgs[oid] = org
        return org

    def snapshot(self):
        """Everything a test may assert on; token secrets are not part of it."""
        orgs = []
        for o in sorted(self.orgs.values(), key=lambda o: o.id):
            sas = []
            for sa in sorted(o.service_accounts.values(), key=lambda s: s["id"]):
                toks = [dict(id=t["id"], name=t["name"], expires=t["expires"], revoked=t["revoked"])
                        for t in sorted(self.tokens.values(), key=lambda t: t["id"]) if t["sa"] == sa["id"]]
                sas.append(dict(sa, tokens=toks))
            orgs.append({"id": o.id, "name": o.name, "members": o.members,
                         "datasources": sorted(o.datasources.values(), key=lambda d: d["uid"]),
                         "folders": sorted(o.folders.values(), key=lambda d: d["uid"]),
                         "dashboards": [o.dashboards[k] for k in sorted(o.dashboards)],
                         "service_accounts": sas,
                         "public_dashboards": [o.public_dashboards[k] for k in sorted(o.public_dashboards)],
                         "alert_rules": [o.alert_rules[k] for k in sorted(o.alert_rules)]})
        return {"mutations": self.mutations, "orgs": orgs}


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def slugify(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-") or "dashboard"


def new_uid():
    return secrets.token_hex(7)


def new_token_key():
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    secret = "".join(secrets.choice(alnum) for _ in range(32))
    return "glsa_%s_%08x" % (secret, zlib.crc32(secret.encode()) & 0xffffffff)


# ---------------------------------------------------------------------------------------------------
# Routes: (method, template, min_role, handler). min_role: "server" (server admin, basic auth only),
# "none" (no auth), or an org role name.

ROUTES = []


def route(method, template, role):
    rx = re.compile("^" + re.sub(r"\{[^}]+\}", r"([^/]+)", template) + "/?$")

    def deco(fn):
        ROUTES.append((method, template, rx, role, fn))
        return fn
    return deco


class Ctx:
    def __init__(self, st, org, login, role, is_server_admin, sa_id, body, query, headers):
        self.st, self.org, self.login, self.role = st, org, login, role
        self.server_admin, self.sa_id, self.body, self.q, self.headers = is_server_admin, sa_id, body, query, headers

    def qs(self, k, d=None):
        return self.q.get(k, [d])[0]

    def mutate(self):
        self.st.mutations += 1


@route("GET", "/api/health", "none")
def health(c):
    if c.st.unhealthy:
        raise ApiError(503, {"database": "failing", "version": "11.2.0", "commit": "fake"})
    return 200, {"database": "ok", "version": "11.2.0", "commit": "fake"}


@route("GET", "/api/org", "Viewer")
def get_org(c):
    return 200, {"id": c.org.id, "name": c.org.name, "address": {}}


@route("GET", "/api/orgs", "server")
def search_orgs(c):
    name, query = c.qs("name"), c.qs("query")
    res = [{"id": o.id, "name": o.name} for o in sorted(c.st.orgs.values(), key=lambda o: o.id)
           if (name is None or o.name == name) and (query is None or query in o.name)]
    return 200, res


@route("POST", "/api/orgs", "server")
def create_org(c):
    name = c.body.get("name") or ""
    if not name:
        raise plain(400, "bad request data")
    if any(o.name == name for o in c.st.orgs.values()):
        raise plain(409, "Organization name taken")
    org = c.st.new_org(name)
    org.members[c.login] = "Admin"  # the creator becomes the org's Admin
    c.mutate()
    return 200, {"message": "Organization created", "orgId": org.id}


def org_by_id(c, oid):
    try:
        return c.st.orgs[int(oid)]
    except (ValueError, KeyError):
        raise plain(404, "Organization not found")


@route("GET", "/api/orgs/{org_id}", "server")
def get_org_by_id(c, oid):
    o = org_by_id(c, oid)
    return 200, {"id": o.id, "name": o.name, "address": {}}


@route("POST", "/api/orgs/{org_id}/users", "server")
def add_org_user(c, oid):
    o = org_by_id(c, oid)
    login, role = c.body.get("loginOrEmail"), c.body.get("role") or "Viewer"
    if login != c.st.admin_user:
        raise plain(404, "User not found")
    if login in o.members:
        raise plain(409, "User is already member of this organization")
    o.members[login] = role
    c.mutate()
    return 200, {"message": "User added to organization", "userId": 1}


# --- service accounts ------------------------------------------------------------------------------

def sa_get(c, sid):
    try:
        sa = c.org.service_accounts[int(sid)]
    except (ValueError, KeyError):
        raise errutil(404, "serviceaccounts.ErrNotFound", "service account not found")
    return sa


@route("GET", "/api/serviceaccounts/search", "Admin")
def sa_search(c):
    q = c.qs("query", "")
    perpage, page = int(c.qs("perpage", "1000")), int(c.qs("page", "1"))
    hits = [sa for sa in sorted(c.org.service_accounts.values(), key=lambda s: s["id"]) if q in sa["name"]]
    return 200, {"totalCount": len(hits), "serviceAccounts": hits[(page - 1) * perpage:page * perpage],
                 "page": page, "perPage": perpage}


@route("POST", "/api/serviceaccounts", "Admin")
def sa_create(c):
    name, role = c.body.get("name"), c.body.get("role") or "None"
    if not name:
        raise plain(400, "bad request data")
    if ROLES[role] > ROLES[c.role]:
        raise errutil(403, "serviceaccounts.ErrRoleForbidden", "can not assign a role higher than user's role")
    if any(sa["name"] == name for sa in c.org.service_accounts.values()):
        raise errutil(400, "serviceaccounts.ErrAlreadyExists", "service account already exists")
    sid = c.st.new_id()
    sa = {"id": sid, "uid": new_uid(), "name": name, "login": "sa-%d-%s" % (c.org.id, slugify(name)),
          "orgId": c.org.id, "isDisabled": bool(c.body.get("isDisabled")), "role": role, "tokens": 0,
          "avatarUrl": "/avatar/x"}
    c.org.service_accounts[sid] = sa
    c.mutate()
    return 201, sa


@route("GET", "/api/serviceaccounts/{id}", "Admin")
def sa_read(c, sid):
    return 200, sa_get(c, sid)


@route("DELETE", "/api/serviceaccounts/{id}", "Admin")
def sa_delete(c, sid):
    sa = sa_get(c, sid)
    del c.org.service_accounts[sa["id"]]
    for k in [k for k, t in c.st.tokens.items() if t["sa"] == sa["id"]]:
        del c.st.tokens[k]
    c.mutate()
    return 200, {"message": "Service account deleted"}


def token_dto(t):
    now = time.time()
    return {"id": t["id"], "name": t["name"], "created": t["created"], "lastUsedAt": t["lastUsedAt"],
            "expiration": None if t["expires"] is None else
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t["expires"])),
            "secondsUntilExpiration": None if t["expires"] is None else max(0, t["expires"] - now),
            "hasExpired": t["expires"] is not None and t["expires"] <= now, "isRevoked": t["revoked"]}


@route("GET", "/api/serviceaccounts/{id}/tokens", "Admin")
def sa_tokens(c, sid):
    sa = sa_get(c, sid)
    return 200, [token_dto(t) for t in sorted(c.st.tokens.values(), key=lambda t: t["id"]) if t["sa"] == sa["id"]]


@route("POST", "/api/serviceaccounts/{id}/tokens", "Admin")
def sa_token_create(c, sid):
    sa = sa_get(c, sid)
    name, ttl = c.body.get("name"), c.body.get("secondsToLive") or 0
    if not name:
        raise plain(400, "bad request data")
    if ttl < 0:
        raise plain(400, "Number of seconds before expiration is greater than the global limit")
    org_sas = set(c.org.service_accounts)
    if any(t["name"] == name and t["sa"] in org_sas for t in c.st.tokens.values()):
        raise errutil(400, "serviceaccounts.ErrTokenAlreadyExists",
                      "service account token with given name already exists in the organization")
    key = new_token_key()
    tid = c.st.new_id()
    c.st.tokens[key] = {"id": tid, "name": name, "sa": sa["id"], "org": c.org.id, "created": now_iso(),
                        "expires": None if ttl == 0 else int(time.time()) + int(ttl), "lastUsedAt": None,
                        "revoked": False}
    sa["tokens"] += 1
    c.mutate()
    return 200, {"id": tid, "name": name, "key": key}


@route("DELETE", "/api/serviceaccounts/{id}/tokens/{tokenId}", "Admin")
def sa_token_delete(c, sid, tid):
    sa = sa_get(c, sid)
    for k, t in list(c.st.tokens.items()):
        if str(t["id"]) == tid and t["sa"] == sa["id"]:
            del c.st.tokens[k]
            sa["tokens"] -= 1
            c.mutate()
            return 200, {"message": "Service account token deleted"}
    raise errutil(404, "serviceaccounts.ErrTokenNotFound", "service account token not found")


# --- folders ---------------------------------------------------------------------------------------

def folder_dto(c, f):
    return dict(f, orgId=c.org.id, url="/dashboards/f/%s/%s" % (f["uid"], slugify(f["title"])),
                hasAcl=False, canSave=True, canEdit=True, canAdmin=c.role == "Admin", canDelete=True)


@route("POST", "/api/folders", "Editor")
def folder_create(c):
    title, uid = c.body.get("title") or "", c.body.get("uid") or new_uid()
    if not title.strip():
        raise dash_err(400, "empty-name", "folder title cannot be empty")
    if not UID_RE.match(uid):
        raise plain(400, "uid contains illegal characters")
    if len(uid) > 40:
        raise plain(400, "uid too long, max 40 characters")
    if uid in c.org.folders or uid in c.org.dashboards:
        raise plain(409, "a folder/dashboard with the same uid already exists")
    f = {"id": c.st.new_id(), "uid": uid, "title": title, "version": 1}
    c.org.folders[uid] = f
    c.mutate()
    return 200, folder_dto(c, f)


@route("GET", "/api/folders", "Viewer")
def folder_list(c):
    return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]}
                 for f in sorted(c.org.folders.values(), key=lambda f: f["id"])]


@route("GET", "/api/folders/{uid}", "Viewer")
def folder_get(c, uid):
    if uid not in c.org.folders:
        raise dash_err(404, "not-found", "folder not found")
    return 200, folder_dto(c, c.org.folders[uid])


@route("DELETE", "/api/folders/{uid}", "Editor")
def folder_delete(c, uid):
    f = c.org.folders.pop(uid, None)
    if f is None:
        raise dash_err(404, "not-found", "folder not found")
    for du in [u for u, d in c.org.dashboards.items() if d["folderUid"] == uid]:
        del c.org.dashboards[du]
        c.org.public_dashboards.pop(du, None)
    c.mutate()
    return 200, {"title": f["title"], "message": "Folder %s deleted" % f["title"], "id": f["id"]}


# --- dashboards ------------------------------------------------------------------------------------

@route("POST", "/api/dashboards/db", "Editor")
def dash_save(c):
    model = c.body.get("dashboard")
    if not isinstance(model, dict):
        raise plain(400, "bad request data")
    if c.body.get("isFolder"):
        raise plain(400, "Use folders endpoint for saving folders.")
    title = model.get("title")
    if not isinstance(title, str) or not title.strip():
        raise dash_err(400, "empty-name", "Dashboard title cannot be empty")
    msg = c.body.get("message") or ""
    if len(msg) > 500:
        raise plain(400, "message too long, max 500 characters")
    uid = model.get("uid") or new_uid()
    if not UID_RE.match(uid):
        raise plain(400, "uid contains illegal characters")
    if len(uid) > 40:
        raise plain(400, "uid too long, max 40 characters")
    if uid in c.org.folders:
        raise plain(400, "A dashboard with the same uid already exists")
    folder = c.body.get("folderUid") or ""
    if folder and folder not in c.org.folders:
        raise plain(400, "folder not found")
    existing = c.org.dashboards.get(uid)
    version = model.get("version") or 0
    if existing is not None:
        if version != existing["version"] and not c.body.get("overwrite"):
            raise dash_err(412, "version-mismatch", "The dashboard has been changed by someone else")
        did, version = existing["id"], existing["version"] + 1
    else:
        did, version = c.st.new_id(), 1
    model = dict(model, id=did, uid=uid, version=version)
    c.org.dashboards[uid] = {"uid": uid, "id": did, "title": title, "version": version, "folderUid": folder,
                             "slug": slugify(title), "dashboard": model}
    c.mutate()
    return 200, {"status": "success", "slug": slugify(title), "version": version, "id": did, "uid": uid,
                 "url": "/d/%s/%s" % (uid, slugify(title)), "folderUid": folder}


def dash_get_or_404(c, uid):
    d = c.org.dashboards.get(uid)
    if d is None:
        raise dash_err(404, "not-found", "Dashboard not found")
    return d


@route("GET", "/api/dashboards/uid/{uid}", "Viewer")
def dash_get(c, uid):
    d = dash_get_or_404(c, uid)
    f = c.org.folders.get(d["folderUid"])
    pd = c.org.public_dashboards.get(uid)
    return 200, {"dashboard": d["dashboard"],
                 "meta": {"type": "db", "canSave": ROLES[c.role] >= 2, "canEdit": ROLES[c.role] >= 2,
                          "canAdmin": c.role == "Admin", "canStar": True, "canDelete": ROLES[c.role] >= 2,
                          "slug": d["slug"], "url": "/d/%s/%s" % (uid, d["slug"]), "version": d["version"],
                          "folderUid": d["folderUid"], "folderTitle": f["title"] if f else "General",
                          "provisioned": False, "publicDashboardEnabled": bool(pd and pd["isEnabled"]),
                          "publicDashboardUid": pd["uid"] if pd else ""}}


@route("DELETE", "/api/dashboards/uid/{uid}", "Editor")
def dash_delete(c, uid):
    d = dash_get_or_404(c, uid)
    del c.org.dashboards[uid]
    c.org.public_dashboards.pop(uid, None)
    c.mutate()
    return 200, {"title": d["title"], "message": "Dashboard %s deleted" % d["title"], "uid": uid}


@route("GET", "/api/search", "Viewer")
def search(c):
    q, typ = c.qs("query", ""), c.qs("type")
    folder_uids = c.q.get("folderUIDs")
    hits = []
    if typ in (None, "dash-folder"):
        for f in sorted(c.org.folders.values(), key=lambda f: f["title"]):
            if q.lower() in f["title"].lower() and not folder_uids:
                hits.append({"id": f["id"], "uid": f["uid"], "title": f["title"], "type": "dash-folder",
                             "uri": "db/" + slugify(f["title"]),
                             "url": "/dashboards/f/%s/%s" % (f["uid"], slugify(f["title"])), "tags": []})
    if typ in (None, "dash-db"):
        for d in sorted(c.org.dashboards.values(), key=lambda d: d["title"]):
            if q.lower() not in d["title"].lower() or (folder_uids and d["folderUid"] not in folder_uids):
                continue
            f = c.org.folders.get(d["folderUid"])
            hits.append({"id": d["id"], "uid": d["uid"], "title": d["title"], "type": "dash-db",
                         "uri": "db/" + d["slug"], "url": "/d/%s/%s" % (d["uid"], d["slug"]), "slug": d["slug"],
                         "tags": d["dashboard"].get("tags") or [], "isStarred": False,
                         "folderUid": d["folderUid"], "folderTitle": f["title"] if f else ""})
    limit = int(c.qs("limit", "1000"))
    return 200, hits[:limit]


# --- public dashboards -----------------------------------------------------------------------------

@route("POST", "/api/dashboards/uid/{dashboardUid}/public-dashboards", "Admin")
def pd_create(c, duid):
    if duid not in c.org.dashboards:
        raise errutil(404, "publicdashboards.dashboardNotFound", "Dashboard not found")
    if duid in c.org.public_dashboards:
        raise errutil(400, "publicdashboards.dashboardIsPublic", "Dashboard is already public")
    share = c.body.get("share") or "public"
    if share not in ("public", "email"):
        raise errutil(400, "publicdashboards.invalidShareType", "Invalid share type")
    if share == "email":
        raise errutil(400, "publicdashboards.emailSharingNotEnabled", "Email sharing is not available")
    pd = {"uid": c.body.get("uid") or new_uid(), "dashboardUid": duid,
          "accessToken": c.body.get("accessToken") or secrets.token_hex(16),
          "isEnabled": bool(c.body.get("isEnabled", False)),
          "timeSelectionEnabled": bool(c.body.get("timeSelectionEnabled", False)),
          "annotationsEnabled": bool(c.body.get("annotationsEnabled", False)), "share": share,
          "createdBy": 1, "updatedBy": 1, "createdAt": now_iso(), "updatedAt": now_iso()}
    c.org.public_dashboards[duid] = pd
    c.mutate()
    return 200, pd


@route("GET", "/api/dashboards/uid/{dashboardUid}/public-dashboards", "Viewer")
def pd_get(c, duid):
    pd = c.org.public_dashboards.get(duid)
    if pd is None:
        raise errutil(404, "publicdashboards.notFound", "Public dashboard not found")
    return 200, pd


@route("PATCH", "/api/dashboards/uid/{dashboardUid}/public-dashboards/{uid}", "Admin")
def pd_patch(c, duid, uid):
    pd = c.org.public_dashboards.get(duid)
    if pd is None or pd["uid"] != uid:
        raise errutil(404, "publicdashboards.notFound", "Public dashboard not found")
    for k in ("isEnabled", "timeSelectionEnabled", "annotationsEnabled", "share"):
        if k in c.body:
            pd[k] = c.body[k]
    pd["updatedAt"] = now_iso()
    c.mutate()
    return 200, pd


@route("DELETE", "/api/dashboards/uid/{dashboardUid}/public-dashboards/{uid}", "Admin")
def pd_delete(c, duid, uid):
    pd = c.org.public_dashboards.get(duid)
    if pd is None or pd["uid"] != uid:
        raise errutil(404, "publicdashboards.notFound", "Public dashboard not found")
    del c.org.public_dashboards[duid]
    c.mutate()
    return 200, {}


@route("GET", "/api/dashboards/public-dashboards", "Viewer")
def pd_list(c):
    res = []
    for duid, pd in sorted(c.org.public_dashboards.items()):
        d = c.org.dashboards[duid]
        res.append({"uid": pd["uid"], "accessToken": pd["accessToken"], "title": d["title"], "slug": d["slug"],
                    "dashboardUid": duid, "isEnabled": pd["isEnabled"]})
    return 200, {"publicDashboards": res, "totalCount": len(res), "page": 1, "perPage": 1000}


@route("GET", "/api/public/dashboards/{accessToken}", "none")
def pd_view(c, token):
    for o in c.st.orgs.values():
        for duid, pd in o.public_dashboards.items():
            if pd["accessToken"] == token and pd["isEnabled"]:
                return 200, {"dashboard": o.dashboards[duid]["dashboard"], "meta": {"publicDashboardEnabled": True}}
    raise errutil(404, "publicdashboards.notFound", "Public dashboard not found")


# --- datasources -----------------------------------------------------------------------------------

def ds_dto(d):
    out = {k: v for k, v in d.items() if k != "secureJsonData"}
    out["secureJsonFields"] = {k: True for k in d.get("secureJsonData", {})}
    return out


def ds_by_uid(c, uid):
    for d in c.org.datasources.values():
        if d["uid"] == uid:
            return d
    raise plain(404, "Data source not found")


@route("POST", "/api/datasources", "Admin")
def ds_create(c):
    name, typ = c.body.get("name") or "", c.body.get("type") or ""
    if not name or not typ:
        raise plain(400, "bad request data")
    if any(d["name"] == name for d in c.org.datasources.values()):
        raise plain(409, "data source with the same name already exists")
    uid = c.body.get("uid") or new_uid()
    if not UID_RE.match(uid) or len(uid) > 40:
        raise plain(400, "Failed to add datasource: invalid UID")
    if uid in c.org.datasources:
        raise plain(409, "data source with the same uid already exists")
    d = {"id": c.st.new_id(), "uid": uid, "orgId": c.org.id, "name": name, "type": typ,
         "access": c.body.get("access") or "proxy", "url": c.body.get("url") or "",
         "basicAuth": bool(c.body.get("basicAuth")), "isDefault": bool(c.body.get("isDefault")),
         "jsonData": c.body.get("jsonData") or {}, "secureJsonData": c.body.get("secureJsonData") or {},
         "version": 1, "readOnly": False}
    c.org.datasources[uid] = d
    c.mutate()
    return 200, {"id": d["id"], "name": name, "message": "Datasource added", "datasource": ds_dto(d)}


@route("GET", "/api/datasources", "Admin")
def ds_list(c):
    return 200, [ds_dto(d) for d in sorted(c.org.datasources.values(), key=lambda d: d["id"])]


@route("GET", "/api/datasources/uid/{uid}", "Admin")
def ds_get(c, uid):
    return 200, ds_dto(ds_by_uid(c, uid))


@route("GET", "/api/datasources/name/{name}", "Admin")
def ds_get_name(c, name):
    for d in c.org.datasources.values():
        if d["name"] == name:
            return 200, ds_dto(d)
    raise plain(404, "Data source not found")


@route("PUT", "/api/datasources/uid/{uid}", "Admin")
def ds_update(c, uid):
    d = ds_by_uid(c, uid)
    name = c.body.get("name") or d["name"]
    if any(o["name"] == name and o["uid"] != uid for o in c.org.datasources.values()):
        raise plain(409, "data source with the same name already exists")
    for k in ("name", "type", "access", "url", "basicAuth", "isDefault", "jsonData"):
        if k in c.body:
            d[k] = c.body[k]
    if "secureJsonData" in c.body:
        d["secureJsonData"] = dict(d["secureJsonData"], **(c.body["secureJsonData"] or {}))
    d["version"] += 1
    c.mutate()
    return 200, {"id": d["id"], "name": d["name"], "message": "Datasource updated", "datasource": ds_dto(d)}


@route("DELETE", "/api/datasources/uid/{uid}", "Admin")
def ds_delete(c, uid):
    d = ds_by_uid(c, uid)
    del c.org.datasources[d["uid"]]
    c.mutate()
    return 200, {"message": "Data source deleted"}


@route("GET", "/api/datasources/uid/{uid}/health", "Viewer")
def ds_health(c, uid):
    ds_by_uid(c, uid)
    if c.st.unhealthy:
        raise ApiError(400, {"status": "ERROR", "message": "Post \"…/api/v1/query\": connection refused"})
    return 200, {"status": "OK", "message": "Successfully queried the Prometheus API."}


@route("POST", "/api/ds/query", "Viewer")
def ds_query(c):
    # OSS: any member, a Viewer too, may query any datasource of the org (facts §9). Cheap model: the
    # datasource must exist in the caller's org; frames are empty.
    results = {}
    for q in c.body.get("queries") or []:
        ref = q.get("refId") or "A"
        uid = (q.get("datasource") or {}).get("uid")
        ds_by_uid(c, uid)
        results[ref] = {"status": 200, "frames": []}
    return 200, {"results": results}


# --- alerting provisioning ---------------------------------------------------------------------------



@route("GET", "/api/v1/provisioning/alert-rules", "Viewer")
def rules_list(c):
    return 200, [c.org.alert_rules[k] for k in sorted(c.org.alert_rules)]


@route("GET", "/api/v1/provisioning/alert-rules/{UID}", "Viewer")
def rules_get(c, uid):
    if uid not in c.org.alert_rules:
        raise errutil(404, "alerting.alert-rule.notFound", "could not find alert rule")
    return 200, c.org.alert_rules[uid]


RULE_REQUIRED = ("folderUID", "ruleGroup", "title", "condition", "data", "noDataState", "execErrState", "for")


def rule_check(c, body):
    # Required fields of ProvisionedAlertRule (orgID is taken from the request's org). The rule is
    # stored as received, so a test can read back exactly what was sent.
    missing = [k for k in RULE_REQUIRED if k not in body]
    if missing:
        raise plain(400, "invalid alert rule: missing %s" % ", ".join(missing))
    if not isinstance(body.get("for"), str):
        raise plain(400, "invalid alert rule: for must be a duration string")
    if body.get("folderUID") not in c.org.folders:
        raise plain(400, "invalid alert rule: folder does not exist")
    refs = [q.get("refId") for q in body.get("data") or []]
    if not refs:
        raise plain(400, "invalid alert rule: no queries or expressions are found")
    if body.get("condition") not in refs:
        raise plain(400, "invalid alert rule: condition %s does not exist, must be one of %s" %
                    (body.get("condition"), refs))
    for q in body["data"]:
        if q.get("datasourceUid") != "__expr__":
            ds_by_uid(c, q.get("datasourceUid"))


@route("POST", "/api/v1/provisioning/alert-rules", "Editor")
def rules_create(c):
    rule_check(c, c.body)
    uid = c.body.get("uid") or new_uid()
    if uid in c.org.alert_rules:
        raise errutil(409, "alerting.alert-rule.conflict", "failed to save alert rule: conflicting UID")
    r = dict(c.body, uid=uid, id=c.st.new_id(), orgID=c.org.id, updated=now_iso(),
             provenance="" if "X-Disable-Provenance" in c.headers else "api")
    c.org.alert_rules[uid] = r
    c.mutate()
    return 201, r


@route("PUT", "/api/v1/provisioning/alert-rules/{UID}", "Editor")
def rules_update(c, uid):
    if uid not in c.org.alert_rules:
        raise errutil(404, "alerting.alert-rule.notFound", "could not find alert rule")
    rule_check(c, c.body)
    old = c.org.alert_rules[uid]
    r = dict(c.body, uid=uid, id=old["id"], orgID=c.org.id, updated=now_iso(),
             provenance="" if "X-Disable-Provenance" in c.headers else "api")
    c.org.alert_rules[uid] = r
    c.mutate()
    return 200, r


@route("DELETE", "/api/v1/provisioning/alert-rules/{UID}", "Editor")
def rules_delete(c, uid):
    if c.org.alert_rules.pop(uid, None) is not None:
        c.mutate()
    return 204, None


# ---------------------------------------------------------------------------------------------------
# HTTP plumbing


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeGrafana/11.2.0"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, body, extra_headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def drop(self):
        # "Down": close the connection without an answer, as a crashed or restarting Grafana does.
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise plain(413, "request too large")
        return self.rfile.read(n) if n else b""

    def control(self, st, path, raw):
        body = json.loads(raw or b"{}")
        if path == "/__fake/state" and self.command == "GET":
            return 200, st.snapshot()
        if path == "/__fake/log" and self.command == "GET":
            return 200, st.log
        if path == "/__fake/fail":
            st.faults.append({"path_prefix": body.get("path_prefix", "/"), "status": int(body.get("status", 503)),
                              "count": int(body.get("count", 1)), "method": body.get("method"),
                              "after": bool(body.get("after")), "mode": body.get("mode", "status")})
            return 200, {"faults": len(st.faults)}
        if path == "/__fake/down":
            st.down = True
            return 200, {}
        if path == "/__fake/up":
            st.down = False
            st.faults = []
            return 200, {}
        if path == "/__fake/unhealthy":
            st.unhealthy = True
            return 200, {}
        if path == "/__fake/healthy":
            st.unhealthy = False
            return 200, {}
        if path == "/__fake/reset":
            st.reset()
            return 200, {}
        if path == "/__fake/token":
            # Introspection for tests: which org/role a token acts as (never used by the client).
            t = st.tokens.get(body.get("key"))
            if t is None:
                return 404, {"message": "no such token"}
            sa = st.orgs[t["org"]].service_accounts.get(t["sa"])
            return 200, {"org": t["org"], "sa": t["sa"], "role": sa["role"] if sa else None}
        return 404, {"message": "unknown control endpoint"}

    def take_fault(self, st, path):
        for f in st.faults:
            if f["count"] > 0 and path.startswith(f["path_prefix"]) and f["method"] in (None, self.command):
                f["count"] -= 1
                return f
        return None

    def authenticate(self, st, min_role):
        """Returns (org, login, role, server_admin, sa_id) or raises 401/403."""
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                raise plain(401, "invalid username or password")
            if user != st.admin_user or pw != st.admin_password:
                raise plain(401, "invalid username or password")
            hdr = self.headers.get("X-Grafana-Org-Id")
            try:
                oid = int(hdr) if hdr else 1
            except ValueError:
                raise plain(400, "invalid X-Grafana-Org-Id")
            org = st.orgs.get(oid)
            if min_role == "server":
                return org, user, "Admin", True, None
            if org is None or user not in org.members:
                # [unverified] Grafana rejects acting in an org the user does not belong to.
                raise plain(401, "user not a member of the organization")
            return org, user, org.members[user], True, None
        if auth.startswith("Bearer "):
            t = st.tokens.get(auth[7:].strip())
            if t is None or t["revoked"] or (t["expires"] is not None and t["expires"] <= time.time()):
                raise errutil(401, "api-key.invalid", "Invalid API key")
            org = st.orgs[t["org"]]
            sa = org.service_accounts.get(t["sa"])
            if sa is None or sa["isDisabled"]:
                raise errutil(401, "api-key.invalid", "Invalid API key")
            t["lastUsedAt"] = now_iso()
            if min_role == "server":
                raise plain(403, "Permission denied")
            return org, sa["login"], sa["role"], False, sa["id"]
        raise plain(401, "Unauthorized")

    def handle_any(self):
        st = self.server.state
        u = urlsplit(self.path)
        path = unquote(u.path)
        try:
            raw = self.read_body()
        except ApiError as e:
            return self.send_json(e.status, e.body)
        if path.startswith("/__fake/"):
            with st.lock:
                status, body = self.control(st, path, raw)
            return self.send_json(status, body)
        with st.lock:
            if st.down:
                return self.drop()
            fault = self.take_fault(st, path)
        if fault and fault["mode"] == "drop" and not fault["after"]:
            return self.drop()
        if fault and fault["mode"] == "slow":
            time.sleep(fault["status"] / 1000.0)
            fault = None
        if fault and not fault["after"]:
            with st.lock:
                st.log.append({"method": self.command, "path": path, "status": fault["status"], "fault": True})
            return self.send_json(fault["status"], {"message": "injected failure"})
        status, body = self.dispatch(st, path, parse_qs(u.query), raw)
        with st.lock:
            st.log.append({"method": self.command, "path": path, "status": status,
                           "auth": (self.headers.get("Authorization") or " ").split(" ")[0],
                           "org": self.headers.get("X-Grafana-Org-Id"),
                           "provenance_header": "X-Disable-Provenance" in self.headers})
        if fault:  # "after": the work is done, the answer is lost
            if fault["mode"] == "drop":
                return self.drop()
            return self.send_json(fault["status"], {"message": "injected failure after processing"})
        self.send_json(status, body)

    def dispatch(self, st, path, query, raw):
        method = "GET" if self.command == "HEAD" else self.command
        allowed = False
        for m, template, rx, min_role, fn in ROUTES:
            mt = rx.match(path)
            if not mt:
                continue
            allowed = True
            if m != method:
                continue
            try:
                with st.lock:
                    if min_role == "none":
                        org, login, role, sadm, said = None, None, "None", False, None
                    else:
                        org, login, role, sadm, said = self.authenticate(st, min_role)
                        if min_role == "server" and not sadm:
                            raise plain(403, "Permission denied")
                        if min_role != "server" and ROLES[role] < ROLES[min_role]:
                            raise plain(403, "You'll need additional permissions to perform this action. "
                                        "Permissions needed: any of %s" % template)
                    body = {}
                    if method in ("POST", "PUT", "PATCH"):
                        try:
                            body = json.loads(raw or b"{}")
                        except ValueError:
                            raise plain(400, "bad request data")
                        schema = self.server.schemas.body_schema(method, template) if self.server.schemas else None
                        if schema is not None:
                            err = self.server.schemas.validate(schema, body)
                            if err:
                                raise ApiError(400, {"message": "bad request data", "error": err})
                        if not isinstance(body, dict):
                            raise plain(400, "bad request data")
                    c = Ctx(st, org, login, role, sadm, said, body, query, self.headers)
                    return fn(c, *mt.groups())
            except ApiError as e:
                return e.status, e.body
            except Exception as e:  # a bug in the fake must show as 500, not hang the client
                import traceback
                traceback.print_exc()
                return 500, {"message": "fake internal error: %s" % e}
        if allowed:
            return 405, {"message": "Method Not Allowed"}
        return 404, {"message": "Not found"}

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (timeout tests) is expected; anything else is a bug in the fake.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def load_schemas():
    """The OpenAPI subset is reference data kept outside the repository (../shared/grafana); without it
    the fake still answers, but does not validate request bodies against the schemas."""
    root = os.environ.get("VIGIL_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
    path = os.path.join(root, "..", "shared", "grafana", "openapi-subset.json")
    if not os.path.exists(path):
        print("# grafana fake: %s absent, request bodies are not schema-validated" % path, file=sys.stderr)
        return None
    return Schemas(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--admin-user", default="admin")
    ap.add_argument("--admin-password", default="admin")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(a.admin_user, a.admin_password)
    srv.schemas = load_schemas()
    print("PORT %d" % srv.server_address[1], flush=True)
    # Exit when the parent (the test) goes away: stdin is a pipe from it.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
