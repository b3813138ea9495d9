"""The query side of scripts/scale-out-demo.sh: DuckDB over every node's Parquet export.

usage: scale-out-query.py ROOT S3_ENDPOINT ROWS NODE_URL...
Waits until ROWS rows are exported, prints per-host counts and an hourly aggregate over all
nodes, and checks both against the sum of what each node answers through /query.
"""
import json
import sys
import time
import urllib.parse
import urllib.request

import duckdb

root, s3, rows, nodes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
con = duckdb.connect()
glob = f"{root}/demo/autogen/cpu/*/*.parquet"
src = f"read_parquet('{glob}', hive_partitioning = true)"
refresh = None
if root.startswith("s3://"):
    host = s3.split("://", 1)[1]
    try:
        con.execute("INSTALL httpfs; LOAD httpfs;")
        con.execute(f"SET s3_endpoint='{host}'; SET s3_use_ssl=false; SET s3_url_style='path';"
                    "SET s3_access_key_id='demo'; SET s3_secret_access_key='demo'; SET s3_region='us-east-1';")
    except duckdb.Error:
        # DuckDB downloads httpfs on first use; without a network the bucket is read with
        # pyarrow's S3 client and handed to DuckDB as an Arrow dataset.
        import pyarrow.dataset as ds
        import pyarrow.fs as pafs

        print("(DuckDB's httpfs extension is not installed here: the bucket is read through pyarrow's S3 client)")
        s3fs = pafs.S3FileSystem(endpoint_override=host, scheme="http", access_key="demo",
                                 secret_key="demo", region="us-east-1")
        prefix = root[len("s3://"):] + "/demo/autogen/cpu"

        def refresh():
            con.register("lake", ds.dataset(prefix, filesystem=s3fs, format="parquet", partitioning="hive"))

        src = "lake"

deadline = time.time() + 120
while True:
    try:
        if refresh:
            refresh()
        n = con.execute(f"select count(*) from {src}").fetchall()[0][0]
    except (duckdb.Error, OSError):
        n = 0
    if n == rows:
        break
    if time.time() > deadline:
        sys.exit(f"only {n} of {rows} rows exported after 120 s")
    time.sleep(0.5)
print(f"rows in Parquet: {n} (written: {rows})")


def influx(q):
    total = {}
    for url in nodes:
        body = urllib.request.urlopen(f"{url}/query?db=demo&epoch=s&q=" + urllib.parse.quote(q)).read()
        for s in json.loads(body)["results"][0].get("series", []):
            tag = (s.get("tags") or {}).get("hostname")
            for v in s["values"]:
                key = tag if tag is not None else v[0]
                if v[1]:
                    total[key] = total.get(key, 0) + v[1]
    return total


hosts = dict(con.execute(f"select hostname, count(*) from {src} group by 1 order by 1").fetchall())
want = influx("SELECT count(usage_user) FROM cpu GROUP BY hostname")
print("per-host counts (DuckDB over all nodes):")
for h in sorted(hosts)[:5]:
    print(f"  {h}: {hosts[h]}")
print(f"  ... {len(hosts)} hosts")
assert hosts == want, "per-host counts differ from the nodes' /query answers"

lo, hi = con.execute(f"select min(epoch(time))::bigint, max(epoch(time))::bigint from {src}").fetchall()[0]
hourly = con.execute(
    f"select epoch(time_bucket(interval '1 hour', time))::bigint, count(*), round(avg(usage_user), 3) "
    f"from {src} group by 1 order by 1").fetchall()
print("GROUP BY time(1h) over all nodes: hour, count, mean(usage_user)")
for h, c, a in hourly[:6]:
    print(f"  {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(h))}  {c}  {a}")
print(f"  ... {len(hourly)} hours")
want = influx(f"SELECT count(usage_user) FROM cpu WHERE time >= {lo}s AND time <= {hi}s GROUP BY time(1h)")
assert {h: c for h, c, _ in hourly} == want, "hourly counts differ from the nodes' /query answers"
print("per-host counts and hourly counts equal the sum of the nodes' /query answers")
