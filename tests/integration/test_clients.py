#!/usr/bin/env python3
"""Real clients against the hardened write and auth paths.

1. vmagent with a persistent queue scrapes a deterministic exposition server (a counter that grows by
   one per scrape) and remote-writes to vigil.
   - One queue (vmagent then sends in scrape order): vigil is stopped with SIGTERM for ~10 s while
     vmagent keeps scraping, then restarted on the same data directory and port. Once vmagent has
     drained its backlog every scrape of the outage is stored (the counter's values are contiguous, no
     gap between samples over two scrape intervals), vigil dropped nothing and answered no 400, and
     vmagent's own metrics show only 2xx answers.
   - vmagent stopped (backlog to disk), restarted with a slow send rate, killed with SIGKILL mid-drain
     and restarted on the same queue: vigil drops nothing but out-of-order samples, answers each such
     block 400 naming the reason and first series, and vmagent skips it rather than retrying forever.
     Which refused blocks were re-sends of stored samples and which were overtaken is printed.
   - vmagent's default of several queues across an outage: blocks overtake each other; vigil drops only
     the out-of-order samples, and each refusal is a 400 quoting the reason.
2. vmauth in front of vigil, sending `Authorization: Bearer xyz` upstream: with authentication off
   (no JWT keys) vigil ignores the credentials, so a query and a remote_write through vmauth succeed;
   with JWT keys configured (and anonymous requests allowed) the same bearer token is refused (401),
   so the rule only relaxes when there is nothing to verify a token against.
3. Re-sends of stored samples with the same values: the series' newest is accepted (204); an older one
   is still counted as out of order (a TAP TODO until identical older samples are recognised).
Output is TAP."""
import datetime
import http.server
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_remote_write import snappy, write_request  # noqa: E402
import vigiltest  # noqa: E402
from vigiltest import Proc, check, finish, free_port, request, skip, wait_http, wait_until, which  # noqa: E402

VIGIL = sys.argv[1]
SERIES = 4  # clients_gauge{i="0".."3"} besides clients_seq


class Exposition(http.server.BaseHTTPRequestHandler):
    """/metrics: clients_seq = the number of scrapes served so far, clients_gauge{i} = 10*seq + i.
    /capture: records the Authorization header it was sent (what vmauth forwards upstream)."""
    seq = 0
    captured = []
    lock = threading.Lock()

    def do_GET(self):
        if self.path.startswith("/capture"):
            Exposition.captured.append(self.headers.get("Authorization"))
            body = b'{"status":"success","data":[]}'
            ctype = "application/json"
        else:
            with Exposition.lock:
                Exposition.seq += 1
                n = Exposition.seq
            lines = ["# TYPE clients_seq counter", f"clients_seq {n}", "# TYPE clients_gauge gauge"]
            lines += [f'clients_gauge{{i="{i}"}} {10 * n + i}' for i in range(SERIES)]
            body = ("\n".join(lines) + "\n").encode()
            ctype = "text/plain; version=0.0.4"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def metrics(port):
    """name{labels} → value of a /metrics page (0 when the page cannot be read)."""
    out = {}
    try:
        st, _, body = request(port, "/metrics", timeout=5)
    except OSError:
        return out
    if st != 200:
        return out
    for line in body.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def msum(m, prefix, cond=lambda k: True):
    return sum(v for k, v in m.items() if (k == prefix or k.startswith(prefix + "{")) and cond(k))


def raw(port, expr, window="10m"):
    """The raw samples of expr over the last `window`: {labels-json: [(t, v), ...]}."""
    q = urllib.parse.urlencode({"query": f"{expr}[{window}]", "time": f"{time.time():.3f}"})
    try:
        st, _, body = request(port, f"/api/v1/query?{q}")
    except OSError:
        return {}
    if st != 200:
        return {}
    return {json.dumps(r["metric"], sort_keys=True): [(float(t), float(v)) for t, v in r["values"]]
            for r in json.loads(body)["data"]["result"]}


