#!/usr/bin/env python3
"""The TSBS query comparison of scripts/compare-query.sh: query texts, runner, answer check, table.

usage:
  compare_query.py run --load-bin PATH --influxd URL [--lineshard URL] --out DIR [--db DB] [--hosts N]
                       [--start-s S] [--end-s E] [--queries N] [--seed S] [--max-seconds T]
                       [--method POST|GET] [--types "a b ..."]
  compare_query.py texts [--hosts N] [--start-s S] [--end-s E] [--queries N] [--seed S]
  compare_query.py selftest

`run` has `lineshard-load query-time` send the same queries, one at a time, to both servers (closed
loop, one keep-alive connection to each, the server asked first alternating, each query timed from
its first byte sent to the last byte of the answer), and checks the answers are the same: HTTP
status, then the JSON (statements, series in order, names, tags, columns, values; numbers equal to
1e-9 relative). It writes DIR/query.json and DIR/query.md and prints the table. `texts` prints the queries `run` would send. `selftest` checks the
texts against timescale/tsbs's own test fixtures and that the comparer flags differences.

The query texts are those of timescale/tsbs `cmd/tsbs_generate_queries/databases/influx/devops.go`,
and its runner's request: `POST /query?q=...&db=...` with an empty body.
"""
import argparse
import calendar
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse

TYPES = [
    "single-groupby-1-1-1",
    "single-groupby-5-1-12",
    "double-groupby-1",
    "high-cpu-1",
    "lastpoint",
    "groupby-orderby-limit",
]
CPU_METRICS = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
]
HOUR_NS = 3600 * 10**9
# TSBS's data start (2016-01-01T00:00:00Z), also lineshard-load's --start-epoch-s default.
TSBS_START_S = 1451606400


# --- the TSBS texts (devops.go of the influx query generator) --------------------------------------
def rfc3339(ns):
    """Go's time.Format(time.RFC3339) of a UTC time: whole seconds, 'Z'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 10**9))


def host_where(hosts):
    return "(" + " or ".join(f"hostname = '{h}'" for h in hosts) + ")"


def group_by_time(num_metrics, hosts, start_ns, end_ns):
    sel = ", ".join(f"max({m})" for m in CPU_METRICS[:num_metrics])
    return (f"SELECT {sel} from cpu where {host_where(hosts)} and time >= '{rfc3339(start_ns)}' "
            f"and time < '{rfc3339(end_ns)}' group by time(1m)")


def group_by_time_and_primary_tag(num_metrics, start_ns, end_ns):
    sel = ", ".join(f"mean({m})" for m in CPU_METRICS[:num_metrics])
    return (f"SELECT {sel} from cpu where time >= '{rfc3339(start_ns)}' and time < '{rfc3339(end_ns)}' "
            "group by time(1h),hostname")


def high_cpu_for_hosts(hosts, start_ns, end_ns):
    where = f"and {host_where(hosts)}" if hosts else ""
    return (f"SELECT * from cpu where usage_user > 90.0 {where} and time >= '{rfc3339(start_ns)}' "
            f"and time < '{rfc3339(end_ns)}'")


def last_point_per_host():
    return 'SELECT * from cpu group by "hostname" order by time desc limit 1'


def group_by_order_by_limit(end_ns):
    return f"SELECT max(usage_user) from cpu WHERE time < '{rfc3339(end_ns)}' group by time(1m) limit 5"


class Picker:
    """TSBS's random choices: hosts as a random subset of host_0..host_{scale-1}, windows starting
    uniformly (in ns) in [start, end - window). A window as long as the data or longer (TSBS would
    refuse it) starts anywhere in [start, end) and runs past the data's end."""

    def __init__(self, seed, scale, start_ns, end_ns):
        self.rnd = random.Random(seed)
        self.scale, self.start_ns, self.end_ns = scale, start_ns, end_ns

    def hosts(self, n):
        return [f"host_{i}" for i in self.rnd.sample(range(self.scale), n)]

    def window(self, window_ns):
        upper = self.end_ns - window_ns
        if upper <= self.start_ns:
            upper = self.end_ns
        start = self.start_ns + self.rnd.randrange(upper - self.start_ns)
        return start, start + window_ns

    def query(self, kind):
        if kind == "single-groupby-1-1-1":
            s, e = self.window(HOUR_NS)
            return group_by_time(1, self.hosts(1), s, e)
        if kind == "single-groupby-5-1-12":
            s, e = self.window(12 * HOUR_NS)
            return group_by_time(5, self.hosts(1), s, e)
        if kind == "double-groupby-1":
            s, e = self.window(12 * HOUR_NS)
            return group_by_time_and_primary_tag(1, s, e)
        if kind == "high-cpu-1":
            s, e = self.window(12 * HOUR_NS)
            return high_cpu_for_hosts(self.hosts(1), s, e)
        if kind == "lastpoint":
            return last_point_per_host()
        if kind == "groupby-orderby-limit":
            _, e = self.window(HOUR_NS)
            return group_by_order_by_limit(e)
        raise ValueError(f"unknown query type {kind}")


