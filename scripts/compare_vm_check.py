#!/usr/bin/env python3
"""Checks that VictoriaMetrics stored every row lineshard-load saw acknowledged.

usage: compare_vm_check.py VM_URL LOADER_JSON   -> prints "ok" or "FAILED" (details on stderr)

VictoriaMetrics has no InfluxQL, so the rows are counted as samples of one field every row carries
(measurement_field, as VictoriaMetrics names InfluxDB fields) with sum(count_over_time(...)).
"""
import json
import sys
import time
import urllib.parse
import urllib.request

METRIC = {"tsbs-cpu": "cpu_usage_user", "high-cardinality": "hc_value", "wide": "wide_f0"}


def main():
    url, path = sys.argv[1], sys.argv[2]
    rep = json.load(open(path))
    lo, hi, want = rep.get("acked_ts_min_ns"), rep.get("acked_ts_max_ns"), rep["rows_acked"]
    if lo is None or want == 0:
        print("nothing acknowledged", file=sys.stderr)
        print("FAILED")
        return
    window_s = (hi - lo) // 1_000_000_000 + 2
    q = 'sum(count_over_time({__name__="%s"}[%ds]))' % (METRIC[rep["workload"]], window_s)
    params = urllib.parse.urlencode({"query": q, "time": "%.3f" % (hi / 1e9 + 1)})
    got = -1
    for _ in range(30):  # freshly flushed parts become searchable within a few seconds
        with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=60) as r:
            res = json.load(r)["data"]["result"]
        got = int(float(res[0]["value"][1])) if res else 0
        if got >= want:
            break
        time.sleep(0.5)
    print(f"victoria-metrics: expected {want} rows, counted {got} samples ({q})", file=sys.stderr)
    print("ok" if got >= want else "FAILED")


if __name__ == "__main__":
    main()
