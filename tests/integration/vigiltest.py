"""Shared helpers of the integration tests: TAP output, free ports, HTTP requests, starting and
stopping real processes (vigil, Prometheus, exporters) with their logs kept for failure reports."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(f"{'ok' if cond else 'not ok'} {len(results)} - {name}")
    if not cond and detail:
        for line in str(detail).splitlines()[:30]:
            print(f"#   {line}")
    sys.stdout.flush()
    return bool(cond)


def skip(name, why):
    results.append(True)
    print(f"ok {len(results)} - {name} # SKIP {why}")


def finish(suite):
    failed = results.count(False)
    print(f"1..{len(results)}")
    print(f"# {suite}: {len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, path, method="GET", body=None, headers=None, timeout=10):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def get_json(port, path, **params):
    q = ("?" + urllib.parse.urlencode(params)) if params else ""
    st, _, body = request(port, path + q)
    return st, json.loads(body)


class Proc:
    """A child process with its output in a log file; stopped (and reaped) on exit."""

    def __init__(self, argv, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=15, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()


def wait_http(port, path, want=200, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if request(port, path, timeout=2)[0] == want:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def wait_until(fn, timeout=15, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def which(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


def shared_dir():
    root = os.environ.get("VIGIL_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
    d = os.path.join(root, "..", "shared")
    return d if os.path.isdir(d) else None


def start_with_prometheus(vigil, prom, tmp, prom_args=()):
    """vigil and a real Prometheus side by side on free ports, each with its own data under tmp (both
    accept remote_write): returns (vigil port, prometheus port, [procs])."""
    vport, pport = free_port(), free_port()
    with open(f"{tmp}/prom.yml", "w") as f:
        f.write("global: {evaluation_interval: 1m}\n")
    vig = Proc([vigil, "serve", "--listen", f"127.0.0.1:{vport}", "--data", f"{tmp}/v"], f"{tmp}/vigil.log")
    pr = Proc([prom, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/p", f"--web.listen-address=127.0.0.1:{pport}",
               "--web.enable-remote-write-receiver", *prom_args], f"{tmp}/prom.log")
    return vport, pport, [vig, pr]
