#!/usr/bin/env python3
"""RSS per series: 1 M one-point series written to a server, RSS growth divided by the series count.

Lines are `cpu,host=h<i%1000>,id=s<i> v=<i>i` (ns timestamps), 10,000 lines a request. Runs
lineshard (--cores 1), influxd 1.6.7 (GOMAXPROCS=1) and VictoriaMetrics, each pinned to core 0
with the writer on core 1, and prints bytes of RSS per series for each (peak RSS minus the RSS
after start-up, over the series count).

Usage: scripts/rss-per-series.py [series (default 1000000)] [servers: lineshard,influxd,vm]
"""
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERIES = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
WHICH = (sys.argv[2] if len(sys.argv) > 2 else "lineshard,influxd,vm").split(",")
PER_REQUEST = 10_000
T0 = 1_700_000_000_000_000_000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def wait_ping(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/ping")
            if c.getresponse().status in (204, 200):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"no /ping on {port}")


def write_all(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for start in range(0, SERIES, PER_REQUEST):
        body = "".join(
            f"cpu,host=h{i % 1000},id=s{i} v={i}i {T0 + i}\n" for i in range(start, min(SERIES, start + PER_REQUEST))
        ).encode()
        c.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
        r = c.getresponse()
        data = r.read()
        if r.status not in (200, 204):
            raise SystemExit(f"write failed: {r.status} {data[:300]!r}")


def measure(name, argv, port, path, env=None, setup=None):
    proc = subprocess.Popen(["taskset", "-c", "0"] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_ping(port)
        if setup:
            setup(port)
        time.sleep(1)
        base = status_kb(proc.pid, "VmRSS")
        os.sched_setaffinity(0, {1})
        t = time.time()
        write_all(port, path)
        secs = time.time() - t
        time.sleep(2)
        peak = status_kb(proc.pid, "VmHWM")
        now = status_kb(proc.pid, "VmRSS")
        per = (peak - base) * 1024 / SERIES
        print(f"{name:17s} base {base/1024:7.1f} MiB  peak {peak/1024:7.1f} MiB  now {now/1024:7.1f} MiB  "
              f"=> {per:6.0f} B/series (peak-base), {(now-base)*1024/SERIES:6.0f} B/series (now-base); write {secs:.1f}s")
    finally:
        proc.kill()
        proc.wait()


def create_db(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/query?q=CREATE%20DATABASE%20rss")
    c.getresponse().read()


def main():
    print(f"{SERIES} one-point series, {PER_REQUEST} lines a request")
    if "lineshard" in WHICH:
        subprocess.run(["cargo", "build", "--release", "--bin", "lineshard"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        d = tempfile.mkdtemp()
        port = free_port()
        # As for influxd below: the series limits off (1 M distinct `id` values exceed the default
        # max-values-per-tag of 100 000 on every server that enforces it).
        conf = os.path.join(d, "lineshard.toml")
        with open(conf, "w") as f:
            f.write("[data]\nmax-series-per-database = 0\nmax-values-per-tag = 0\n")
        measure("lineshard", [f"{ROOT}/target/release/lineshard", "--cores", "1", "--bind", f"127.0.0.1:{port}",
                              "--data-dir", os.path.join(d, "data"), "--config", conf],
                port, "/write?db=rss", setup=create_db)
    if "influxd" in WHICH:
        d = tempfile.mkdtemp()
        port, rpc = free_port(), free_port()
        conf = os.path.join(d, "influxdb.conf")
        with open(conf, "w") as f:
            f.write(f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n[meta]\n  dir = "{d}/meta"\n'
                    f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n  query-log-enabled = false\n'
                    f'  max-series-per-database = 0\n  max-values-per-tag = 0\n[monitor]\n  store-enabled = false\n'
                    f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n')
        env = dict(os.environ, GOMAXPROCS="1")
        measure("influxd 1.6.7", ["influxd", "-config", conf], port, "/write?db=rss", env=env, setup=create_db)
    if "vm" in WHICH:
        d = tempfile.mkdtemp()
        port = free_port()
        env = dict(os.environ, GOMAXPROCS="1")
        measure("victoria-metrics", ["victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={d}",
                                     "-retentionPeriod=100y"], port, "/write", env=env)


if __name__ == "__main__":
    main()
