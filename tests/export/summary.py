"""Reads a lineshard Parquet export with DuckDB and pyarrow and prints a JSON summary.

usage: summary.py EXPORT_ROOT   (a local directory, or s3://bucket/prefix with S3_ENDPOINT set)

Per <db>/<rp>/<measurement> (names percent-decoded): the row count, rows repeated on
(tags, time), per column its Arrow type, nullability and iox::column::type role, per field
column count / sum / min / max as DuckDB computes them over every file of the measurement (and,
for string and boolean fields, every (time, value)), the series (tag values, null where a series
lacks the tag) with their row counts, and per column what the files' metadata says of it
(compression, encodings, statistics, dictionary pages). For a local directory the row count and
the repeated rows are also counted by DuckDB's own Parquet reader (read_parquet with hive
partitioning) over the measurement's directory.
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
    metas = [pq.ParquetFile(p, filesystem=fs).metadata for p in paths]
    sorting = [[(c.column_index, c.descending, c.nulls_first) for c in
                md.row_group(0).sorting_columns or []] for md in metas]
    # Per column, over every row group of every file: compressions and encodings seen, and
    # whether every chunk has statistics (min/max unless all null) and a column index (page
    # statistics), and whether any has a dictionary page.
    chunks = {}
    for md in metas:
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            for j in range(rg.num_columns):
                c = rg.column(j)
                e = chunks.setdefault(c.path_in_schema, {"compression": set(), "encodings": set(),
                                                         "statistics": True, "dictionary": False})
                e["compression"].add(c.compression)
                e["encodings"].update(c.encodings)
                st = c.statistics if c.is_stats_set else None
                e["statistics"] &= bool(st and (st.has_min_max or st.null_count == c.num_values)
                                        and c.has_column_index)
                e["dictionary"] |= bool(c.has_dictionary_page)
    chunks = {k: {**v, "compression": sorted(v["compression"]), "encodings": sorted(v["encodings"])}
              for k, v in chunks.items()}
    table = ds.dataset(paths, filesystem=fs, format="parquet",
                       schema=pa.unify_schemas(schemas)).to_table()
    con.register("t", table)
    tags = [c for c, v in cols.items() if v["role"] == "iox::column_type::tag"]
    key = ", ".join(['"%s"' % c for c in tags + ["time"]])
    rows = con.execute("select count(*) from t").fetchall()[0][0]
    distinct = con.execute(f"select count(*) from (select distinct {key} from t)").fetchall()[0][0]
    duck = None
    if fs.type_name == "local":
        glob = os.path.join(base, *os.path.relpath(paths[0], base).split("/")[:3], "**", "*.parquet")
        src = f"read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"
        n, = con.execute(f"select count(*) from {src}").fetchall()[0]
        d, = con.execute(f"select count(*) from (select distinct {key} from {src})").fetchall()[0]
        days = sorted(str(x) for x, in con.execute(f"select distinct date from {src}").fetchall())
        duck = {"rows": n, "duplicates": n - d, "dates": days}
    tag_list = ", ".join('"%s"' % c for c in tags)
    series = [dict(zip(tags + ["rows"], r)) for r in con.execute(
        f"select {tag_list}, count(*) from t group by all order by all").fetchall()] if tags else []
    epoch = "epoch_ns" if cols["time"]["type"].startswith("timestamp[ns") else "epoch_us"
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
        if kind in ("string", "boolean"):
            fields[c]["values"] = [list(r) for r in con.execute(
                f"select {epoch}(time), {q} from t where {q} is not null order by all").fetchall()]
    tmin, tmax = con.execute(f"select min({epoch}(time)), max({epoch}(time)) from t").fetchall()[0]
    con.unregister("t")
    out.append({"db": db, "rp": rp, "measurement": m, "files": len(paths), "rows": rows,
                "duplicates": rows - distinct, "columns": cols, "fields": fields,
                "time_min": tmin, "time_max": tmax, "sorting": sorting, "series": series,
                "chunks": chunks, "duckdb_reader": duck})
print(json.dumps(out))
