#!/usr/bin/env python3
"""Prints the peer comparison table from a compare.sh results folder.

usage: compare_table.py DIR   (reads DIR/servers.txt and DIR/<server>.json)
"""
import json
import os
import sys


def main():
    out = sys.argv[1]
    rows = []
    for line in open(os.path.join(out, "servers.txt")):
        name, rss, check = line.split()
        path = os.path.join(out, name + ".json")
        rep = json.load(open(path)) if os.path.exists(path) else None
        rows.append((name, float(rss), check, rep))
    ours = next((r[3]["rows_per_sec"] for r in rows if r[0] == "lineshard" and r[3]), None)
    head = f"{'server':<18}{'rows/s':>12}{'MB/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}{'errors':>8}  {'data':<14}{'lineshard ×':>12}"
    print(head)
    print("-" * len(head))
    for name, rss, check, rep in rows:
        if rep is None:
            print(f"{name:<18}{'-':>12}{'-':>9}{'-':>9}{'-':>9}{rss:>13.0f}{'-':>8}  {check:<14}{'-':>12}")
            continue
        lat = rep["latency_ms"]
        ratio = "-" if ours is None or name == "lineshard" or rep["rows_per_sec"] == 0 else f"{ours / rep['rows_per_sec']:.2f}"
        print(
            f"{name:<18}{rep['rows_per_sec']:>12.0f}{rep['mb_per_sec']:>9.1f}{lat['p50']:>9.2f}{lat['p99']:>9.2f}"
            f"{rss:>13.0f}{rep['error_count']:>8}  {check:<14}{ratio:>12}"
        )
    any_rep = next((r[3] for r in rows if r[3]), None)
    if any_rep:
        print(
            f"\nworkload {any_rep['workload']}, batch {any_rep['batch_size']}, {any_rep['connections']} connections, "
            f"~{any_rep['elapsed_s']:.0f} s each; 'lineshard ×' = lineshard rows/s ÷ that server's rows/s"
        )


if __name__ == "__main__":
    main()
