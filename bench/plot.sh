#!/bin/sh
# plot.sh -- draw mrlog-bench results as one PNG with two panels:
#   left:  records/s per engine for W1, W1b, W2, W3 (log scale; medians)
#   right: W2 acknowledgement latency p50 / p99 / p99.9 per engine (µs,
#          log scale; medians)
#
#   usage: bench/plot.sh RESULTS.json OUT.png
#
# RESULTS.json is mrlog-bench's output: one flat JSON object per line, as
# written by bench/report.c (string values have no commas or quotes, so
# awk can split them).  Needs gnuplot with the pngcairo or png terminal.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 RESULTS.json OUT.png" >&2
  exit 2
fi
json=$1
out=$2
command -v gnuplot >/dev/null 2>&1 || { echo "$0: gnuplot not found" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-plot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# Median per (engine, workload) of a field, as "engine workload value".
medians() {
  awk -v field="$1" '
    function get(line, key,    m) {
      if (match(line, "\"" key "\":(\"[^\"]*\"|[^,}]*)")) {
        m = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
        gsub(/"/, "", m)
        return m
      }
      return ""
    }
    {
      e = get($0, "engine"); w = get($0, "workload"); v = get($0, field)
      if (e == "config" || e == "device" || v == "" || v == "null") next
      k = e SUBSEP w
      if (!(k in n)) { order[++nk] = k }
      vals[k, ++n[k]] = v + 0
    }
    END {
      for (i = 1; i <= nk; i++) {
        k = order[i]; c = n[k]
        for (a = 1; a <= c; a++) s[a] = vals[k, a]
        for (a = 2; a <= c; a++) {       # insertion sort, c is small
          x = s[a]; b = a - 1
          while (b >= 1 && s[b] > x) { s[b + 1] = s[b]; b-- }
          s[b + 1] = x
        }
        med = (c % 2) ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2
        split(k, ew, SUBSEP)
        print ew[1], ew[2], med
      }
    }' "$json"
}

medians rec_per_s >"$tmp/rate"
medians p50_us >"$tmp/p50"
medians p99_us >"$tmp/p99"
medians p999_us >"$tmp/p999"

engines=$(awk '{print $1}' "$tmp/rate" | awk '!seen[$0]++')
[ -n "$engines" ] || { echo "$0: no runs in $json" >&2; exit 1; }

# Table for the left panel: one row per workload, one column per engine.
{
  printf 'workload'
  for e in $engines; do printf ' %s' "$e"; done
  printf '\n'
  for w in W1 W1b W2 W3; do
    printf '%s' "$w"
    for e in $engines; do
      v=$(awk -v e="$e" -v w="$w" '$1 == e && $2 == w {print $3}' "$tmp/rate")
      printf ' %s' "${v:-NaN}"
    done
    printf '\n'
  done
} >"$tmp/left.dat"

# Table for the right panel: one row per engine: p50 p99 p99.9 (W2).
{
  printf 'engine p50 p99 p99.9\n'
  for e in $engines; do
    a=$(awk -v e="$e" '$1 == e && $2 == "W2" {print $3}' "$tmp/p50")
    b=$(awk -v e="$e" '$1 == e && $2 == "W2" {print $3}' "$tmp/p99")
    c=$(awk -v e="$e" '$1 == e && $2 == "W2" {print $3}' "$tmp/p999")
    printf '%s %s %s %s\n' "$e" "${a:-NaN}" "${b:-NaN}" "${c:-NaN}"
  done
} >"$tmp/right.dat"

ncols=$(echo $engines | wc -w)
if gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo; then
  term='pngcairo size 1400,600 font "sans,10"'
else
  term='png size 1400,600'
fi

gnuplot <<EOF
set terminal $term
set output "$out"
set multiplot layout 1,2 title "mrlog-bench: medians over runs ($(basename "$json"))"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right
set grid ytics
set logscale y
set datafile missing "NaN"

set title "Records per second (log scale)"
set ylabel "records/s"
plot for [i=2:$((ncols + 1))] "$tmp/left.dat" using i:xtic(1) title columnheader(i)

set title "W2 durable-ack latency (log scale)"
set ylabel "microseconds"
plot for [i=2:4] "$tmp/right.dat" using i:xtic(1) title columnheader(i)
unset multiplot
EOF
