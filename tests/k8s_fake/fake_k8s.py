#!/usr/bin/env python3
"""A contract fake of the Kubernetes API server, written from the Kubernetes API documentation (API
concepts: efficient detection of changes, resource versions, watch bookmarks, list pagination;
core/v1 Node, Pod, Service, Endpoints; discovery.k8s.io/v1 EndpointSlice; networking.k8s.io/v1 Ingress).

What it implements:
  GET /version
  GET /api/v1/{nodes,pods,services,endpoints}, /api/v1/namespaces/{ns}/{pods,services,endpoints},
      /apis/discovery.k8s.io/v1[/namespaces/{ns}]/endpointslices,
      /apis/networking.k8s.io/v1[/namespaces/{ns}]/ingresses
    list:  {"kind": "<Kind>List", "apiVersion", "metadata": {"resourceVersion", "continue"?}, "items"};
           limit/continue pagination (an expired continue token → 410 Gone);
    watch: watch=1|true, resourceVersion, allowWatchBookmarks, timeoutSeconds → newline-delimited JSON
           events {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object"} streamed as they happen; a
           resourceVersion older than the compaction point → an ERROR event carrying a Status with code 410
           (or, in "status" mode, an HTTP 410 answer); an object leaving a selector is sent as DELETED and
           one entering it as ADDED, as the API server does;
    labelSelector (=, ==, !=, exists, !exists; comma = and) and fieldSelector (=, ==, != on dotted paths,
    e.g. metadata.name, spec.nodeName, status.phase);
    Authorization: Bearer <token> required, else 401 with a Status body.
  Control (the test drives the cluster; no token needed), POST JSON:
    /_control/apply {"resource": "pods", "object": {...}}     create or replace (ADDED / MODIFIED)
    /_control/delete {"resource", "namespace", "name"}        DELETED
    /_control/expire {"mode": "event"|"status"}                compact: every resourceVersion up to now is
                                                               too old; open watches get ERROR 410 and end
    /_control/token {"token": "..."}                           accept another token; open watches end
    /_control/quiet {"resource", "object"}                     apply without an event (lost change: only a
                                                               re-list sees it); implies expire
    GET /_control/stats                                        request counts and the last query of each kind
Run: fake_k8s.py PORT TOKEN (prints "ready" once listening)."""
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {
    "nodes": ("", "v1", "Node", False),
    "pods": ("", "v1", "Pod", True),
    "services": ("", "v1", "Service", True),
    "endpoints": ("", "v1", "Endpoints", True),
    "endpointslices": ("discovery.k8s.io", "v1", "EndpointSlice", True),
    "ingresses": ("networking.k8s.io", "v1", "Ingress", True),
}


class Cluster:
    def __init__(self, token):
        self.lock = threading.Condition()
        self.token = token
        self.rv = 100
        self.objects = {r: {} for r in RESOURCES}   # resource -> key -> object
        self.events = []                            # (rv, resource, type, old, new)
        self.min_rv = 0                             # compaction point: older versions are gone
        self.epoch = 0                              # bumped to end every open watch
        self.expire_mode = "event"
        self.stats = {"list": 0, "watch": 0, "gone": 0, "unauthorized": 0, "queries": {}}

    def apply(self, res, obj, quiet=False):
        with self.lock:
            md = obj.setdefault("metadata", {})
            key = (md.get("namespace", "") + "/" if RESOURCES[res][3] else "") + md["name"]
            if RESOURCES[res][3]:
                md.setdefault("namespace", "default")
            md.setdefault("uid", f"uid-{res}-{md['name']}")
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            old = self.objects[res].get(key)
            self.objects[res][key] = obj
            if quiet:
                self.min_rv = self.rv
                self.epoch += 1
            else:
                self.events.append((self.rv, res, "MODIFIED" if old else "ADDED", old, obj))
            self.lock.notify_all()

    def delete(self, res, ns, name):
        with self.lock:
            key = (ns + "/" if RESOURCES[res][3] else "") + name
            old = self.objects[res].pop(key, None)
            if old is None:
                return False
            self.rv += 1
            gone = json.loads(json.dumps(old))
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self.events.append((self.rv, res, "DELETED", old, gone))
            self.lock.notify_all()
            return True