def query_plan(types, per_type, seed, scale, start_ns, end_ns):
    """{type: [query text, ...]}, each type with its own random stream, so adding or dropping a type
    does not change the others' queries."""
    plan = {}
    for t in types:
        picker = Picker(f"{seed}/{t}", scale, start_ns, end_ns)
        plan[t] = [picker.query(t) for _ in range(per_type)]
    return plan


# --- answers ---------------------------------------------------------------------------------------
def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def first_difference(a, b, path="$"):
    """The first place where two decoded JSON answers differ (a text), or None. Numbers compare to
    1e-9 relative (1.x writes a float that is whole, such as a mean of 58, as `58`)."""
    if _num(a) and _num(b):
        if a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0):
            return None
        return f"{path}: {a!r} != {b!r}"
    if type(a) is not type(b):
        return f"{path}: {_short(a)} != {_short(b)}"
    if isinstance(a, dict):
        if set(a.keys()) != set(b.keys()):
            return f"{path}: keys {sorted(a.keys())} != {sorted(b.keys())}"
        for k in a:
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        return None
    return None if a == b else f"{path}: {_short(a)} != {_short(b)}"


def _short(v, n=200):
    s = json.dumps(v) if not isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + "..."


def answer_difference(ref, got):
    """ref, got: (status, body bytes). None when the answers are the same; else what differs, as
    `influxd X, lineshard Y` texts."""
    (s1, b1), (s2, b2) = ref, got
    if s1 != s2:
        return f"HTTP status: influxd {s1}, lineshard {s2}: {_short(b2.decode('utf-8', 'replace').strip())}"
    try:
        j1, j2 = json.loads(b1), json.loads(b2)
    except ValueError:
        return None if b1 == b2 else f"body: influxd {_short(b1.decode('utf-8', 'replace'))}, lineshard {_short(b2.decode('utf-8', 'replace'))}"
    d = first_difference(j1, j2)
    return None if d is None else "influxd != lineshard at " + d


def answer_error(status, body):
    """An error answer (non-200 or an `error` in the body or a statement): its text; else None."""
    try:
        j = json.loads(body)
    except ValueError:
        j = None
    if not isinstance(j, dict):
        return f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}" if status != 200 else "not a JSON object"
    if "error" in j:
        return str(j["error"])
    if status != 200:
        return f"HTTP {status}"
    for r in j.get("results", []):
        if isinstance(r, dict) and "error" in r:
            return str(r["error"])
    return None


# --- the runner ------------------------------------------------------------------------------------
def percentile(xs, p):
    """Nearest rank; None for no samples."""
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def values_in(body):
    """How many rows an answer holds, over all its series."""
    try:
        j = json.loads(body)
        return sum(len(se.get("values", [])) for r in j.get("results", []) for se in r.get("series", []))
    except (ValueError, AttributeError, TypeError):
        return 0


