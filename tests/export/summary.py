"""Reads a lineshard Parquet export with DuckDB and pyarrow and prints a JSON summary.

usage: summary.py EXPORT_ROOT   (a local directory, or s3://bucket/prefix with S3_ENDPOINT set)

Per <db>/<rp>/<measurement> (names percent-decoded): the row count, rows repeated on
(tags, time), per column its Arrow type, nullability and iox::column::type role, and per
field column count / sum / min / max as DuckDB computes them over every file of the measurement.
"""
import json
import os
import sys
import urllib.parse

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

root = sys.argv[1]
if root.startswith("s3://"):
    endpoint = os.environ["S3_ENDPOINT"]
    fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", region="us-east-1",
                           access_key=os.environ["AWS_ACCESS_KEY_ID"],
                           secret_key=os.environ["AWS_SECRET_ACCESS_KEY"])
    base = root[len("s3://"):].rstrip("/")
else:
    fs = pafs.LocalFileSystem()
    base = os.path.abspath(root)

files = [f.path for f in fs.get_file_info(pafs.FileSelector(base, recursive=True))
         if f.type == pafs.FileType.File and f.path.endswith(".parquet")]
groups = {}
for f in files:
    rel = f[len(base) + 1:].split("/")
    db, rp, m = (urllib.parse.unquote(x) for x in rel[:3])
    assert rel[3].startswith("date="), rel
    groups.setdefault((db, rp, m), []).append(f)

out = []
con = duckdb.connect()
for (db, rp, m), paths in sorted(groups.items()):
    schemas = [pq.read_schema(p, filesystem=fs) for p in paths]
    cols = {}
    for s in schemas:
        for fld in s:
            meta = {k.decode(): v.decode() for k, v in (fld.metadata or {}).items()}
            cols[fld.name] = {"type": str(fld.type), "nullable": fld.nullable,
                              "role": meta.get("iox::column::type", ""),
                              "name": meta.get("lineshard::name", fld.name)}
    sorting = [[(c.column_index, c.descending, c.nulls_first) for c in
                pq.ParquetFile(p, filesystem=fs).metadata.row_group(0).sorting_columns or []]
               for p in paths]
    table = ds.dataset(paths, filesystem=fs, format="parquet",
                       schema=pa.unify_schemas(schemas)).to_table()
    con.register("t", table)
    tags = [c for c, v in cols.items() if v["role"] == "iox::column_type::tag"]
    key = ", ".join(['"%s"' % c for c in tags + ["time"]])
    rows = con.execute("select count(*) from t").fetchall()[0][0]
    distinct = con.execute(f"select count(*) from (select distinct {key} from t)").fetchall()[0][0]
    fields = {}
    for c, v in cols.items():
        role = v["role"]
        if not role.startswith("iox::column_type::field::"):
            continue
        kind = role.rsplit("::", 1)[1]
        q = '"%s"' % c
        if kind in ("float", "integer", "uinteger"):
            cnt, s, lo, hi = con.execute(
                f"select count({q}), sum({q})::double, min({q})::double, max({q})::double from t").fetchall()[0]
        else:
            cnt, = con.execute(f"select count({q}) from t").fetchall()[0]
            s = lo = hi = None
        fields[c] = {"count": cnt, "sum": s, "min": lo, "max": hi}
    tmin, tmax = con.execute("select min(epoch_ns(time)), max(epoch_ns(time)) from t").fetchall()[0] \
        if cols["time"]["type"].startswith("timestamp[ns") else \
        con.execute("select min(epoch_us(time)), max(epoch_us(time)) from t").fetchall()[0]
    con.unregister("t")
    out.append({"db": db, "rp": rp, "measurement": m, "files": len(paths), "rows": rows,
                "duplicates": rows - distinct, "columns": cols, "fields": fields,
                "time_min": tmin, "time_max": tmax, "sorting": sorting})
print(json.dumps(out))
