#!/bin/sh
# metrics_cost.sh -- what recording metrics costs the append path: W1 of
# mrlog-bench run with and without MRLOG_METRICS_OFF=1 (docs/API.md,
# section 12), alternating, then the median records/s of each.
#
# Usage: metrics_cost.sh MRLOG_BENCH [PAIRS [SCALE]]
#   MRLOG_BENCH  the bench/mrlog-bench program
#   PAIRS        on/off pairs of runs (default 8)
#   SCALE        its --scale (default 0.3)
# Exit status: 0, or 1 if a run fails or prints no W1 figure.
set -u
bench=$1
pairs=${2:-8}
scale=${3:-0.3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-metrics-cost.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# The rec_per_s of the mrlog W1 line of JSON file $1.
rate() {
  grep '"engine":"mrlog","workload":"W1"' "$1" |
    sed -n 's/.*"rec_per_s":\([0-9.e+]*\).*/\1/p'
}

# The median of the numbers in file $1, one a line.
median() {
  sort -g "$1" | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2];
          else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

i=0
while [ "$i" -lt "$pairs" ]; do
  for off in "" 1; do
    MRLOG_METRICS_OFF=$off "$bench" --engines mrlog --workloads W1 --runs 1 \
      --no-device --scale "$scale" --json "$tmp/run.json" >/dev/null \
      2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    r=$(rate "$tmp/run.json")
    [ -n "$r" ] || { echo "metrics_cost: no W1 figure" >&2; exit 1; }
    echo "$r" >>"$tmp/${off:-on}"
  done
  i=$((i + 1))
done
on=$(median "$tmp/on")
off=$(median "$tmp/1")
awk -v on="$on" -v off="$off" -v n="$pairs" 'BEGIN {
  printf "metrics cost (W1, median of %d runs each): on %.0f rec/s, " \
         "off (MRLOG_METRICS_OFF=1) %.0f rec/s, on/off %.3f\n",
         n, on, off, on / off }'