def post(port, body, headers=None):
    h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
         "X-Prometheus-Remote-Write-Version": "0.1.0"}
    h.update(headers or {})
    return request(port, "/api/v1/write", method="POST", body=body, headers=h)


def out(proc):
    """A process's log so far, also after it was stopped."""
    if not proc.log.closed:
        proc.log.flush()
    with open(proc.log_path) as f:
        return f.read()


def refusals(log):
    """vmagent's log lines for blocks the server refused (1.79: "was rejected (skipping the block): status code
    400; response body: ..."; other versions: "unexpected status code")."""
    return [l for l in log.splitlines() if "unexpected status code" in l or "was rejected" in l]


def todo(name, cond, why, detail=""):
    """A check of a known product defect: TAP TODO, so it does not fail the suite while the defect is open
    (and shows up as an unexpected pass once it is fixed)."""
    vigiltest.results.append(True)
    n = len(vigiltest.results)
    print(f"{'ok' if cond else 'not ok'} {n} - {name} # TODO {why}")
    if not cond and detail:
        for line in str(detail).splitlines()[:10]:
            print(f"#   {line}")
    sys.stdout.flush()


def refused_blocks(port, vigil_log):
    """vigil's `samples dropped` warnings, each with whether the first sample it names was already stored at
    that timestamp (then the block was a re-send of data vigil had; with one scrape per timestamp the value
    is the same) or not (the block was overtaken by a newer one and its samples are lost)."""
    out_ = []
    for line in vigil_log.splitlines():
        if '"samples dropped"' not in line:
            continue
        e = json.loads(line)
        m = re.match(r"(.*\}) \(out of order sample at timestamp (\d+)\)$", e.get("first", ""))
        if not m:
            out_.append((e.get("first"), None, None))
            continue
        sel, ts = m.group(1), int(m.group(2))
        q = urllib.parse.urlencode({"query": f"{sel}[1ms]", "time": f"{ts / 1000:.3f}"})
        st, _, body = request(port, f"/api/v1/query?{q}")
        res = json.loads(body)["data"]["result"] if st == 200 else []
        out_.append((sel, ts, bool(res and res[0]["values"])))
    return out_


def retry_deadline(log):
    """When the last retry vmagent scheduled ("re-sending the block in N seconds") is due (unix time)."""
    last = 0.0
    for line in log.splitlines():
        m = re.match(r"(\S+Z)\s.*re-sending the block in ([0-9.]+) seconds", line)
        if m:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
            last = max(last, t.timestamp() + float(m.group(2)))
    return last


