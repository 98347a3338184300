#!/usr/bin/env python3
"""doc_tables.py -- the Markdown tables of docs/PERFORMANCE.md, from one
mrlog-bench results file (one JSON object per line).

    usage: bench/doc_tables.py build/bench-results.json > tables.md

Every cell is the median over the runs of (engine, workload) with the
min-max beside it, computed the way the benchmark's own tables compute them
(bench/figures.c: the median of an even count is the mean of the middle
two).  Nothing is computed that the JSON lines do not carry.
"""
import json
import math
import sys

ENGINE_ORDER = ["mrlog", "mrlog-copy", "mrlog-mapped", "rocksdb", "lmdb",
                "sqlite"]
PEERS = {"rocksdb", "lmdb", "sqlite"}


def load(path):
    runs, device, config = [], None, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            o = json.loads(line)
            if o.get("engine") == "config":
                config = o
            elif o.get("engine") == "device":
                device = o
            else:
                runs.append(o)
    return config, device, runs


def values(runs, engine, workload, field):
    out = []
    for r in runs:
        if r["engine"] == engine and r["workload"] == workload:
            v = r.get(field)
            if v is None:
                if field == "space_back_ms" and r.get("errors", 0) == 0:
                    out.append(math.inf)  # not back in time: "never"
                continue
            out.append(float(v))
    return sorted(out)


