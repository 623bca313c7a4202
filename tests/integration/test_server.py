#!/usr/bin/env python3
"""Integration test of the real vigil binary: starts `vigil serve` on a free port and checks every
self-monitoring endpoint, error shapes and limits, /metrics through Prometheus' own `promtool check
metrics`, reload (HTTP and SIGHUP, good and broken configs), request ids, structured logs, and
graceful shutdown with a request in flight. Output is TAP."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import check, finish, free_port, request  # noqa: E402

VIGIL = sys.argv[1]


def raw_request(port, data, read=True):
    """Sends raw bytes; returns the raw response text."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if not read:
            return ""
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")


CONFIG = """server:
  listen: 127.0.0.1:{port}
  read_timeout: 10s
  max_body: 4KiB
  shutdown_timeout: 5s
storage:
  path: {data}
  retention: 15d
log:
  level: {level}
  format: json
"""


def build_label(build_dir):
    """The label `vigil version` must print for the build in build_dir, from meson's record of the
    optimization and debug options (not its `buildtype`, which is "custom" for -Doptimization=2 -Ddebug=false)."""
    try:
        with open(os.path.join(build_dir, "meson-info", "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
    except (OSError, ValueError, KeyError):
        return None
    opt, dbg = str(opts.get("optimization")), bool(opts.get("debug"))
    if dbg:
        return "debug" if opt in ("0", "g") else "debugoptimized"
    if opt == "s":
        return "minsize"
    return "release" if opt in ("2", "3") else "custom"


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-it-")
    port = free_port()
    cfg_path = os.path.join(tmp, "vigil.yml")
    data = os.path.join(tmp, "data")

    def write_cfg(level="info", text=None):
        with open(cfg_path, "w") as f:
            f.write(text if text is not None else CONFIG.format(port=port, data=data, level=level))

    write_cfg()
    log_path = os.path.join(tmp, "vigil.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([VIGIL, "serve", "--config", cfg_path], stdout=log, stderr=subprocess.STDOUT)
    try:
        run(port, proc, cfg_path, write_cfg, log_path, data)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    first_run()
    finish("integration_server")


def first_run():
    """vigil started with the shipped examples/vigil.yml (what `make run` uses) scrapes itself at once.
    The copy differs only in the port (the shipped self-scrape target is the default listen address, so
    both move together) and a 1 s scrape interval (and timeout) so the first scrape comes quickly."""
    root = os.environ.get("VIGIL_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(os.path.join(root, "examples", "vigil.yml")) as f:
        shipped = f.read()
    check("examples/vigil.yml scrapes vigil itself at the default listen address and a local node_exporter",
          shipped.count("127.0.0.1:9290") == 2 and "job_name: vigil" in shipped
          and "job_name: node" in shipped and "127.0.0.1:9100" in shipped, shipped)
    tmp = tempfile.mkdtemp(prefix="vigil-firstrun-")
    shutil.copytree(os.path.join(root, "examples", "rules"), os.path.join(tmp, "rules"))
    port = free_port()
    cfg = os.path.join(tmp, "vigil.yml")
    with open(cfg, "w") as f:
        f.write(shipped.replace("127.0.0.1:9290", f"127.0.0.1:{port}").replace("scrape_interval: 15s", "scrape_interval: 1s\n  scrape_timeout: 1s"))
    log = open(os.path.join(tmp, "vigil.log"), "w")
    proc = subprocess.Popen([VIGIL, "serve", "--config", cfg, "--data", os.path.join(tmp, "data")], stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                st, _, body = request(port, "/api/v1/query?query=up", timeout=2)
            except OSError:
                return None
            res = json.loads(body)["data"]["result"] if st == 200 else []
            jobs = {r["metric"].get("job"): r["value"][1] for r in res}
            return jobs if jobs.get("vigil") == "1" and "node" in jobs else None
        deadline, jobs = time.time() + 20, None
        while time.time() < deadline and not jobs:
            jobs = up()
            time.sleep(0.2)
        check('first run: up{job="vigil"} is 1 and the node job has a series (down is fine)', jobs,
              open(os.path.join(tmp, "vigil.log")).read()[-2000:])
        if jobs:
            st, h, body = request(port, "/")
            check("first run: GET / is an HTML page", st == 200 and h["Content-Type"].startswith("text/html"), (st, h))
            st, _, body = request(port, "/api/v1/rules")
            groups = [g["name"] for g in json.loads(body)["data"]["groups"]] if st == 200 else []
            check("first run: the shipped node alert rules are loaded", "node.alerts" in groups and "node.recording" in groups, body)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def run(port, proc, cfg_path, write_cfg, log_path, data):
    # startup: ready within 10 s
    deadline = time.time() + 10
    ready = False
    while time.time() < deadline and not ready:
        try:
            ready = request(port, "/-/ready")[0] == 200
        except OSError:
            time.sleep(0.05)
    check("server becomes ready", ready, open(log_path).read())
    if not ready:
        return
    check("data directory created", os.path.isdir(data))

    st, h, body = request(port, "/-/healthy")
    check("/-/healthy 200 text", st == 200 and h["Content-Type"].startswith("text/plain") and "Healthy" in body)
    st, h, body = request(port, "/-/ready")
    check("/-/ready 200", st == 200 and "Ready" in body)
    st, h, body = request(port, "/api/v1/health")
    j = json.loads(body)
    check("/api/v1/health JSON", st == 200 and j["status"] == "healthy" and j["uptime_seconds"] >= 0, body)
    st, h, body = request(port, "/api/v1/alive")
    check("/api/v1/alive", st == 200 and json.loads(body) == {"status": "alive"}, body)
    st, h, body = request(port, "/api/v1/ready")
    check("/api/v1/ready", st == 200 and json.loads(body)["status"] == "ready", body)

    st, h, body = request(port, "/api/v1/status")
    j = json.loads(body)
    d = j.get("data", {})
    check("/api/v1/status document",
          st == 200 and j["status"] == "success" and d["config"]["file"] == cfg_path and len(d["config"]["hash"]) == 16
          and d["components"]["http"]["status"] == "up" and d["components"]["storage"]["status"] == "up"
          and d["ready"] is True and "version" in d
          and d["uptime_seconds"] >= 0 and d["start_time"].endswith("Z"), body)
    hash1 = d["config"]["hash"]

    st, h, body = request(port, "/api/v1/health/http")
    check("/api/v1/health/{component} known", st == 200 and json.loads(body)["status"] == "up", body)
    st, h, body = request(port, "/api/v1/health/nosuch")
    j = json.loads(body)
    check("/api/v1/health/{component} unknown → 404 JSON",
          st == 404 and j["status"] == "error" and j["errorType"] == "not_found" and "nosuch" in j["error"], body)

    # error shapes
    st, h, body = request(port, "/api/v1/nope")
    j = json.loads(body)
    check("unknown route → 404 Prometheus-shaped JSON", st == 404 and j["status"] == "error" and j["errorType"] == "not_found", body)
    st, h, body = request(port, "/metrics", method="DELETE")
    j = json.loads(body)
    check("wrong method → 405 JSON with Allow", st == 405 and j["status"] == "error" and "GET" in h.get("Allow", ""), (h, body))
    st, h, body = request(port, "/-/reload", method="GET")
    check("GET /-/reload → 405", st == 405 and "POST" in h.get("Allow", ""), (h, body))
    st, h, body = request(port, "/-/reload", method="POST", body=b"x" * 5000)
    j = json.loads(body)
    check("oversize body (Content-Length) → 413 JSON", st == 413 and j["errorType"] == "bad_data" and "4096" in j["error"], body)
    chunked = (b"POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               + b"".join(b"400\r\n" + b"y" * 0x400 + b"\r\n" for _ in range(6)) + b"0\r\n\r\n")
    resp = raw_request(port, chunked)
    check("oversize chunked body → 413", resp.startswith("HTTP/1.1 413") and '"errorType":"bad_data"' in resp, resp[:300])
    st, h, body = request(port, "/api/v1/query", method="POST", body=b"query=up&a=%zz",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    j = json.loads(body)
    check("malformed form body → 400 bad_data", st == 400 and j["errorType"] == "bad_data" and "percent" in j["error"], body)
    resp = raw_request(port, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
    check("oversize headers refused (4xx), server survives", resp.startswith("HTTP/1.1 4") and request(port, "/-/healthy")[0] == 200, resp[:200])

    # request ids
    st, h, body = request(port, "/api/v1/alive", headers={"X-Request-Id": "it-req-42"})
    check("X-Request-Id honoured", h.get("X-Request-Id") == "it-req-42", h)
    st, h, body = request(port, "/api/v1/alive", headers={"X-Request-Id": "bad id\twith junk"})
    rid = h.get("X-Request-Id", "")
    check("insane X-Request-Id replaced by a generated one", len(rid) == 16 and all(c in "0123456789abcdef" for c in rid), rid)
    st, h, body = request(port, "/api/v1/status")
    gen = h.get("X-Request-Id", "")

    # /metrics
    st, h, text = request(port, "/metrics")
    check("/metrics 200 text 0.0.4", st == 200 and h["Content-Type"].startswith("text/plain; version=0.0.4"), h)
    for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                 "process_start_time_seconds", "vigil_build_info{", "vigil_http_requests_total{",
                 "vigil_http_request_duration_seconds_bucket{", "vigil_http_requests_in_flight",
                 "vigil_config_last_reload_successful 1", "vigil_head_series ", "vigil_samples_appended_total "]:
        check(f"/metrics has {name}", ("\n" + name) in text)
    check("/metrics counts requests by handler/method/code",
          'vigil_http_requests_total{handler="/api/v1/health/{component}",method="GET",code="404"} 1' in text
          and 'vigil_http_requests_total{handler="/-/reload",method="POST",code="413"}' in text, text[-3000:])
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
        check("promtool check metrics is clean", p.returncode == 0 and p.stdout == b"" and p.stderr == b"",
              p.stdout.decode() + p.stderr.decode())
    else:
        print("ok - promtool check metrics # SKIP promtool not installed")
    st, h, alt = request(port, "/api/v1/metrics/prometheus")
    check("/api/v1/metrics/prometheus serves the same self-metrics", st == 200 and h["Content-Type"].startswith("text/plain; version=0.0.4")
          and "\nvigil_build_info{" in alt and "\nprocess_start_time_seconds " in alt, (st, h, alt[:300]))
    st, h, text = request(port, "/metrics", headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
    check("/metrics OpenMetrics on request", h["Content-Type"].startswith("application/openmetrics-text")
          and text.endswith("# EOF\n") and "# TYPE vigil_http_requests counter" in text, text[-200:])

    # the web root: the console's page, which names the API and the docs for browsers without JavaScript
    st, h, body = request(port, "/")
    check("GET / → 200 text/html naming the API and docs", st == 200 and h["Content-Type"].startswith("text/html")
          and "/api/v1/query" in body and "/metrics" in body and "docs/api.md" in body, (st, h, body[:300]))

    # reload over HTTP: good, broken (old config keeps serving), good again via SIGHUP
    write_cfg(level="debug")
    st, h, body = request(port, "/-/reload", method="POST")
    d = json.loads(request(port, "/api/v1/status")[2])["data"]
    check("POST /-/reload applies a valid config", st == 200 and d["config"]["hash"] != hash1
          and d["config"]["last_reload_successful"] is True, (st, body, d))
    hash2 = d["config"]["hash"]
    write_cfg(text=CONFIG.format(port=port, data=data, level="info").replace("read_timeout: 10s", "read_timeout: 10x"))
    st, h, body = request(port, "/-/reload", method="POST")
    check("broken config: reload answers 500 with file:line:col",
          st == 500 and f"{cfg_path}:3:17:" in body and "invalid duration" in body, body)
    d = json.loads(request(port, "/api/v1/status")[2])["data"]
    check("broken config: old config still serving", d["config"]["hash"] == hash2 and d["config"]["last_reload_successful"] is False
          and request(port, "/-/healthy")[0] == 200, d)
    check("broken config: vigil_config_last_reload_successful 0",
          "\nvigil_config_last_reload_successful 0\n" in request(port, "/metrics")[2])
    write_cfg(level="info")
    proc.send_signal(signal.SIGHUP)
    ok = False
    for _ in range(100):
        if "\nvigil_config_last_reload_successful 1\n" in request(port, "/metrics")[2]:
            ok = True
            break
        time.sleep(0.05)
    check("SIGHUP reloads a fixed config", ok)

    # graceful shutdown: a request whose body is still arriving when SIGTERM comes must complete
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabcde")
    time.sleep(0.3)
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    refused = False
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        refused = True
    check("after SIGTERM new connections are refused", refused)
    s.sendall(b"fghij")
    resp = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    s.close()
    check("in-flight request finishes during shutdown", resp.startswith(b"HTTP/1.1 200"), resp[:200])
    try:
        rc = proc.wait(timeout=6)
    except subprocess.TimeoutExpired:
        rc = None
    check("exits 0 within 5 s of SIGTERM", rc == 0 and time.time() - t0 < 5.5, (rc, time.time() - t0))

    # structured logs: every line is a JSON object with ts/level/logger/msg; access lines carry request ids
    lines = [l for l in open(log_path).read().splitlines() if l.strip()]
    parsed = []
    bad = None
    for l in lines:
        try:
            parsed.append(json.loads(l))
        except ValueError:
            bad = l
    check("every log line is JSON", bad is None and parsed, bad)
    check("log lines have ts (RFC 3339 ms), level, logger, msg",
          all({"ts", "level", "logger", "msg"} <= set(p) and len(p["ts"]) == 24 and p["ts"].endswith("Z") for p in parsed))
    access = [p for p in parsed if p.get("logger") == "http" and p.get("msg") == "request"]
    check("access log lines carry the request id", any(p.get("request_id") == gen and p.get("status") == 200 for p in access),
          access[-3:])
    check("reload error logged", any(p.get("logger") == "config" and p.get("level") == "error" for p in parsed))
    ready_at = next((i for i, p in enumerate(parsed) if p.get("msg") == "server is ready to receive requests"), len(parsed))
    startup = parsed[:ready_at + 1]
    check("startup logs no warnings or errors", startup and all(p["level"] == "info" for p in startup), startup)

    # CLI
    p = subprocess.run([VIGIL, "check", "config", cfg_path], capture_output=True, text=True)
    check("vigil check config OK", p.returncode == 0 and "OK" in p.stdout, p.stderr)
    write_cfg(text="server:\n  listen: 127.0.0.1:1\n  max_bdy: 1MiB\n")
    p = subprocess.run([VIGIL, "check", "config", cfg_path], capture_output=True, text=True)
    check("vigil check config names file:line:col of a typo", p.returncode == 1
          and p.stderr.startswith(f"{cfg_path}:3:3: unknown field \"server.max_bdy\""), p.stderr)
    p = subprocess.run([VIGIL, "serve", "--config", cfg_path], capture_output=True, text=True, timeout=10)
    check("vigil serve refuses a broken config", p.returncode == 1 and ":3:3:" in p.stderr, p.stderr)
    p = subprocess.run([VIGIL, "version"], capture_output=True, text=True)
    check("vigil version", p.returncode == 0 and p.stdout.startswith("vigil version "), p.stdout)
    want = build_label(os.path.dirname(os.path.abspath(VIGIL)))
    if want:
        check(f"vigil version names the configured build ({want})", p.stdout.rstrip().endswith(f", {want} build)"), p.stdout)
    else:
        print("ok - vigil version names the configured build # SKIP no meson-info next to the binary")
    p = subprocess.run([VIGIL, "bogus"], capture_output=True, text=True)
    check("unknown command → usage, exit 2", p.returncode == 2 and "usage" in p.stderr)


if __name__ == "__main__":
    main()