def vmagent_backlog(tmp, procs):
    vmagent = which("vmagent")
    if not vmagent:
        skip("vmagent restart with a backlog", "vmagent not installed")
        return
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Exposition)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    target = srv.server_address[1]
    port, aport = free_port(), free_port()
    cfg = os.path.join(tmp, "vigil.yml")
    with open(cfg, "w") as f:
        f.write(f"storage: {{path: {tmp}/data}}\n")
    lives = []  # each stopped vigil's last counters

    def start_vigil(n):
        v = Proc([VIGIL, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}"], os.path.join(tmp, f"vigil-{n}.log"))
        procs.append(v)
        check(f"vigil #{n} starts on the same data directory and port", wait_http(port, "/-/ready", timeout=30), out(v)[-2000:])
        return v

    def stop_vigil(v, n):
        lives.append(metrics(port))
        rc = v.stop(15, timeout=20)
        check(f"vigil #{n} stops cleanly on SIGTERM (exit 0)", rc == 0, (rc, out(v)[-2000:]))

    scfg = os.path.join(tmp, "vmagent.yml")
    with open(scfg, "w") as f:
        f.write(f"scrape_configs:\n  - job_name: clients\n    scrape_interval: 1s\n"
                f"    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n")

    def start_agent(n, *extra):
        a = Proc([vmagent, f"-promscrape.config={scfg}", f"-remoteWrite.url=http://127.0.0.1:{port}/api/v1/write",
                  f"-httpListenAddr=127.0.0.1:{aport}", f"-remoteWrite.tmpDataPath={tmp}/vmagent-queue",
                  "-remoteWrite.flushInterval=500ms", *extra], os.path.join(tmp, f"vmagent-{n}.log"))
        procs.append(a)
        check(f"vmagent #{n} starts{' (' + ' '.join(extra) + ')' if extra else ''}", wait_http(aport, "/health"), out(a)[-2000:])
        return a

    def seq_samples():
        return next(iter(raw(port, "clients_seq").values()), [])

    def stored_max():
        s = seq_samples()
        return int(s[-1][1]) if s else 0

    def vigil_drops(m):
        return {k: v for k, v in m.items() if v and any(w in k for w in ("dropped", "rejected", "out_of_order", "duplicate"))}

    # ---- phase 1: one queue (vmagent then sends in scrape order); vigil down ~10 s ----
    vig = start_vigil(1)
    agent = start_agent(1, "-remoteWrite.queues=1")
    check("vmagent's samples arrive", wait_until(lambda: len(seq_samples()) >= 5, 30), out(agent)[-2000:])
    t_stop = time.time()
    stop_vigil(vig, 1)
    time.sleep(10)
    scraped_during = Exposition.seq
    vig = start_vigil(2)
    t_start = time.time()
    # vmagent backs off between retries (up to a minute), so draining can take a while
    ok = wait_until(lambda: stored_max() >= scraped_during + 2, timeout=90, step=0.5)
    check("vmagent drains its backlog into the restarted vigil", ok, (scraped_during, stored_max(), out(agent)[-2000:]))
    s = seq_samples()
    outage = [x for x in s if t_stop <= x[0] <= t_start]
    gaps = [(a, b) for a, b in zip(s, s[1:]) if b[0] - a[0] > 2.5]
    check("samples cover the outage window (no gap over 2 scrape intervals)",
          s and s[0][0] < t_stop - 2 and s[-1][0] > t_start + 2 and not gaps and len(outage) >= 8,
          (f"stop={t_stop:.1f} start={t_start:.1f} outage samples={len(outage)}", gaps[:5]))
    vals = [int(v) for _, v in s]
    missing = sorted(set(range(vals[0], vals[-1] + 1)) - set(vals)) if vals else ["none stored"]
    check("every scrape vmagent made is stored: clients_seq is contiguous from its first to its last value",
          not missing and vals == sorted(vals), (missing[:20], vals[:5], vals[-5:]))
    ok, at = True, dict(s)
    gauges = raw(port, "clients_gauge")
    for key, samples in gauges.items():
        i = int(json.loads(key)["i"])
        ok &= [t for t, _ in samples] == [t for t, _ in s] and all(v == 10 * at[t] + i for t, v in samples)
    check(f"the {SERIES} gauges hold the same scrapes with the values served", ok and len(gauges) == SERIES,
          {k: len(v) for k, v in gauges.items()})
    m = metrics(port)
    check("vigil dropped nothing and answered no 400 (both lifetimes)", not any(vigil_drops(x) for x in lives + [m]),
          [vigil_drops(x) for x in lives + [m]])
    am = metrics(aport)
    bad = {k: v for k, v in am.items() if k.startswith("vmagent_remotewrite_requests_total{") and 'status_code="2' not in k and v}
    check("vmagent: every request that got an answer got a 2xx, no block dropped",
          msum(am, "vmagent_remotewrite_requests_total", lambda k: 'status_code="2' in k) > 0 and not bad
          and msum(am, "vmagent_remotewrite_packets_dropped_total") == 0, (bad, {k: v for k, v in am.items() if "dropped" in k}))
    check("vmagent logs no 'unexpected status code'", not refusals(out(agent)), refusals(out(agent))[:5])
    received = msum(lives[0], "vigil_remote_write_samples_total") + msum(m, "vigil_remote_write_samples_total")
    print(f"# phase 1: {len(s)} clients_seq samples, {len(outage)} in the outage window; vigil received {received:.0f} samples")

    # ---- phase 2: vigil down; vmagent stopped (its backlog goes to disk) and started again with a slow
    # send rate; vigil back; vmagent killed with SIGKILL mid-drain and started once more on the same queue ----
    before = stored_max()
    stop_vigil(vig, 2)
    time.sleep(5)
    rc = agent.stop(15, timeout=20)
    check("vmagent #1 stops on SIGTERM, keeping its backlog on disk", rc == 0, (rc, out(agent)[-2000:]))
    agent = start_agent(2, "-remoteWrite.queues=1", "-remoteWrite.rateLimit=400")
    time.sleep(3)
    vig = start_vigil(3)
    ok = wait_until(lambda: stored_max() > before, timeout=60, step=0.1)
    agent.stop(9)
    left = Exposition.seq - stored_max()
    check("vmagent #2 killed with SIGKILL mid-drain (vigil had part of its backlog)", ok and agent.p.returncode == -9 and left > 2,
          (before, stored_max(), Exposition.seq, agent.p.returncode))
    check("vmagent #2 logs no 'unexpected status code'", not refusals(out(agent)), refusals(out(agent))[:5])
    agent = start_agent(3, "-remoteWrite.queues=1")
    goal = Exposition.seq + 3
    check("vmagent #3 drains what is left and catches up", wait_until(lambda: stored_max() >= goal, timeout=90, step=0.5),
          (goal, stored_max(), out(agent)[-2000:]))
    m = metrics(port)
    ref = refusals(out(agent))
    blocks = refused_blocks(port, out(vig))
    check("after the kill vigil drops nothing but out-of-order samples (nothing invalid, no other value at a stored time)",
          msum(m, "vigil_remote_write_dropped_samples_total") == msum(m, "vigil_samples_out_of_order_total")
          and all(b[1] is not None for b in blocks), (vigil_drops(m), blocks))
    check("each block vigil refused is a 400 naming the reason and first series, and vmagent skips it (no retry loop)",
          len(ref) == len(blocks) == msum(m, "vigil_remote_write_rejected_requests_total")
          and all("status code 400" in l and "out of order sample" in l and "first: " in l for l in ref)
          and msum(metrics(aport), "vmagent_remotewrite_packets_dropped_total") == len(ref), (len(blocks), ref[:3]))
    resent = [b for b in blocks if b[2]]
    print(f"# phase 2: {len(blocks)} blocks refused as out of order: {len(resent)} re-sends of samples vigil already"
          f" stored (identical, but older than the series' newest), {len(blocks) - len(resent)} overtaken by newer blocks")
    for b in blocks:
        print(f"#   {b[0]} t={b[1]} {'already stored' if b[2] else 'not stored: lost'}")
    s = seq_samples()
    check("clients_seq still strictly increasing in time and value after the re-sends",
          all(b[0] > a[0] and b[1] > a[1] for a, b in zip(s, s[1:])), s[-20:])
    vals = [int(v) for _, v in s]
    lost = sorted(set(range(vals[0], vals[-1] + 1)) - set(vals))
    print(f"# phase 2: vigil #3 received {msum(m, 'vigil_remote_write_samples_total'):.0f} samples, dropped"
          f" {msum(m, 'vigil_remote_write_dropped_samples_total'):.0f}; clients_seq values missing: {lost}")

    # ---- phase 3: vmagent's default of several queues; vigil down ~8 s ----
    # each queue retries its own block with its own backoff, so after the outage a newer block can reach
    # vigil before an older one: the older block's samples are then out of order, which vigil (like
    # Prometheus) refuses sample by sample, keeping the rest of the request and answering 400
    agent.stop(15, timeout=20)
    agent = start_agent(4)
    ok = wait_until(lambda: stored_max() >= Exposition.seq - 1 and metrics(aport), timeout=30)
    stop_vigil(vig, 3)
    time.sleep(8)
    vig = start_vigil(4)
    time.sleep(1)
    wait_until(lambda: time.time() > retry_deadline(out(agent)) + 3, timeout=90, step=1)
    goal = Exposition.seq
    wait_until(lambda: stored_max() >= goal, timeout=30, step=0.5)
    m = metrics(port)
    dropped = msum(m, "vigil_remote_write_dropped_samples_total")
    ooo = msum(m, "vigil_samples_out_of_order_total")
    ref = refusals(out(agent))
    blocks = refused_blocks(port, out(vig))
    check("several queues: every sample vigil dropped was out of order (a block overtaken by a newer one), nothing else",
          dropped == ooo and all(b[1] is not None for b in blocks), (vigil_drops(m), blocks))
    check("several queues: each vmagent refusal is a 400 quoting vigil's reason",
          len(ref) == len(blocks) == msum(m, "vigil_remote_write_rejected_requests_total")
          and all("status code 400" in l and "out of order sample" in l for l in ref), (len(ref), vigil_drops(m), ref[:3]))
    s = seq_samples()
    check("several queues: clients_seq still strictly increasing", all(b[0] > a[0] and b[1] > a[1] for a, b in zip(s, s[1:])), s[-20:])
    print(f"# phase 3 (default -remoteWrite.queues): vigil dropped {dropped:.0f} out-of-order samples in"
          f" {len(ref)} requests answered 400 (vmagent logs each as rejected and skips the block)")
    for b in blocks:
        print(f"#   {b[0]} t={b[1]} {'already stored (a re-send)' if b[2] else 'not stored: lost'}")
    check("vigil survives", vig.alive(), out(vig)[-2000:])
    agent.stop()
    vig.stop()
    srv.shutdown()


def vmauth_front(tmp, procs):
    vmauth = which("vmauth")
    if not vmauth:
        skip("vmauth in front of vigil", "vmauth not installed")
        return
    cap = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Exposition)
    threading.Thread(target=cap.serve_forever, daemon=True).start()
    off, on, vport = free_port(), free_port(), free_port()
    with open(f"{tmp}/hs.key", "wb") as f:
        f.write(b"0123456789abcdef0123456789abcdef-vigil-test")
    with open(f"{tmp}/off.yml", "w") as f:
        f.write(f"storage: {{path: {tmp}/data-off}}\n")
    # keys configured, anonymous requests still served: a request WITH a bad token must not downgrade
    with open(f"{tmp}/on.yml", "w") as f:
        f.write(f"storage: {{path: {tmp}/data-on}}\nauth:\n  anonymous: true\n  jwt:\n"
                f"    keys: [{{kid: k1, alg: HS256, secret_file: {tmp}/hs.key}}]\n")
    voff = Proc([VIGIL, "serve", "--config", f"{tmp}/off.yml", "--listen", f"127.0.0.1:{off}"], f"{tmp}/vigil-off.log")
    von = Proc([VIGIL, "serve", "--config", f"{tmp}/on.yml", "--listen", f"127.0.0.1:{on}"], f"{tmp}/vigil-on.log")
    procs += [voff, von]
    check("vmauth: vigil (auth off) starts", wait_http(off, "/-/ready"), out(voff))
    check("vmauth: vigil (JWT keys, anonymous allowed) starts", wait_http(on, "/-/ready"), out(von))
    users = [("off", off), ("on", on), ("cap", cap.server_address[1])]
    with open(f"{tmp}/vmauth.yml", "w") as f:
        f.write("users:\n")
        for name, p in users:
            f.write(f"  - username: {name}\n    password: pw-{name}\n    url_prefix: http://127.0.0.1:{p}\n"
                    f"    headers:\n      - \"Authorization: Bearer xyz\"\n")
    auth = Proc([vmauth, f"-auth.config={tmp}/vmauth.yml", f"-httpListenAddr=127.0.0.1:{vport}"], f"{tmp}/vmauth.log")
    procs.append(auth)
    check("vmauth starts", wait_http(vport, "/health"), out(auth)[-2000:])
    import base64

    def basic(user):
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:pw-{user}".encode()).decode()}

    st, _, body = request(vport, "/capture", headers=basic("cap"))
    check("vmauth forwards `Authorization: Bearer xyz` upstream", st == 200 and Exposition.captured[-1:] == ["Bearer xyz"],
          (st, Exposition.captured))
    now = int(time.time() * 1000)
    st, _, body = post(vport, snappy(write_request([({"__name__": "via_vmauth", "job": "x"}, [(now - 1000, 1), (now, 2)])])),
                       headers=basic("off"))
    check("auth off: remote_write through vmauth (Bearer xyz) → 204", st == 204, (st, body))
    st, _, body = request(vport, "/api/v1/query?query=via_vmauth", headers=basic("off"))
    check("auth off: query through vmauth (Bearer xyz) → 200 with the written series",
          st == 200 and json.loads(body)["data"]["result"][0]["value"][1] == "2", (st, body))
    st, _, body = request(vport, "/api/v1/query?" + urllib.parse.urlencode({"query": "via_vmauth", "time": (now - 1000) / 1000}),
                          headers=basic("off"))
    check("auth off: both samples written through vmauth are stored", st == 200 and '"1"' in body, (st, body))

    st, _, body = request(on, "/api/v1/query?query=vector(1)")
    check("JWT keys + anonymous: a request without credentials is served (200)", st == 200, (st, body))
    st, hd, body = request(vport, "/api/v1/query?query=vector(1)", headers=basic("on"))
    check("JWT keys configured: the same bearer token through vmauth → 401 invalid_token",
          st == 401 and "invalid_token" in {k.lower(): v for k, v in hd.items()}.get("www-authenticate", ""), (st, hd, body))
    st, _, body = post(vport, snappy(write_request([({"__name__": "via_vmauth"}, [(now, 1)])])), headers=basic("on"))
    check("JWT keys configured: remote_write with that bearer token through vmauth → 401", st == 401, (st, body))
    st, _, body = request(on, "/api/v1/query?query=via_vmauth")
    check("JWT keys configured: nothing was written by the refused request", st == 200 and json.loads(body)["data"]["result"] == [],
          (st, body))
    check("vmauth: both vigils survive", voff.alive() and von.alive(), out(voff)[-1000:] + out(von)[-1000:])
    cap.shutdown()


