#!/usr/bin/env bash
# memory_check.sh -- stats.memory_bytes against the resident set: runs
# bench/mrlog-mem-bench --check at a modest scale (tens of MB per
# scenario, so the library's memory dominates the noise of the resident
# set), for both record stores.  It fails if, for a scenario, memory_bytes
# and the growth of the resident set disagree by more than 10%, or if with
# memory_limit set the resident set grows past the limit and its
# documented slack.  Under AddressSanitizer or ThreadSanitizer it only
# prints the table (their shadow memory grows the resident set with what
# the process touches), at a fifth of the scale.
# MRLOG_TEST_SCALE (percent) shrinks it like the Check suites.  Run by
# `make check` from the top build directory.
set -euo pipefail

scale=$(awk -v p="${MRLOG_TEST_SCALE:-100}" 'BEGIN { printf "%.3f", 0.5 * p / 100 }')
exec "${top_builddir:-.}/bench/mrlog-mem-bench" --check --scale "$scale"
