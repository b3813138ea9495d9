#!/usr/bin/env python3
"""Writes N distinct TSBS cpu-only bodies (5000 lines each by default) for wrk runs.

Rows look like TSBS `cpu-only` (measurement cpu, 10 tags, 10 integer fields, ns timestamps);
each body holds `lines` rows of `hosts` hosts at consecutive 10 s steps, and every body starts
where the previous one ended, so no two bodies carry the same point.
"""
import os
import random
import sys

REGIONS = ["us-east-1", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"]
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]


def host_tags(i, rnd):
    r = rnd.choice(REGIONS)
    return (f"hostname=host_{i},region={r},datacenter={r}{rnd.choice('abc')},rack={rnd.randrange(100)},"
            f"os=Ubuntu{rnd.choice(['16.04LTS', '16.10', '15.10'])},arch={rnd.choice(['x86', 'x64'])},"
            f"team={rnd.choice(['SF', 'NYC', 'LON', 'CHI'])},service={rnd.randrange(20)},"
            f"service_version={rnd.randrange(2)},service_environment={rnd.choice(['production', 'staging', 'test'])}")


def main():
    out_dir, count = sys.argv[1], int(sys.argv[2])
    lines = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    hosts = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    rnd = random.Random(42)
    tags = [host_tags(i, rnd) for i in range(hosts)]
    os.makedirs(out_dir, exist_ok=True)
    t = 1451606400 * 10**9
    row = 0
    for b in range(count):
        parts = []
        for _ in range(lines):
            h = row % hosts
            if h == 0 and row > 0:
                t += 10 * 10**9
            vals = ",".join(f"{f}={rnd.randrange(100)}i" for f in FIELDS)
            parts.append(f"cpu,{tags[h]} {vals} {t}\n")
            row += 1
        with open(os.path.join(out_dir, f"body-{b:05d}.lp"), "w") as f:
            f.write("".join(parts))


if __name__ == "__main__":
    main()
