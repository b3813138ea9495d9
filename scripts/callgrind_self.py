"""Self cost per function of a callgrind dump, divided by a row count.

callgrind_annotate 3.19 attributes a dump taken with `callgrind_control -d` after `-z` wholly
to the thread's entry point; this reads the file itself: a cost line after `calls=` is the
callee's inclusive cost, every other cost line belongs to the current `fn=`.

Usage: python3 scripts/callgrind_self.py DUMP ROWS [TOP]
"""
import collections
import re
import sys


def main():
    dump, rows = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    names, cost = {}, collections.Counter()
    cur, after_call = None, False
    name_ref = re.compile(r"^(c?fn)=\((\d+)\)(?: (.*))?$")
    for line in open(dump):
        line = line.rstrip("\n")
        m = name_ref.match(line)
        if m:
            if m.group(3):
                names[m.group(2)] = m.group(3)
            if m.group(1) == "fn":
                cur = m.group(2)
            continue
        if line.startswith("calls="):
            after_call = True
            continue
        if not line or not (line[0].isdigit() or line[0] in "+-*"):
            continue
        if after_call:
            after_call = False
            continue
        parts = line.split()
        if len(parts) >= 2 and cur is not None:
            cost[cur] += int(parts[1])
    total = sum(cost.values())
    for fn, c in cost.most_common(top):
        print(f"{c / rows:8.0f}/row {100 * c / total:5.1f}%  {names.get(fn, fn)[:140]}")
    print(f"total: {total / rows:.0f} instructions per row ({total:,} over {rows:,} rows)")


if __name__ == "__main__":
    main()