def field_value(obj, path):
    v = obj
    for part in path.split("."):
        if not isinstance(v, dict):
            return ""
        v = v.get(part, "")
    return v if isinstance(v, str) else json.dumps(v) if v != "" else ""


def parse_selector(s):
    reqs = []
    for term in filter(None, (t.strip() for t in (s or "").split(","))):
        for op in ("!=", "==", "="):
            if op in term:
                k, v = term.split(op, 1)
                reqs.append((k.strip(), "!=" if op == "!=" else "=", v.strip()))
                break
        else:
            reqs.append((term[1:], "!exists", None) if term.startswith("!") else (term, "exists", None))
    return reqs


def matches(obj, label_sel, field_sel):
    labels = obj.get("metadata", {}).get("labels") or {}
    for k, op, v in label_sel:
        if op == "exists" and k not in labels or op == "!exists" and k in labels:
            return False
        if op == "=" and labels.get(k) != v or op == "!=" and labels.get(k) == v:
            return False
    for k, op, v in field_sel:
        fv = field_value(obj, k)
        if op == "=" and fv != v or op == "!=" and fv == v:
            return False
    return True


def make_handler(cluster):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *a):
            pass

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def status(self, code, reason, message):
            self.reply(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason, "code": code})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            path = self.path
            if path == "/_control/apply":
                cluster.apply(body["resource"], body["object"])
            elif path == "/_control/quiet":
                cluster.apply(body["resource"], body["object"], quiet=True)
            elif path == "/_control/delete":
                if not cluster.delete(body["resource"], body.get("namespace", ""), body["name"]):
                    return self.status(404, "NotFound", "not found")
            elif path == "/_control/expire":
                with cluster.lock:
                    cluster.expire_mode = body.get("mode", "event")
                    cluster.min_rv = cluster.rv
                    cluster.epoch += 1
                    cluster.lock.notify_all()
            elif path == "/_control/token":
                with cluster.lock:
                    cluster.token = body["token"]
                    cluster.epoch += 1
                    cluster.lock.notify_all()
            else:
                return self.status(404, "NotFound", "no such control")
            self.reply(200, {"rv": cluster.rv})

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
            if u.path == "/_control/stats":
                with cluster.lock:
                    return self.reply(200, cluster.stats)
            if u.path == "/version":
                return self.reply(200, {"major": "1", "minor": "26", "gitVersion": "v1.26.0"})
            if self.headers.get("Authorization") != f"Bearer {cluster.token}":
                with cluster.lock:
                    cluster.stats["unauthorized"] += 1
                return self.status(401, "Unauthorized", "Unauthorized")
            parts = [p for p in u.path.split("/") if p]
            if parts[:2] == ["api", "v1"]:
                rest, group = parts[2:], ""
            elif len(parts) >= 3 and parts[0] == "apis":
                rest, group = parts[3:], parts[1]
            else:
                return self.status(404, "NotFound", "the server could not find the requested resource")
            ns = None
            if len(rest) == 3 and rest[0] == "namespaces":
                ns, rest = rest[1], rest[2:]
            if len(rest) != 1 or rest[0] not in RESOURCES or RESOURCES[rest[0]][0] != group or (ns and not RESOURCES[rest[0]][3]):
                return self.status(404, "NotFound", "the server could not find the requested resource")
            res = rest[0]
            try:
                label_sel, field_sel = parse_selector(q.get("labelSelector")), parse_selector(q.get("fieldSelector"))
            except Exception:
                return self.status(400, "BadRequest", "unable to parse requirement")

            def visible(o):
                return o is not None and (ns is None or o["metadata"].get("namespace") == ns) and matches(o, label_sel, field_sel)
            watch = q.get("watch") in ("1", "true")
            with cluster.lock:
                cluster.stats["watch" if watch else "list"] += 1
                cluster.stats["queries"][("watch-" if watch else "list-") + res] = q
            if not watch:
                return self.list(res, ns, q, visible)
            return self.watch(res, q, visible)

        def list(self, res, ns, q, visible):
            group, version, kind, _ = RESOURCES[res]
            with cluster.lock:
                offset, list_rv = 0, cluster.rv
                if q.get("continue"):
                    c = json.loads(urllib.parse.unquote(q["continue"]))
                    offset, list_rv = c["offset"], c["rv"]
                    if list_rv < cluster.min_rv:
                        cluster.stats["gone"] += 1
                        return self.status(410, "Expired", "The provided continue parameter is too old")
                items = sorted((o for o in cluster.objects[res].values() if visible(o)),
                               key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
                limit = int(q.get("limit") or 0)
                page = items[offset:offset + limit] if limit else items[offset:]
                md = {"resourceVersion": str(list_rv)}
                if limit and offset + limit < len(items):
                    md["continue"] = json.dumps({"offset": offset + limit, "rv": list_rv})
            self.reply(200, {"kind": kind + "List", "apiVersion": (group + "/" if group else "") + version,
                             "metadata": md, "items": page})

        def send_event(self, typ, obj):
            self.wfile.write(json.dumps({"type": typ, "object": obj}).encode() + b"\n")
            self.wfile.flush()

        def watch(self, res, q, visible):
            try:
                since = int(q.get("resourceVersion") or 0)
            except ValueError:
                return self.status(400, "BadRequest", "invalid resourceVersion")
            deadline = time.time() + int(q.get("timeoutSeconds") or 1800)
            bookmarks = q.get("allowWatchBookmarks") == "true"
            with cluster.lock:
                too_old = since and since < cluster.min_rv
                mode, epoch = cluster.expire_mode, cluster.epoch
                if too_old:
                    cluster.stats["gone"] += 1
            if too_old and mode == "status":
                return self.status(410, "Expired", f"too old resource version: {since} ({cluster.min_rv})")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                if too_old:
                    return self.send_event("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired",
                                                     "message": f"too old resource version: {since}", "code": 410})
                pos, last_bookmark = since, time.time()
                while time.time() < deadline:
                    with cluster.lock:
                        if cluster.epoch != epoch:
                            if cluster.min_rv > pos and cluster.expire_mode == "event":
                                with_err = True
                            else:
                                with_err = False
                            break_now = True
                        else:
                            break_now = False
                            pending = [e for e in cluster.events if e[0] > pos and e[1] == res]
                            if not pending:
                                cluster.lock.wait(0.5)
                                pending = [e for e in cluster.events if e[0] > pos and e[1] == res]
                            cur = cluster.rv
                    if break_now:
                        if with_err:
                            with cluster.lock:
                                cluster.stats["gone"] += 1
                            self.send_event("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired",
                                                      "message": "too old resource version", "code": 410})
                        return
                    for rv, _, typ, old, new in pending:
                        was, now = visible(old), visible(new)
                        if typ == "DELETED":
                            if was:
                                self.send_event("DELETED", new)
                        elif now and not was:
                            self.send_event("ADDED", new)
                        elif was and not now:
                            self.send_event("DELETED", new)
                        elif now:
                            self.send_event(typ, new)
                        pos = rv
                    if bookmarks and time.time() - last_bookmark > 1:
                        pos = max(pos, cur)
                        group, version, kind, _ = RESOURCES[res]
                        self.send_event("BOOKMARK", {"kind": kind, "apiVersion": (group + "/" if group else "") + version,
                                                     "metadata": {"resourceVersion": str(pos)}})
                        last_bookmark = time.time()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def main():
    port, token = int(sys.argv[1]), sys.argv[2]
    cluster = Cluster(token)
    srv = ThreadingHTTPServer(("127.0.0.1", port), make_handler(cluster))
    srv.daemon_threads = True
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