def summarize(lat_s, errors, rows=None):
    ms = [x * 1000 for x in lat_s]
    return {
        "answered": len(ms),
        "rows_mean": sum(rows) / len(rows) if rows else None,
        "errors": errors,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "mean_ms": sum(ms) / len(ms) if ms else None,
    }


def target(q, db):
    """The request target TSBS's runner sends: its generator's path `/query?q=...`, then `&db=...`."""
    return "/query?" + urllib.parse.urlencode({"q": q}) + "&db=" + urllib.parse.quote_plus(db)


def time_queries(load_bin, urls, texts, db, method, max_seconds, scratch):
    """Runs `lineshard-load query-time`: every text on every URL in turn. Returns per text a list
    (one per URL) of (status, body bytes, seconds)."""
    path = os.path.join(scratch, "targets.txt")
    with open(path, "w") as f:
        f.write("".join(target(q, db) + "\n" for q in texts))
    cmd = [load_bin, "query-time", "--queries", path, "--method", method, "--warmup", "1",
           "--max-time", f"{max_seconds:g}"]
    for u in urls:
        cmd += ["--url", u]
    # Bounded: no new line after max_seconds, and a request gives up after 60 s per server.
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, timeout=max_seconds + 300).stdout
    got = {}
    for line in out.splitlines():
        a = json.loads(line)
        got.setdefault(a["line"], [None] * len(urls))[a["server"]] = (a["status"], a["body"].encode(), a["us"] / 1e6)
    return [got[i] for i in sorted(got)]