def median(vs):
    n = len(vs)
    if n == 0:
        return math.nan
    return vs[n // 2] if n % 2 else (vs[n // 2 - 1] + vs[n // 2]) / 2


def fmt(v, unit=""):
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "never"
    if unit == "M":
        return "%.2fM" % (v / 1e6)
    if unit == "k":
        return "%.1fk" % (v / 1e3)
    if unit == "MB":
        return "%.1f" % (v / 1e6)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def cell(runs, engine, workload, field, unit="", rng=True):
    vs = values(runs, engine, workload, field)
    m = median(vs)
    if not vs:
        return "-", m
    s = fmt(m, unit)
    if rng and len(vs) > 1 and not math.isinf(vs[-1]):
        s += " (%s–%s)" % (fmt(vs[0], unit), fmt(vs[-1], unit))
    return s, m


def engines(runs, workload):
    seen = []
    for r in runs:
        if r["workload"] == workload and r["engine"] not in seen:
            seen.append(r["engine"])
    return sorted(seen, key=lambda e: ENGINE_ORDER.index(e)
                  if e in ENGINE_ORDER else len(ENGINE_ORDER))


def table(runs, workload, cols):
    """cols: (header, field, unit, with range)"""
    es = engines(runs, workload)
    if not es:
        return ""
    out = ["| engine | " + " | ".join(c[0] for c in cols) + " |",
           "|---" * (len(cols) + 1) + "|"]
    for e in es:
        cells = [cell(runs, e, workload, c[1], c[2], c[3])[0] for c in cols]
        out.append("| %s | %s |" % (e, " | ".join(cells)))
    return "\n".join(out) + "\n"


def ratios(runs, workload, field, higher_better=True, vs=None):
    es = engines(runs, workload)
    peers = [e for e in es if e in PEERS]
    lines = []
    for e in es:
        if e in PEERS:
            continue
        mine = median(values(runs, e, workload, field))
        targets = [vs] if vs else peers
        best, best_v = None, None
        for p in targets:
            v = median(values(runs, p, workload, field))
            if math.isnan(v):
                continue
            if best_v is None or (v > best_v if higher_better else v < best_v):
                best, best_v = p, v
        if best is None or not best_v:
            continue
        lines.append("%s / %s: %.2fx" % (e, best, mine / best_v))
    return "; ".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    config, device, runs = load(sys.argv[1])
    gib = 1 << 30
    if config:
        print("Runs per engine and workload: %d; scale %g; W1 %d records, "
              "W3 %d records.\n" % (config["runs"], config["scale"],
                                    config["w1_records"],
                                    config["w3_records"]))
    if device:
        print("| device probe | figure |\n|---|---|")
        print("| sequential write, 1 MiB pwrites, buffered / including the "
              "final fdatasync | %.2f / %.2f GiB/s (%.0f / %.0f MB/s) |" %
              (device["seq_gib_s"], device["seq_sync_gib_s"],
               device["seq_gib_s"] * gib / 1e6,
               device["seq_sync_gib_s"] * gib / 1e6))
        print("| 4 KiB pwrite + fdatasync, appending: ops/s, p50 / p99 | "
              "%.0f/s, %.0f / %.0f us |" % (
                  device["fdatasync_append_ops_s"],
                  device["fdatasync_append_p50_us"],
                  device["fdatasync_append_p99_us"]))
        print("| 4 KiB pwrite + fdatasync, overwriting: ops/s, p50 / p99 | "
              "%.0f/s, %.0f / %.0f us |" % (
                  device["fdatasync_overwrite_ops_s"],
                  device["fdatasync_overwrite_p50_us"],
                  device["fdatasync_overwrite_p99_us"]))
        if device.get("unlink_free_ms") is not None:
            print("| unlink of %d synced files of %d MiB until the space is "
                  "free | %.2f ms |" % (device["unlink_files"],
                                        device["unlink_file_bytes"] >> 20,
                                        device["unlink_free_ms"]))
        print()
    thr = [("records/s", "rec_per_s", "M", True),
           ("CPU s", "cpu_s", "", True),
           ("disk overhead B/rec", "disk_overhead_per_rec", "", False),
           ("peak RSS MB", "peak_rss_bytes", "MB", False)]
    for w, title in (("W1", "W1: 1,000,000 records of 100 B, 16 queues, "
                      "4 producers, one call per record"),
                     ("W1b", "W1b: the same in batches of 100 records")):
        t = table(runs, w, thr)
        if t:
            print("**%s**\n\n%s\n%s\n" % (title, t,
                                          ratios(runs, w, "rec_per_s")))
    t = table(runs, "W2", [("records/s", "rec_per_s", "k", True),
                           ("p50 us", "p50_us", "", False),
                           ("p99 us", "p99_us", "", True),
                           ("p99.9 us", "p999_us", "", True),
                           ("sync p50 us", "sync_p50_us", "", False),
                           ("sync p99.9 us", "sync_p999_us", "", True),
                           ("CPU s", "cpu_s", "", False)])
    if t:
        print("**W2: 64 threads, each appends one 100 B record and waits "
              "until it is durable**\n\n%s\n%s\n" %
              (t, ratios(runs, "W2", "rec_per_s")))
    t = table(runs, "W3", [("MB/s", "mb_per_s", "", True),
                           ("CPU s", "cpu_s", "", True),
                           ("peak RSS MB", "peak_rss_bytes", "MB", False),
                           ("retained MB", "retained_bytes", "MB", False)])
    if t:
        print("**W3: 200,000 records of 4 KiB, W1's shape**\n\n%s\n%s\n" %
              (t, ratios(runs, "W3", "mb_per_s")))
    for w, title in (("W4cold", "W4cold: reopen W1's log and read every "
                      "record, page cache dropped first"),
                     ("W4warm", "W4warm: the same with a warm page cache")):
        t = table(runs, w, [("MB/s", "mb_per_s", "", True),
                            ("seconds", "seconds", "", False),
                            ("CPU s", "cpu_s", "", False)])
        if t:
            print("**%s**\n\n%s\n%s\n" % (title, t,
                                          ratios(runs, w, "mb_per_s")))
    t = table(runs, "W5", [("durable ms", "durable_ms", "", True),
                           ("space back ms", "space_back_ms", "", True),
                           ("freed MB", "space_freed_bytes", "MB", False)])
    if t:
        print("**W5: truncate W1's log to its midpoint; until durable and "
              "until 40%% of the payload is free on disk**\n\n%s" % t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