def identical_resend(tmp, procs):
    """What a retrying client relies on: re-sending samples vigil already stored, with the same values."""
    port = free_port()
    with open(f"{tmp}/resend.yml", "w") as f:
        f.write(f"storage: {{path: {tmp}/data-resend}}\n")
    vig = Proc([VIGIL, "serve", "--config", f"{tmp}/resend.yml", "--listen", f"127.0.0.1:{port}"], f"{tmp}/vigil-resend.log")
    procs.append(vig)
    check("re-send: vigil starts", wait_http(port, "/-/ready"), out(vig))
    now = int(time.time() * 1000)
    lab = {"__name__": "resend_s", "job": "r"}
    st, _, body = post(port, snappy(write_request([(lab, [(now - 3000, 1), (now - 2000, 2), (now - 1000, 3)])])))
    check("re-send: 3 samples stored (204)", st == 204, (st, body))
    st, _, body = post(port, snappy(write_request([(lab, [(now - 1000, 3)])])))
    check("re-send: the series' newest sample again, same value → 204", st == 204, (st, body))
    st, _, body = post(port, snappy(write_request([(lab, [(now - 2000, 5)])])))
    check("re-send: an older stored timestamp with another value → 400 (dropped)", st == 400 and "1 of 1 samples dropped" in body, (st, body))
    # Prometheus 2.42's receiver answers this `400 out of order sample` too (its head checks the time before
    # the value); a client re-sending a block after a lost answer (vmagent killed mid-drain) needs it accepted
    st, _, body = post(port, snappy(write_request([(lab, [(now - 2000, 2), (now - 1000, 3)])])))
    todo("re-send: a block of already-stored samples older than the newest, same values → 204, not out-of-order drops",
         st == 204, "identical re-sends are recognised only for a series' newest sample", (st, body))
    vig.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="vigil-clients-")
    procs = []
    try:
        vmagent_backlog(tmp, procs)
        vmauth_front(tmp, procs)
        identical_resend(tmp, procs)
    finally:
        for p in procs:
            p.stop()
        if all(vigiltest.results):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"# logs kept in {tmp}")
    finish("integration_clients")


if __name__ == "__main__":
    main()