def tally(kind, texts, answers, names):
    """The row of one query type: per server the latencies of its answers that are not errors, the
    errors, and (with lineshard) how many answers are the same as influxd's."""
    lat = {name: [] for name in names}
    rows = {name: [] for name in names}
    errs = {name: 0 for name in names}
    first_error = {}
    same = differ = 0
    first = None
    for q, per_server in zip(texts, answers):
        for name, (status, body, took) in zip(names, per_server):
            err = answer_error(status, body)
            if err is None:
                lat[name].append(took)
                rows[name].append(values_in(body))
            else:
                errs[name] += 1
                first_error.setdefault(name, {"query": q, "error": _short(err, 300)})
        if "lineshard" in names:
            d = answer_difference(*[(s, b) for s, b, _ in per_server])
            if d is None:
                same += 1
            else:
                differ += 1
                if first is None:
                    first = {"query": q, "difference": d}
    asked = len(answers)
    row = {"type": kind, "queries": asked, "example": texts[0] if texts else None}
    for name in names:
        row[name] = summarize(lat[name], errs[name], rows[name])
        if name in first_error:
            row[name]["first_error"] = first_error[name]
    ls, ix = row.get("lineshard"), row["influxd"]
    if ls is not None:
        row["same"], row["differ"] = same, differ
        row["first_difference"] = first
    comparable = ls is not None and differ == 0 and ix["errors"] == 0 and ls["answered"] == asked and asked > 0
    row["ratio_p50"] = ix["p50_ms"] / ls["p50_ms"] if comparable and ls["p50_ms"] else None
    return row


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def table(rep):
    """The markdown table and the notes under it (first differences and errors)."""
    lines = [
        "| query type | rows per answer | influxd p50 ms | influxd p99 ms | lineshard p50 ms | lineshard p99 ms | influxd ÷ lineshard (p50) | answers |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for r in rep["types"]:
        ix, ls = r["influxd"], r.get("lineshard")
        if ls is None:
            answers = "not compared"
        elif r.get("differ"):
            answers = f"{r['same']} same, **{r['differ']} differ**"
        else:
            answers = f"{r.get('same', 0)} same"
        lines.append(
            f"| {r['type']} | {fmt(ix.get('rows_mean'), '.0f')} | {fmt(ix['p50_ms'])} | {fmt(ix['p99_ms'])} | {fmt(ls and ls['p50_ms'])} "
            f"| {fmt(ls and ls['p99_ms'])} | {fmt(r['ratio_p50'])} | {answers} |"
        )
        if r.get("first_difference"):
            fd = r["first_difference"]
            notes.append(f"- {r['type']}: first difference, for `{fd['query']}`: {fd['difference']}")
        for name in ("influxd", "lineshard"):
            fe = (r.get(name) or {}).get("first_error")
            if fe and name == "lineshard" and fe["query"] == (r.get("first_difference") or {}).get("query"):
                notes.append(f"- {r['type']}: lineshard answered {r[name]['errors']} of {r['queries']} with an error")
            elif fe:
                notes.append(f"- {r['type']}: {name} answered {r[name]['errors']} of {r['queries']} with an error, first: {fe['error']}")
    g = rep["geomean_ratio"]
    n = rep["geomean_types"]
    lines.append("")
    lines.append(
        f"Geometric mean of influxd ÷ lineshard (p50): {fmt(g)}"
        + ("" if g is None or n == len(rep["types"]) else f" (over the {n} of {len(rep['types'])} types where every answer matched)")
    )
    c = rep["config"]
    lines.append(
        f"\n{c['queries_per_type']} queries per type (seed {c['seed']}), TSBS cpu-only data of {c['hosts']} hosts from "
        f"{rfc3339(c['start_s'] * 10**9)} to {rfc3339(c['end_s'] * 10**9)}, {c['method']} /query, one query at a time; "
        "rows per answer: influxd's, the mean over the type's queries; "
        "a ratio only where both answered every query and the answers are the same."
    )
    if notes:
        lines += [""] + notes
    return "\n".join(lines)


def cmd_run(a):
    types = a.types.split() if a.types else TYPES
    plan = query_plan(types, a.queries, a.seed, a.hosts, a.start_s * 10**9, a.end_s * 10**9)
    names, urls = ["influxd"], [a.influxd]
    if a.lineshard:
        names.append("lineshard")
        urls.append(a.lineshard)
    for u in urls:
        if urllib.parse.urlsplit(u).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"{u}: only loopback servers are compared")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for kind in types:
            answers = time_queries(a.load_bin, urls, plan[kind], a.db, a.method, a.max_seconds, scratch)
            row = tally(kind, plan[kind], answers, names)
            rows.append(row)
            ls = row.get("lineshard") or {}
            print(f"{kind}: {row['queries']} queries, influxd p50 {fmt(row['influxd']['p50_ms'])} ms, "
                  f"lineshard p50 {fmt(ls.get('p50_ms'))} ms, {row.get('differ', '-')} differ", file=sys.stderr)
    ratios = [r["ratio_p50"] for r in rows if r["ratio_p50"]]
    rep = {
        "config": {
            "hosts": a.hosts, "start_s": a.start_s, "end_s": a.end_s, "queries_per_type": a.queries,
            "seed": a.seed, "method": a.method, "db": a.db, "max_seconds_per_type": a.max_seconds,
            "servers": names,
        },
        "types": rows,
        "geomean_ratio": geomean(ratios),
        "geomean_types": len(ratios),
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "query.json"), "w") as f:
        json.dump(rep, f, indent=1)
    md = table(rep)
    with open(os.path.join(a.out, "query.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    return 0


def cmd_texts(a):
    types = a.types.split() if a.types else TYPES
    for kind, texts in query_plan(types, a.queries, a.seed, a.hosts, a.start_s * 10**9, a.end_s * 10**9).items():
        for q in texts:
            print(f"{kind}\t{q}")
    return 0


# --- self-test -------------------------------------------------------------------------------------
def _s(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")) * 10**9


def selftest():
    fails = []

    def check(name, got, want):
        if got != want:
            fails.append(f"{name}:\n  got  {got!r}\n  want {want!r}")

    # Expected texts copied from timescale/tsbs cmd/tsbs_generate_queries/databases/influx/devops_test.go
    # (there with Go's math/rand seeded 123; here with the hosts and windows those tests drew).
    check("host where 3", host_where(["host_1", "host_8", "host_5"]),
          "(hostname = 'host_1' or hostname = 'host_8' or hostname = 'host_5')")
    check("GroupByTime", group_by_time(1, ["host_9"], _s("1970-01-01T00:05:58Z"), _s("1970-01-01T00:05:59Z")),
          "SELECT max(usage_user) from cpu where (hostname = 'host_9') and "
          "time >= '1970-01-01T00:05:58Z' and time < '1970-01-01T00:05:59Z' group by time(1m)")
    check("GroupByOrderByLimit", group_by_order_by_limit(_s("1970-01-01T01:16:22Z")),
          "SELECT max(usage_user) from cpu WHERE time < '1970-01-01T01:16:22Z' group by time(1m) limit 5")
    check("GroupByTimeAndPrimaryTag 1",
          group_by_time_and_primary_tag(1, _s("1970-01-01T00:16:22Z"), _s("1970-01-01T12:16:22Z")),
          "SELECT mean(usage_user) from cpu where time >= '1970-01-01T00:16:22Z' and time < '1970-01-01T12:16:22Z' "
          "group by time(1h),hostname")
    check("GroupByTimeAndPrimaryTag 5",
          group_by_time_and_primary_tag(5, _s("1970-01-01T00:54:10Z"), _s("1970-01-01T12:54:10Z")),
          "SELECT mean(usage_user), mean(usage_system), mean(usage_idle), mean(usage_nice), mean(usage_iowait) "
          "from cpu where time >= '1970-01-01T00:54:10Z' and time < '1970-01-01T12:54:10Z' group by time(1h),hostname")
    check("LastPointPerHost", last_point_per_host(), 'SELECT * from cpu group by "hostname" order by time desc limit 1')
    check("HighCPUForHosts 0", high_cpu_for_hosts([], _s("1970-01-01T00:54:10Z"), _s("1970-01-01T12:54:10Z")),
          "SELECT * from cpu where usage_user > 90.0  and time >= '1970-01-01T00:54:10Z' and time < '1970-01-01T12:54:10Z'")
    check("HighCPUForHosts 1", high_cpu_for_hosts(["host_5"], _s("1970-01-01T00:47:30Z"), _s("1970-01-01T12:47:30Z")),
          "SELECT * from cpu where usage_user > 90.0 and (hostname = 'host_5') and "
          "time >= '1970-01-01T00:47:30Z' and time < '1970-01-01T12:47:30Z'")
    check("HighCPUForHosts 5",
          high_cpu_for_hosts(["host_9", "host_5", "host_1", "host_7", "host_2"], _s("1970-01-01T00:17:45Z"), _s("1970-01-01T12:17:45Z")),
          "SELECT * from cpu where usage_user > 90.0 and "
          "(hostname = 'host_9' or hostname = 'host_5' or hostname = 'host_1' or hostname = 'host_7' or hostname = 'host_2') and "
          "time >= '1970-01-01T00:17:45Z' and time < '1970-01-01T12:17:45Z'")
    # RFC3339 drops the sub-second part, as Go's time.RFC3339 does.
    check("rfc3339", rfc3339(_s("2016-01-01T03:04:05Z") + 999_999_999), "2016-01-01T03:04:05Z")

    # The plan: fixed for a seed, hosts in range, windows inside the data (or from inside it).
    start, end = TSBS_START_S * 10**9, (TSBS_START_S + 12 * 3600) * 10**9
    p1 = query_plan(TYPES, 20, 7, 100, start, end)
    check("plan is fixed by its seed", p1, query_plan(TYPES, 20, 7, 100, start, end))
    check("plan types", list(p1), TYPES)
    if query_plan(TYPES, 20, 8, 100, start, end) == p1:
        fails.append("another seed gives the same plan")
    if len(set(p1["single-groupby-1-1-1"])) < 15:
        fails.append("single-groupby-1-1-1 windows and hosts are not random")
    for q in p1["single-groupby-1-1-1"] + p1["high-cpu-1"]:
        h = int(q.split("hostname = 'host_")[1].split("'")[0])
        if not 0 <= h < 100:
            fails.append(f"host out of range: {q}")
    for q in p1["single-groupby-1-1-1"]:
        lo = q.split("time >= '")[1].split("'")[0]
        hi = q.split("time < '")[1].split("'")[0]
        if not (rfc3339(start) <= lo and hi <= rfc3339(end) and _s(hi) - _s(lo) == HOUR_NS):
            fails.append(f"1 h window outside the data: {q}")
    for q in p1["double-groupby-1"]:
        lo = q.split("time >= '")[1].split("'")[0]
        if not rfc3339(start) <= lo < rfc3339(end):
            fails.append(f"12 h window does not start inside the data: {q}")
    check("lastpoint is fixed", set(p1["lastpoint"]), {last_point_per_host()})

    # The comparer.
    a = {"results": [{"statement_id": 0, "series": [
        {"name": "cpu", "tags": {"hostname": "host_1"}, "columns": ["time", "max"], "values": [["2016-01-01T00:00:00Z", 58], ["2016-01-01T00:01:00Z", 0.1]]},
        {"name": "cpu", "tags": {"hostname": "host_2"}, "columns": ["time", "max"], "values": [["2016-01-01T00:00:00Z", None]]},
    ]}]}
    enc = lambda j: (200, json.dumps(j).encode())  # noqa: E731
    check("same answer", answer_difference(enc(a), enc(a)), None)
    b = json.loads(json.dumps(a))
    b["results"][0]["series"][0]["values"][0][1] = 58.0
    b["results"][0]["series"][0]["values"][1][1] = 0.1 * (1 + 1e-12)
    check("58 == 58.0 and floats within 1e-9", answer_difference(enc(a), enc(b)), None)
    b["results"][0]["series"][0]["values"][1][1] = 0.1 * (1 + 1e-6)
    d = answer_difference(enc(a), enc(b))
    if not d or "series[0].values[1][1]" not in d:
        fails.append(f"a float off by 1e-6 is not flagged where it is: {d!r}")
    c = json.loads(json.dumps(a))
    c["results"][0]["series"].reverse()
    d = answer_difference(enc(a), enc(c))
    if not d or "series[0].tags.hostname" not in d:
        fails.append(f"series order is not flagged: {d!r}")
    c = json.loads(json.dumps(a))
    c["results"][0]["series"][1]["values"][0][1] = 0
    if not answer_difference(enc(a), enc(c)):
        fails.append("null against 0 is not flagged")
    c = json.loads(json.dumps(a))
    c["results"][0]["series"][0]["values"].pop()
    if not answer_difference(enc(a), enc(c)):
        fails.append("a missing row is not flagged")
    c = json.loads(json.dumps(a))
    c["results"][0]["series"][0]["columns"][1] = "max_1"
    if not answer_difference(enc(a), enc(c)):
        fails.append("a column name is not flagged")
    c = json.loads(json.dumps(a))
    c["results"][0]["series"][0]["values"][0][1] = True
    if not answer_difference(enc(a), enc(c)):
        fails.append("true against 58 is not flagged")
    refused = (400, b'{"error":"error parsing query: found max, expected identifier"}')
    d = answer_difference(enc(a), refused)
    if not d or "HTTP status: influxd 200, lineshard 400" not in d:
        fails.append(f"a refused query is not flagged as such: {d!r}")
    check("error of a 400", answer_error(*refused), "error parsing query: found max, expected identifier")
    check("statement error", answer_error(200, b'{"results":[{"statement_id":0,"error":"database not found: x"}]}'),
          "database not found: x")
    check("no error", answer_error(*enc(a)), None)

    # Tallies: latencies only of answers that are not errors; a ratio only when all are the same.
    ok, no = (200, json.dumps(a).encode()), (400, refused[1])
    t = tally("x", ["q1", "q2"], [[ok + (0.004,), ok + (0.001,)], [ok + (0.006,), ok + (0.003,)]], ["influxd", "lineshard"])
    check("tally same", (t["same"], t["differ"], t["influxd"]["p50_ms"], t["lineshard"]["p99_ms"], t["ratio_p50"]), (2, 0, 4.0, 3.0, 4.0))
    t = tally("x", ["q1", "q2"], [[ok + (0.004,), no + (0.001,)], [ok + (0.006,), ok + (0.003,)]], ["influxd", "lineshard"])
    check("tally refused", (t["same"], t["differ"], t["lineshard"]["errors"], t["lineshard"]["answered"], t["ratio_p50"]), (1, 1, 1, 1, None))
    check("tally first difference", t["first_difference"]["query"], "q1")
    t = tally("x", ["q1"], [[ok + (0.004,)]], ["influxd"])
    check("tally influxd only", ("same" in t, t["ratio_p50"], t["influxd"]["answered"]), (False, None, 1))

    # Percentiles and the table of a run where lineshard refused everything.
    check("p50", percentile([5, 1, 4, 2, 3], 50), 3)
    check("p99", percentile(list(range(1, 101)), 99), 99)
    check("no samples", percentile([], 50), None)
    rows = []
    for kind in TYPES:
        rows.append({"type": kind, "queries": 2, "example": "q",
                     "influxd": summarize([0.010, 0.020], 0, [60, 60]),
                     "lineshard": dict(summarize([], 2), first_error={"query": "q", "error": "HTTP 400"}),
                     "same": 0, "differ": 2, "first_difference": {"query": "q", "difference": "HTTP status: influxd 200, lineshard 400"},
                     "ratio_p50": None})
    rep = {"config": {"hosts": 100, "start_s": TSBS_START_S, "end_s": TSBS_START_S + 43200, "queries_per_type": 2,
                      "seed": 1, "method": "POST"}, "types": rows, "geomean_ratio": None, "geomean_types": 0}
    md = table(rep)
    if "| single-groupby-1-1-1 | 60 | 10.00 | 20.00 | - | - | - | 0 same, **2 differ** |" not in md:
        fails.append("table row of a refused type:\n" + md)
    if "first difference, for `q`: HTTP status: influxd 200, lineshard 400" not in md:
        fails.append("table does not show the first difference:\n" + md)

    for f in fails:
        print("FAIL " + f, file=sys.stderr)
    print(f"compare_query selftest: {len(fails)} failures")
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "texts"):
        p = sub.add_parser(name)
        p.add_argument("--hosts", type=int, default=100)
        p.add_argument("--start-s", type=int, default=TSBS_START_S)
        p.add_argument("--end-s", type=int, default=TSBS_START_S + 12 * 3600)
        p.add_argument("--queries", type=int, default=50, help="queries per type")
        p.add_argument("--seed", default="1")
        p.add_argument("--types", default="", help="space-separated subset of: " + " ".join(TYPES))
        if name == "run":
            p.add_argument("--influxd", required=True)
            p.add_argument("--lineshard", default="")
            p.add_argument("--out", required=True)
            p.add_argument("--db", default="benchmark")
            p.add_argument("--method", choices=["POST", "GET"], default="POST")
            p.add_argument("--max-seconds", type=float, default=120, help="per query type")
            p.add_argument("--load-bin", required=True, help="the lineshard-load binary (its query-time runs the queries)")
    sub.add_parser("selftest")
    a = ap.parse_args()
    if a.cmd == "selftest":
        return selftest()
    if a.cmd in ("run", "texts"):
        bad = [t for t in (a.types.split() if a.types else []) if t not in TYPES]
        if bad:
            ap.error(f"unknown query types {bad}")
    return cmd_run(a) if a.cmd == "run" else cmd_texts(a)


if __name__ == "__main__":
    sys.exit(main())
