#!/usr/bin/env bash
# tool_test.sh -- the mrlog command-line tool (tools/mrlog) against logs
# built through the public API by tests/tool_fixture, which also prints the
# library's own view of them (mrlog_queue_info, mrlog_range) for
# comparison.  Run by `make check` from the top build directory
# ($top_builddir); everything it writes goes to a temporary directory.
#
# Covers: usage, --help and exit codes; stat and dump agree with the
# library (every format, --queue/--from/--to, record times); tail without
# --follow; record times on a log written with a fake clock: stat's
# first/last times, dump and tail --since/--until (unix ms and ISO 8601
# forms) against mrlog_seek_time/mrlog_range_time, a clock stepping back,
# a version 1 segment (its mtime), bad times (64); verify 0/1/2 with the
# offsets reported, and recovery agreeing; a newer format version; stat,
# verify, dump, tail and a read-only open (policy.read_only) change
# nothing (checksums), create no LOCK, and see a log held open by a
# running process; tail --follow --max while a process
# appends across rotations, truncates, deletes and recreates the queue;
# tail --follow --since/--until while a process appends with a fake clock;
# tail --follow on a log that appears later; dump and tail on a damaged
# log (what the library's MRLOG_RECOVER_SKIP_CORRUPT open reads, exit 2);
# the shared option vocabulary and escaped queue names; an unreadable
# segment (74 everywhere); salvage of an intact and of a damaged log;
# many damaged frames verified with work linear in the file; mrlog bench.
set -euo pipefail

top=$(cd "${top_builddir:-.}" && pwd)
M=$top/tools/mrlog
F=$top/tests/tool_fixture
work=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-tool-test.XXXXXX")
bg_pids=()

# KEEP=1 keeps the temporary directory, for a failure's files.
cleanup() {
  local p
  for p in ${bg_pids[@]+"${bg_pids[@]}"}; do
    kill "$p" 2>/dev/null || true
  done
  [[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  exit 1
}

ok() { echo "ok: $*"; }

guard=()
if command -v timeout >/dev/null 2>&1; then
  guard=(timeout 120) # a deadlock guard only
fi
MAX=18446744073709551615

# run WANT CMD...: runs CMD with stdout in $work/out and stderr in
# $work/err, and checks its exit status.
run() {
  local want=$1 rc=0
  shift
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  if [[ $rc != "$want" ]]; then
    echo "--- stdout"; head -c 4000 "$work/out"
    echo "--- stderr"; head -c 4000 "$work/err"
    fail "'$*' exited $rc, expected $want"
  fi
}

# contains FILE TEXT: FILE has TEXT (fixed string).
contains() {
  grep -qF -- "$2" "$1" || {
    echo "--- $1"; head -c 4000 "$1"
    fail "'$2' not found in $(basename "$1")"
  }
}

# sums DIR: names, sizes, mtimes and contents of every file in DIR.
sums() {
  (cd "$1" && find . -type f -printf '%p %s %T@\n' | LC_ALL=C sort &&
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}

# lines FILE N: FILE has N lines.
lines() {
  [[ $(wc -l <"$1") == "$2" ]] || { cat "$1"; fail "$1: expected $2 lines"; }
}

# same FILE1 FILE2 WHAT
same() {
  cmp -s "$1" "$2" || {
    diff "$1" "$2" | head -40 || true # diff exits 1: go on to the message
    fail "$3"
  }
}

# valid_json FILE [lines]: parses (jq or python3, if present).
valid_json() {
  if command -v jq >/dev/null 2>&1; then
    if [[ ${2:-} == lines ]]; then
      jq -c . "$1" >/dev/null || fail "$1: not JSON lines"
    else
      jq -e . "$1" >/dev/null || fail "$1: not a JSON document"
    fi
  elif command -v python3 >/dev/null 2>&1; then
    if [[ ${2:-} == lines ]]; then
      python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$1" || fail "$1: not JSON lines"
    else
      python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" ||
        fail "$1: not a JSON document"
    fi
  fi
}

# wait_for TEST...: polls up to 60 s (a deadlock guard, not a timing).
wait_for() {
  local i
  for ((i = 0; i < 6000; i++)); do
    if "$@"; then return 0; fi
    sleep 0.01
  done
  fail "timed out waiting for: $*"
}

# seg_field JSON N FIELD: FIELD of the Nth segment object of stat --json
# (one per line; N from 1; "last" for the last).
seg_field() {
  local line
  if [[ $2 == last ]]; then
    line=$(grep '^    {"segment": ' "$1" | tail -n 1)
  else
    line=$(grep '^    {"segment": ' "$1" | sed -n "${2}p")
  fi
  if [[ $3 == segment ]]; then
    sed 's/.*"segment": "\([^"]*\)".*/\1/' <<<"$line"
  else
    sed "s/.*\"$3\": \\([0-9]*\\).*/\\1/" <<<"$line"
  fi
}

# ---------------------------------------------------------------------------
# Usage, help, version, exit codes for bad input.
# ---------------------------------------------------------------------------
run 0 "$M" --help
contains "$work/out" "usage: mrlog"
run 0 "$M" --version
grep -qE '^mrlog [0-9]+\.[0-9]+\.[0-9]+$' "$work/out" || fail "--version"
for c in stat dump verify tail salvage mirror replica; do
  run 0 "$M" "$c" --help
  contains "$work/out" "usage: mrlog $c"
  run 0 "$M" "$c" -h
  run 0 "$M" help "$c"
  contains "$work/out" "usage: mrlog $c"
done
run 64 "$M"
run 64 "$M" nosuch
run 64 "$M" stat
run 64 "$M" stat --bogus "$work"
run 64 "$M" stat "$work" "$work"
run 64 "$M" dump --format xml "$work"
run 64 "$M" dump --from -1 "$work"
run 64 "$M" dump --to 12x "$work"
run 64 "$M" tail "$work"
run 64 "$M" tail "$work" --queue q --max many
run 64 "$M" verify
# mirror and replica parse their options in any build (with or without
# librabbitmq); tests/mirror_cli_test.sh runs them against a cluster.
run 64 "$M" mirror "$work"
run 64 "$M" mirror "$work" --from amqp://localhost
run 64 "$M" mirror "$work" --to amqp://localhost --messages-in-flight 0
run 64 "$M" replica "$work" --from amqp://localhost --once
run 64 "$M" replica --from amqp://localhost
ok "usage and --help"

for c in stat dump verify; do
  run 66 "$M" "$c" "$work/missing"
  contains "$work/err" "$work/missing"
done
run 66 "$M" tail "$work/missing" --queue q
mkdir "$work/foreign"
touch "$work/foreign/LOCK" "$work/foreign/notes.txt" \
  "$work/foreign/0000000000000001.mrlog.corrupt" \
  "$work/foreign/000000000000000A.mrlog" "$work/foreign/0001.mrlog"
for c in stat dump verify; do
  run 66 "$M" "$c" "$work/foreign"
  contains "$work/err" "not an mrlog log directory"
done
run 66 "$M" stat "$work/foreign/notes.txt"
ok "missing and foreign directories: 66"

# ---------------------------------------------------------------------------
# A log built through the API: stat and dump agree with the library.
# ---------------------------------------------------------------------------
log=$work/log
run 0 "$F" build "$log"
ls "$log"/*.mrlog >/dev/null
sums "$log" >"$work/sums.before"

run 0 "$M" stat --json "$log"
cp "$work/out" "$work/stat.json"
valid_json "$work/stat.json"
contains "$work/stat.json" '"held": false'
contains "$work/stat.json" '"corrupt": false'
nsegs=$(grep -c '^    {"segment": ' "$work/stat.json")
((nsegs >= 3)) || fail "expected several segments, got $nsegs"

# The library's view, from a copy (opening a log writes a new segment).
cp -a "$log" "$work/copy"
run 0 "$F" expect "$work/copy"
cp "$work/out" "$work/queues.expected"
grep '^    {"name": ' "$work/stat.json" | sed 's/, "id": [0-9]*}/}/; s/,$//' \
  >"$work/queues.got"
same "$work/queues.got" "$work/queues.expected" "stat --json queues differ from mrlog_queue_info"
[[ $(wc -l <"$work/queues.got") -ge 6 ]] || fail "too few queues"
contains "$work/stat.json" '"consumers": {"reader": 60}, "id": 0}'
ok "stat --json agrees with mrlog_queue_info and mrlog_list_consumers"

run 0 "$M" stat "$log"
contains "$work/out" "not held"
contains "$work/out" "tail:      clean"
contains "$work/out" 'odd\x20name\\\xe9'

for fmt in text hex json; do
  run 0 "$M" dump --format "$fmt" "$log"
  cp "$work/out" "$work/dump.$fmt"
  run 0 "$F" expect-dump "$work/copy" "$fmt"
  same "$work/dump.$fmt" "$work/out" "dump --format $fmt differs from mrlog_range"
done
run 0 "$M" dump "$log"
same "$work/out" "$work/dump.text" "dump's default format is not text"
valid_json "$work/dump.json" lines
[[ $(wc -l <"$work/dump.text") -ge 30 ]] || fail "too few records dumped"
iso='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
grep -qE "^big [0-9]+ $iso 0: \$" "$work/dump.text" || fail "no 0-byte record"
grep -qE "^big [0-9]+ $iso 102400:\$" "$work/dump.hex" || fail "no > 64 KiB record"
ok "dump (text, hex, json) agrees with mrlog_range"

# --queue, --from (inclusive), --to (exclusive).
check_range() { # QUEUE FROM TO FORMAT
  run 0 "$M" dump --queue "$1" --from "$2" --to "$3" --format "$4" "$log"
  cp "$work/out" "$work/range.got"
  run 0 "$F" expect-dump "$work/copy" "$4" "$1" "$2" "$3"
  same "$work/range.got" "$work/out" "dump --queue $1 --from $2 --to $3"
}
check_range beta 10 1000 text
[[ $(wc -l <"$work/range.got") == 2 ]] || fail "beta [10, 1000) is 10 and 100"
check_range beta 0 $MAX hex
check_range alpha 50 60 json
check_range alpha 60 50 text
[[ ! -s "$work/range.got" ]] || fail "from > to must print nothing"
check_range $'odd name\\\xe9' 0 10 json
check_range empty 0 10 text
run 1 "$M" dump --queue nosuch "$log"
contains "$work/err" "no such queue"
ok "dump --queue --from --to"

# tail without --follow: the same records, --from, --max.
run 0 "$F" expect-dump "$work/copy" text alpha
cp "$work/out" "$work/alpha.text"
run 0 "$M" tail "$log" --queue alpha
same "$work/out" "$work/alpha.text" "tail --queue alpha"
run 0 "$M" tail "$log" --queue alpha -n 5
tail -n 5 "$work/alpha.text" >"$work/alpha.5"
same "$work/out" "$work/alpha.5" "tail -n 5 (the last 5)"
run 0 "$M" tail "$log" --queue alpha --last 5 --max 2
head -n 2 "$work/alpha.5" >"$work/alpha.2"
same "$work/out" "$work/alpha.2" "tail --last 5 --max 2"
run 0 "$M" tail "$log" --queue alpha --max 5
head -n 5 "$work/alpha.text" >"$work/alpha.5"
same "$work/out" "$work/alpha.5" "tail --max 5"
run 0 "$F" expect-dump "$work/copy" json alpha 60 63
cp "$work/out" "$work/alpha.json3"
run 0 "$M" tail "$log" --queue alpha --from 60 --max 3 --format json
same "$work/out" "$work/alpha.json3" "tail --from 60 --max 3"
run 1 "$M" tail "$log" --queue nosuch
ok "tail without --follow"

# One option vocabulary: --json, a repeated --queue, escaped names pasted
# back, tail --to, -q, and options that do not apply (64).
run 0 "$M" dump --json "$log"
same "$work/out" "$work/dump.json" "dump --json is not --format json"
run 0 "$M" tail "$log" --queue alpha --json
cp "$work/out" "$work/alpha.tail.json"
run 0 "$F" expect-dump "$work/copy" json alpha
same "$work/alpha.tail.json" "$work/out" "tail --json"
run 0 "$F" expect-dump "$work/copy" text alpha 0 55
cp "$work/out" "$work/alpha.to55"
run 0 "$M" tail "$log" --queue alpha --to 55
same "$work/out" "$work/alpha.to55" "tail --to 55"
run 0 "$M" dump --queue alpha --queue beta "$log"
grep -E '^(alpha|beta) ' "$work/dump.text" >"$work/ab.text"
same "$work/out" "$work/ab.text" "dump --queue alpha --queue beta"
run 0 "$M" dump -n 2 --queue beta "$log"
grep '^beta ' "$work/dump.text" | tail -n 2 >"$work/b2.text"
same "$work/out" "$work/b2.text" "dump -n 2"
odd=$(grep -o '^odd[^ ]*' "$work/dump.text" | head -n 1) # as printed
run 0 "$M" dump --queue "$odd" "$log"
grep -F "$odd " "$work/dump.text" >"$work/odd.text"
[[ -s "$work/odd.text" ]] || fail "no record of the odd queue"
same "$work/out" "$work/odd.text" "dump --queue NAME-AS-PRINTED"
run 0 "$M" tail "$log" --queue "$odd"
same "$work/out" "$work/odd.text" "tail --queue NAME-AS-PRINTED"
run 0 "$M" dump --queue 'odd\u0020name\\\u00e9' "$log"
same "$work/out" "$work/odd.text" "dump --queue NAME-AS-IN-JSON"
run 0 "$M" verify -q "$log"
run 0 "$M" stat -q --json "$log"
contains "$work/out" '"library": {"open": "ok"'
run 64 "$M" stat --queue alpha "$log"
contains "$work/err" "does not apply"
run 64 "$M" verify --follow "$log"
run 64 "$M" dump --follow "$log"
run 64 "$M" dump --max 3 "$log"
run 64 "$M" tail "$log" --queue a --queue b
run 64 "$M" dump --last x "$log"
ok "one vocabulary: --json, --queue (repeated, escaped), -n, --to, -q; 64 elsewhere"

# Exit codes: one table (mrlog(1)); a segment that cannot be read (a
# directory in its place, which even root cannot read) is 74 in verify,
# stat, dump and tail alike.
cp -a "$log" "$work/unreadable"
seg=$(cd "$work/unreadable" && ls | grep '\.mrlog$' | head -n 1)
rm "$work/unreadable/$seg"
mkdir "$work/unreadable/$seg"
for c in verify stat dump; do
  run 74 "$M" "$c" "$work/unreadable"
  contains "$work/err" "$seg: read at offset 0"
done
run 74 "$M" tail "$work/unreadable" --queue alpha
ok "an unreadable segment: 74 in verify, stat, dump and tail"

# salvage of an intact log: the same records, positions, times, queues.
mkdir "$work/copy2"
run 0 "$M" salvage -q "$log" "$work/copy2"
[[ ! -s "$work/out" ]] || fail "salvage -q printed something"
run 0 "$M" dump "$work/copy2"
same "$work/out" "$work/dump.text" "salvage of an intact log: records or times"
run 0 "$M" stat --json "$work/copy2"
grep '^    {"name": ' "$work/out" | sed 's/, "id": [0-9]*}/}/; s/,$//' \
  >"$work/queues.salvaged"
same "$work/queues.salvaged" "$work/queues.expected" "salvage: queue info"
run 64 "$M" salvage "$log"
ok "salvage of an intact log: identical records, positions, times and queues"

# ---------------------------------------------------------------------------
# Record times, on a log written with a fake clock (tool_fixture.c
# times_build lists every record's time): a version 1 segment first, times
# across queues, segments, midnight UTC and a reopen, a clock stepping back.
# ---------------------------------------------------------------------------
tlog=$work/times
run 0 "$F" times "$tlog"
cp -a "$tlog" "$work/tcopy" # -a keeps the version 1 segment's mtime
run 0 "$M" stat --json "$tlog"
valid_json "$work/out"
contains "$work/out" '{"segment": "0000000000000001.mrlog", "number": 1, "version": 1,'
grep '^    {"name": ' "$work/out" | sed 's/, "id": [0-9]*}/}/; s/,$//' \
  >"$work/tqueues.got"
run 0 "$F" expect "$work/tcopy"
same "$work/tqueues.got" "$work/out" "stat --json times differ from mrlog_queue_info"
# What the fixture wrote, stated without the library: old's first records
# take the version 1 segment's mtime; a's first record after a truncation.
contains "$work/tqueues.got" '{"name": "old", "first_position": 0, "next_position": 3, "records": 3, "bytes": 6, "first_time_ms": 1700000000500, "last_time_ms": 1700013600000, "consumers": {}}'
contains "$work/tqueues.got" '"name": "a", "first_position": 1,'
contains "$work/tqueues.got" '"first_time_ms": 1700000001999, "last_time_ms": 1700010007250, "consumers": {}}'
run 0 "$M" stat "$tlog"
grep -qE '^  old +0 +3 +3 +6  2023-11-14T22:13:20\.500Z  2023-11-15T02:00:00\.000Z$' \
  "$work/out" || { cat "$work/out"; fail "stat: old's times"; }
ok "stat: first and last record times agree with mrlog_queue_info"

for fmt in text hex json; do
  run 0 "$M" dump --format "$fmt" "$tlog"
  cp "$work/out" "$work/tdump.$fmt"
  run 0 "$F" expect-dump "$work/tcopy" "$fmt"
  same "$work/tdump.$fmt" "$work/out" "dump --format $fmt: times differ from mrlog_range_time"
done
valid_json "$work/tdump.json" lines
contains "$work/tdump.text" "old 0 2023-11-14T22:13:20.500Z 2: r0" # v1: mtime
contains "$work/tdump.text" "old 2 2023-11-15T02:00:00.000Z 2: "
contains "$work/tdump.text" "b 0 2023-11-14T22:13:20.500Z 9: " # clamped to it
contains "$work/tdump.text" "b 3 2023-11-15T00:00:00.001Z 17: " # clock back
contains "$work/tdump.text" "b 4 2023-11-15T01:00:07.250Z 18: " # reopened
contains "$work/tdump.hex" "c 1 2023-11-14T22:13:21.001Z 0:"
contains "$work/tdump.json" '{"queue": "old", "position": 1, "time_ms": 1700000000500, "time": "2023-11-14T22:13:20.500Z", "len": 2, "data": "r1"}'
ok "dump: record times (version 1 mtime, clamped clock) agree with mrlog_range_time"

# TIME operations that go back in the file (written byte by byte: the
# library's writer never does): tool and library clamp them alike.
run 0 "$F" stepback "$work/stepback"
cp -a "$work/stepback" "$work/stepback.copy"
run 0 "$M" verify "$work/stepback"
for fmt in text json; do
  run 0 "$M" dump --format "$fmt" "$work/stepback"
  cp "$work/out" "$work/stepback.$fmt"
  run 0 "$F" expect-dump "$work/stepback.copy" "$fmt"
  same "$work/stepback.$fmt" "$work/out" "dump of TIME operations going back"
done
printf '%s\n' "s 0 2023-11-14T22:13:22.000Z 1: x" "s 1 2023-11-14T22:13:22.000Z 1: y" \
  "s 2 2023-11-14T22:13:22.000Z 1: z" "s 3 2023-11-14T22:13:25.000Z 1: w" \
  "s 4 2023-11-14T22:13:26.000Z 1: v" >"$work/stepback.expected"
same "$work/stepback.text" "$work/stepback.expected" "TIME operations going back are clamped"
run 0 "$M" stat --json "$work/stepback"
contains "$work/out" '"first_time_ms": 1700000002000, "last_time_ms": 1700000006000,'
check_window_sb() { # SINCE UNTIL ARGS...
  local since=$1 until=$2
  shift 2
  run 0 "$M" dump "$@" "$work/stepback"
  cp "$work/out" "$work/window.got"
  run 0 "$F" expect-dump "$work/stepback.copy" text - 0 $MAX "$since" "$until"
  same "$work/window.got" "$work/out" "dump $* of TIME operations going back"
}
check_window_sb 1700000001000 1700000002001 --since 2023-11-14T22:13:21Z \
  --until 1700000002001
lines "$work/window.got" 3
check_window_sb 1700000004000 1700000006000 --since 1700000004000 \
  --until 2023-11-14T23:13:26+01:00
lines "$work/window.got" 1
ok "TIME operations going back: clamped by tool and library alike"

# check_window SINCE UNTIL QUEUE FROM TO FORMAT ARGS...: `mrlog dump ARGS`
# prints what the library gives for that window (unix ms; QUEUE - for all).
check_window() {
  local since=$1 until=$2 q=$3 from=$4 to=$5 fmt=$6
  shift 6
  run 0 "$M" dump --format "$fmt" "$@" "$tlog"
  cp "$work/out" "$work/window.got"
  run 0 "$F" expect-dump "$work/tcopy" "$fmt" "$q" "$from" "$to" "$since" "$until"
  same "$work/window.got" "$work/out" "dump $* differs from the library"
}
check_window 1700000001000 1700006400000 - 0 $MAX text \
  --since 1700000001000 --until 1700006400000
lines "$work/window.got" 7
check_window 1700000001000 1700006400001 - 0 $MAX text \
  --since 2023-11-14T22:13:21Z --until 2023-11-15T00:00:00.001Z
lines "$work/window.got" 8
check_window 1700006400000 $MAX - 0 $MAX json --since 2023-11-15
lines "$work/window.got" 36
check_window 0 1700006400000 - 0 $MAX hex --until 2023-11-15
check_window 1700006400000 1700006400750 - 0 $MAX text \
  --since 2023-11-15T01:00:00+01:00 --until 2023-11-14T20:00:00.750-04:00
lines "$work/window.got" 3
# Finer than a millisecond rounds up: the times are whole milliseconds.
check_window 1700000000501 $MAX - 0 $MAX text --since 2023-11-14T22:13:20.5001Z
check_window 1700000000500 1700000000001 - 0 $MAX text \
  --since 2023-11-14T22:13:20.500Z --until 2023-11-14T22:13:20,0001+00:00
lines "$work/window.got" 0
check_window 1700000000500 1700000000501 - 0 $MAX text \
  --since 2023-11-14T22:13:20.500Z --until 2023-11-14T22:13:20,5001Z
lines "$work/window.got" 3 # old 0, old 1, b 0
# With --queue, --from and --to: every condition applies.
check_window 1700010002000 1700010003500 a 5 16 json --queue a --from 5 \
  --to 16 --since 2023-11-15T01:00:02Z --until 1700010003500
lines "$work/window.got" 4 # a 12 .. 15
check_window 0 $MAX - 0 $MAX text --since 1960-01-01 # before the epoch: 0
lines "$work/window.got" 46
run 0 "$M" dump --until 1969-12-31T23:59:59Z "$tlog"
lines "$work/out" 0
run 0 "$M" dump --since 2024-02-29 "$tlog" # a leap day; after every record
lines "$work/out" 0
run 1 "$M" dump --queue nosuch --since 2023-11-15 "$tlog"
# tail: the same windows.
run 0 "$F" expect-dump "$work/tcopy" text b 0 $MAX 1700000001000 1700010000000
cp "$work/out" "$work/tail.expected"
run 0 "$M" tail "$tlog" --queue b --since 1700000001000 --until 2023-11-15T01:00:00Z
same "$work/out" "$work/tail.expected" "tail --since --until"
lines "$work/out" 3
# --follow when the log's time has already reached --until: no waiting.
run 0 "$F" expect-dump "$work/tcopy" text a 0 $MAX 0 1700006400000
cp "$work/out" "$work/tail.expected"
run 0 ${guard[@]+"${guard[@]}"} "$M" tail "$tlog" --queue a --follow --until 2023-11-15
same "$work/out" "$work/tail.expected" "tail --follow --until (already reached)"
ok "dump and tail --since/--until (unix ms, ISO 8601, zones, fractions, dates) agree with the library"

for t in yesterday 2023-13-01 2023-02-29 2023-00-10 2023-11-31 \
  2023-11-14T24:00:00Z 2023-11-14T22:60:00Z 2023-11-14T22:13:60Z \
  2023-11-14T22:13 2023-11-14T22:13:20+0100 2023-11-14T22:13:20+24:00 \
  "2023-11-14 22:13:20" 2023-11-14t22:13:20z 23-11-14 "" -5 +5 1.5 \
  2023-11-14T22:13:20. 2023-11-14T22:13:20.1234567890Z 2023-11-14T22:13:20Zx \
  99999999999999999999 " 1700000000000"; do
  run 64 "$M" dump --since "$t" "$tlog"
  contains "$work/err" "--since: not a time: '$t'"
done
run 64 "$M" dump --until 2023-11-14T22:13:20.Z "$tlog"
contains "$work/err" "--until: not a time"
run 64 "$M" tail "$tlog" --queue a --since 2023-02-30
run 64 "$M" tail "$tlog" --queue a --follow --until tomorrow
ok "bad --since/--until values: 64"

run 0 "$M" verify "$log"
contains "$work/out" "clean:"
run 0 "$M" verify --json "$log"
valid_json "$work/out"
contains "$work/out" '"result": "clean"'
sums "$log" >"$work/sums.after"
same "$work/sums.before" "$work/sums.after" "stat, dump, tail or verify changed the log"

# No LOCK is created, none is needed.
cp -a "$log" "$work/nolock"
rm "$work/nolock/LOCK"
run 0 "$M" stat "$work/nolock"
run 0 "$M" verify "$work/nolock"
run 0 "$M" dump "$work/nolock"
run 0 "$M" tail "$work/nolock" --queue alpha
run 0 "$F" ro-open "$work/nolock"
contains "$work/out" "OK discarded=0"
[[ ! -e "$work/nolock/LOCK" ]] ||
  fail "stat, verify, dump, tail or a read-only open created LOCK"
ok "verify clean (0); stat, dump, tail and verify changed nothing"

# ---------------------------------------------------------------------------
# Damage: a torn tail (1), a flipped byte in an older segment (2).
# ---------------------------------------------------------------------------
cp -a "$log" "$work/torn"
seg=$(seg_field "$work/stat.json" last segment)
last_frame=$(seg_field "$work/stat.json" last last_frame)
size=$(stat -c %s "$work/torn/$seg")
truncate -s $((size - 1)) "$work/torn/$seg"
sums "$work/torn" >"$work/sums.before"
run 1 "$M" verify "$work/torn"
contains "$work/out" "$seg offset $last_frame: "
contains "$work/out" "library:   opens (read-only); tail cut in memory: $((size - 1 - last_frame)) bytes"
! grep -qF "misreads" "$work/err" || fail "verify: reader and library disagree"
contains "$work/out" "healed tail"
run 1 "$M" verify --json "$work/torn"
valid_json "$work/out"
cut=$((size - 1 - last_frame))
contains "$work/out" "\"tail_bytes\": $cut,"
run 0 "$M" stat "$work/torn"
contains "$work/out" "needs healing: $seg offset $last_frame"
run 0 "$M" dump "$work/torn"
run 0 "$M" tail "$work/torn" --queue alpha
cut=$((size - 1 - last_frame))
run 0 "$F" ro-open "$work/torn"
contains "$work/out" "OK discarded=$cut"
sums "$work/torn" >"$work/sums.after"
same "$work/sums.before" "$work/sums.after" \
  "verify, stat, dump, tail or a read-only open changed a torn log"
cp -a "$work/torn" "$work/torn.copy"
run 0 "$F" open "$work/torn.copy"
contains "$work/out" "OK discarded=$cut"
ok "verify: torn tail -> 1, offset $last_frame, recovery cuts the same $cut bytes"

# The same torn tail while a process holds the lock is a frame being
# written, not damage.  flock(1) -o holds LOCK in its own process only.
if command -v flock >/dev/null 2>&1; then
  flock -o "$work/torn/LOCK" sleep 120 &
  locker=$!
  bg_pids+=("$locker")
  held_by_locker() {
    "$M" stat "$work/torn" 2>/dev/null |
      grep -qF "held by a running process (pid $locker)"
  }
  wait_for held_by_locker
  run 0 "$M" verify "$work/torn"
  contains "$work/out" "$seg offset $last_frame: note: frame being written"
  run 0 "$M" stat --json "$work/torn"
  contains "$work/out" '"tail": {"state": "being_written", "needs_healing": false'
  # flock's child (the sleep) would outlive it and keep our output pipe
  # open: end it first.
  # (flock then exits by itself, so it may be gone when we kill it.)
  for child in $(cat /proc/"$locker"/task/*/children 2>/dev/null); do
    kill "$child" 2>/dev/null || true
  done
  kill "$locker" 2>/dev/null || true
  wait "$locker" 2>/dev/null || true
  bg_pids=()
  run 1 "$M" verify "$work/torn"
  ok "torn tail of a held log: being written (0)"
else
  echo "skip: flock(1) not installed: held torn tail not checked"
fi

# A torn file header in the last segment: a creation cut short, renamed
# aside by recovery, when no frame's synced witnesses a sync past it and
# the segment before is sealed (here the segment holds only its
# checkpoint, synced 0: its seal is cut off, as a crash during its
# creation leaves it); corruption when a frame, or the seal, witnesses it.
cp -a "$log" "$work/hdr"
run 0 "$F" open "$work/hdr" # adds a segment with only a checkpoint
seg=$(cd "$work/hdr" && ls | grep '\.mrlog$' | tail -n 1)
size=$(stat -c %s "$work/hdr/$seg")
run 0 "$F" flip "$work/hdr/$seg" 3
run 2 "$M" verify "$work/hdr" # its seal witnesses the header
contains "$work/out" "$seg offset 0: file header: bad magic"
# The seal: 16 bytes of header, the type byte and varint(end).
size=$((size - (size < 128 ? 18 : size < 16384 ? 19 : 20)))
truncate -s "$size" "$work/hdr/$seg"
run 1 "$M" verify "$work/hdr"
contains "$work/out" "$seg offset 0: file header: bad magic"
contains "$work/out" "rename the file aside"
cp -a "$work/hdr" "$work/hdr.copy"
run 0 "$F" open "$work/hdr.copy"
contains "$work/out" "OK discarded=$size"
[[ -f $work/hdr.copy/$seg.corrupt ]] || fail "$seg was not renamed aside"
cp -a "$log" "$work/hdr2"
seg=$(seg_field "$work/stat.json" last segment)
run 0 "$F" flip "$work/hdr2/$seg" 3
run 2 "$M" verify "$work/hdr2"
contains "$work/out" "$seg offset 0: file header: bad magic"
run 0 "$F" open "$work/hdr2"
contains "$work/out" "ECORRUPT"
ok "torn header of the last segment: 1 if unwitnessed after a sealed one, 2 if witnessed"

# Format version 3: a byte flipped in the frame before the last segment's
# seal is witnessed by the seal (2, refused); an older segment cut at its
# seal was cut short (2, refused).
cp -a "$log" "$work/sealed"
seg=$(seg_field "$work/stat.json" last segment)
last_frame=$(seg_field "$work/stat.json" last last_frame)
run 0 "$F" flip "$work/sealed/$seg" $((last_frame - 3))
run 2 "$M" verify "$work/sealed"
contains "$work/out" "a later frame shows it was synced"
run 0 "$F" open "$work/sealed"
contains "$work/out" "ECORRUPT"
cp -a "$log" "$work/unsealed"
seg=$(seg_field "$work/stat.json" 1 segment)
last_frame=$(seg_field "$work/stat.json" 1 last_frame)
truncate -s "$last_frame" "$work/unsealed/$seg"
run 2 "$M" verify "$work/unsealed"
contains "$work/out" "$seg offset $last_frame: no seal at the end"
run 0 "$F" open "$work/unsealed"
contains "$work/out" "ECORRUPT"
ok "seals: damage before a seal, or an older segment's seal cut off -> 2"

cp -a "$log" "$work/flip"
seg=$(seg_field "$work/stat.json" 1 segment)
last_frame=$(seg_field "$work/stat.json" 1 last_frame)
[[ $seg != "$(seg_field "$work/stat.json" last segment)" ]] || fail "one segment"
run 0 "$F" flip "$work/flip/$seg" $((last_frame + 16))
sums "$work/flip" >"$work/sums.before"
run 2 "$M" verify "$work/flip"
contains "$work/out" "$seg offset $last_frame: bad body checksum"
contains "$work/out" "corrupt:"
contains "$work/out" "library:   damaged: MRLOG_RECOVER_SKIP_CORRUPT skips 1 range(s)"
! grep -qF "misreads" "$work/err" || fail "verify: reader and library disagree"
run 2 "$M" verify --json "$work/flip"
valid_json "$work/out"
contains "$work/out" '"result": "corrupt"'
run 2 "$M" stat "$work/flip"
contains "$work/out" "library:   damaged: MRLOG_RECOVER_SKIP_CORRUPT skips"
# dump and tail print what the library recovers around the damage (a
# subset of the clean log's records), name the damage and exit 2.
run 2 "$M" dump "$work/flip"
[[ -s "$work/out" ]] || fail "dump printed nothing of a damaged log"
contains "$work/err" "damage: "
contains "$work/err" "damaged: "
if grep -vxFf "$work/dump.text" "$work/out" >"$work/extra"; then
  cat "$work/extra"; fail "dump of a damaged log printed records not in the log"
fi
contains "$work/err" "dropped 19 bytes at offset $last_frame"
run 2 "$M" dump -q "$work/flip"
[[ ! -s "$work/err" ]] || fail "dump -q wrote to stderr"
run 2 "$M" tail "$work/flip" --queue alpha
contains "$work/err" "damage: "
cp "$work/out" "$work/flip.alpha"
run 2 "$M" tail "$work/flip" --queue alpha --follow
same "$work/out" "$work/flip.alpha" "tail --follow on a damaged log"
if grep -vxFf "$work/dump.text" "$work/out" >"$work/extra"; then
  cat "$work/extra"; fail "tail of a damaged log printed records not in the log"
fi
# salvage: a new log with every record the library reads, at the same
# positions and times, and the same queues; the damaged one is unchanged.
run 2 "$M" dump -q "$work/flip"
cp "$work/out" "$work/flip.readable"
run 2 "$M" salvage "$work/flip" "$work/salvaged"
contains "$work/out" "queue: beta "
contains "$work/out" "missing: beta "
contains "$work/err" "dropped 19 bytes at offset $last_frame"
run 0 "$M" verify "$work/salvaged"
run 0 "$M" dump "$work/salvaged"
same "$work/out" "$work/flip.readable" "salvage: the new log's records"
run 73 "$M" salvage "$work/flip" "$work/salvaged"
contains "$work/err" "not an empty directory"
sums "$work/flip" >"$work/sums.after"
same "$work/sums.before" "$work/sums.after" \
  "verify, stat, dump, tail or salvage changed a corrupt log"
run 0 "$F" open "$work/flip"
contains "$work/out" "ECORRUPT"
ok "verify: flipped byte in $seg -> 2, offset $last_frame; mrlog_open refuses it"

# Many damaged frames in the last segment, each witnessed only by the seal
# at its end: the witness scan is one pass, so the frames checked stay
# proportional to the frames in the file (a scan from each damaged frame
# to the end checks about damaged * frames / 2).  A count, not a time.
# flip-every leaves the seal's sector alone: with the seal flipped too, the
# damage would be an unwitnessed tail (1), as the file's size decides.
run 0 "$F" many "$work/many" 30000
mseg=$(cd "$work/many" && ls -- *.mrlog | tail -n 1)
run 0 "$M" stat --json "$work/many"
frames=$(seg_field "$work/out" last frames)
[[ $frames -gt 500 ]] || fail "many: only $frames frames"
run 0 "$F" flip-every "$work/many/$mseg" 8192 16384
run 2 env MRLOG_TOOL_COUNT_READS=1 "$M" verify "$work/many"
damaged=$(grep -c "a later frame shows it was synced" "$work/out" || true)
[[ $damaged -gt 100 ]] || fail "many: only $damaged damaged frames reported"
checked=$(sed -n 's/.*checked \([0-9]*\) frames$/\1/p' "$work/err")
[[ -n $checked && $checked -le $((3 * frames + 3 * damaged)) ]] ||
  fail "many: verify checked ${checked:-?} frames for $frames frames and $damaged damaged"
ok "verify: $damaged damaged frames in $frames, $checked frame checks (linear)"

# A newer format version is its own error, not corruption.
cp -a "$log" "$work/version"
run 0 "$F" set-version "$work/version/$seg" 1000
for c in stat dump verify; do
  run 65 "$M" "$c" "$work/version"
  contains "$work/err" "$seg: format version 1000 is not supported"
done
run 65 "$M" tail "$work/version" --queue alpha
run 0 "$F" open "$work/version"
contains "$work/out" "EVERSION"
ok "format version 1000 -> 65 (mrlog_open: EVERSION)"

# ---------------------------------------------------------------------------
# A log held open by a running process.
# ---------------------------------------------------------------------------
"$F" hold "$work/held" "$work/ready" &
holder=$!
bg_pids+=("$holder")
wait_for test -e "$work/ready"
pid=$(cat "$work/ready")
sums "$work/held" >"$work/sums.before"
run 0 "$M" stat "$work/held"
contains "$work/out" "held by a running process (pid $pid)"
run 0 "$M" stat --json "$work/held"
valid_json "$work/out"
contains "$work/out" "\"holder_pid\": $pid,"
grep -qE '"tail": \{"state": "(clean|zero_room)"' "$work/out" ||
  fail "an idle held log's tail is clean"
run 0 "$M" verify "$work/held"
run 0 "$M" dump "$work/held"
[[ $(wc -l <"$work/out") == 5 ]] || fail "held log: 5 records"
run 0 "$M" tail "$work/held" --queue h
[[ $(wc -l <"$work/out") == 5 ]] || fail "held log: tail shows 5 records"
run 0 "$F" ro-open "$work/held"
contains "$work/out" "OK discarded="
sums "$work/held" >"$work/sums.after"
same "$work/sums.before" "$work/sums.after" \
  "stat, verify, dump, tail or a read-only open changed a held log"
rm "$work/ready"
wait "$holder" || fail "the holder failed"
bg_pids=()
run 0 "$M" stat "$work/held"
contains "$work/out" "not held"
ok "held log: seen as held (pid $pid), changed nothing, holder unaffected"

# ---------------------------------------------------------------------------
# tail --follow while another process appends.
# ---------------------------------------------------------------------------
run 0 "$F" follow-setup "$work/follow"
run 0 "$F" follow-expect
cp "$work/out" "$work/follow.expected"
want=$(wc -l <"$work/follow.expected")
: >"$work/follow.got"
${guard[@]+"${guard[@]}"} "$M" tail "$work/follow" --queue f --follow --max "$want" \
  >"$work/follow.got" 2>"$work/follow.err" &
tailer=$!
bg_pids+=("$tailer")
lines3() { [[ $(wc -l <"$work/follow.got") -ge 3 ]]; }
wait_for lines3 # the records retained at start: tail is following now
run 0 "$F" follow-write "$work/follow" "$work/follow.got"
rc=0
wait "$tailer" || rc=$?
bg_pids=()
[[ $rc == 0 ]] || { cat "$work/follow.err"; fail "tail --follow exited $rc"; }
same "$work/follow.got" "$work/follow.expected" "tail --follow printed other records"
# Deleted and created again: seen in between (two notes) or not (one).
grep -qE "queue f (deleted: waiting for it|deleted and created again)" \
  "$work/follow.err" || { cat "$work/follow.err"; fail "no deletion noted"; }
grep -qE "queue f (created: following it|deleted and created again)" \
  "$work/follow.err" || { cat "$work/follow.err"; fail "no re-creation noted"; }
ok "tail --follow --max $want across rotations, truncation and a recreated queue"
run 0 "$M" tail "$work/follow" --queue f -n 2
cp "$work/out" "$work/follow.last2"
lines "$work/follow.last2" 2
run 0 "$M" tail "$work/follow" --queue f --follow -n 2 --max 2
same "$work/out" "$work/follow.last2" "tail --follow -n 2: the last 2 first"
ok "tail --follow -n N starts with the last N records"

# tail --follow on a directory that does not exist yet: it waits for the
# log, then for the queue, saying so.
: >"$work/later.got"
${guard[@]+"${guard[@]}"} "$M" tail "$work/later" --queue f --follow --max 3 \
  >"$work/later.got" 2>"$work/later.err" &
tailer=$!
bg_pids+=("$tailer")
waiting() { grep -qF "waiting for it to appear" "$work/later.err"; }
wait_for waiting
run 0 "$F" follow-setup "$work/later"
rc=0
wait "$tailer" || rc=$?
bg_pids=()
[[ $rc == 0 ]] || { cat "$work/later.err"; fail "tail --follow on a missing directory exited $rc"; }
head -n 3 "$work/follow.expected" >"$work/later.expected"
same "$work/later.got" "$work/later.expected" "tail --follow: a log that appears later"
contains "$work/later.err" "the log appeared"
ok "tail --follow waits for the directory and the log to appear"

# lines_ge FILE N: FILE has at least N lines (for wait_for).
lines_ge() { [[ $(wc -l <"$1") -ge $2 ]]; }
# has FILE TEXT: FILE has TEXT (for wait_for).
has() { grep -qF -- "$2" "$1"; }

# One tail --follow (no --max: it ends by SIGTERM) through everything that
# can happen to its queue and its log, each step a writing open of its own
# (tool_fixture follow-op), ordered by what tail has printed: f deleted
# (seen), created again; deleted and created again while tail is stopped
# (SIGSTOP), with more records than before (told apart by the record at
# the last position printed); the directory renamed away (gone) and a new
# log made in its place.  Then SIGTERM: whole lines out, ended by it (143).
fq=$work/fq
run 0 "$F" follow-setup "$fq"
: >"$work/fq.got"
"$M" tail "$fq" --queue f --follow >"$work/fq.got" 2>"$work/fq.err" &
tailer=$!
bg_pids+=("$tailer")
wait_for lines_ge "$work/fq.got" 3
run 0 "$F" follow-op "$fq" delete f
wait_for has "$work/fq.err" "queue f deleted: waiting for it"
run 0 "$F" follow-op "$fq" create f
run 0 "$F" follow-op "$fq" append f 2 0 4
wait_for lines_ge "$work/fq.got" 7
contains "$work/fq.err" "queue f created: following it from its first record"
kill -STOP "$tailer"
run 0 "$F" follow-op "$fq" delete f
run 0 "$F" follow-op "$fq" create f
run 0 "$F" follow-op "$fq" append f 3 0 10
kill -CONT "$tailer"
wait_for lines_ge "$work/fq.got" 17
contains "$work/fq.err" "queue f deleted and created again: following the new queue from its first record"
# Idle, tail waits in ppoll (inotify): a busy loop would use the CPU the
# whole time.  A bound on CPU used, not on time taken.
cpu() { awk '{ print $14 + $15 }' "/proc/$tailer/stat"; }
if [[ -r /proc/$tailer/stat ]]; then
  before=$(cpu)
  sleep 2
  used=$(($(cpu) - before))
  ((used < 50)) || fail "tail --follow used $used ticks of CPU in 2 s idle"
fi
mv "$fq" "$work/fq.old"
wait_for has "$work/fq.err" "the log is gone: waiting for it to appear"
run 0 "$F" follow-setup "$fq"
wait_for lines_ge "$work/fq.got" 20
contains "$work/fq.err" "the log appeared"
kill -TERM "$tailer"
rc=0
wait "$tailer" || rc=$?
bg_pids=()
[[ $rc == 143 ]] || { cat "$work/fq.err"; fail "tail --follow after SIGTERM exited $rc, not 143"; }
run 0 "$F" follow-expect f 1 0 3 f 2 0 4 f 3 0 10 f 1 0 3
same "$work/fq.got" "$work/out" "tail --follow across deletions, re-creations and a new log"
grep -c "queue f deleted: waiting for it" "$work/fq.err" | grep -qx 2 ||
  { cat "$work/fq.err"; fail "expected two deletions seen"; }
ok "tail --follow: queue deleted, recreated (seen and unseen), log gone and back, SIGTERM (143)"

# The same without inotify (MRLOG_TOOL_FOLLOW_POLL: the listing compared
# every 200 ms), ended by --max.
run 0 "$F" follow-setup "$work/fp"
: >"$work/fp.got"
MRLOG_TOOL_FOLLOW_POLL=1 ${guard[@]+"${guard[@]}"} "$M" tail "$work/fp" \
  --queue f --follow --max 9 >"$work/fp.got" 2>"$work/fp.err" &
tailer=$!
bg_pids+=("$tailer")
wait_for lines_ge "$work/fp.got" 3
run 0 "$F" follow-op "$work/fp" delete f
wait_for has "$work/fp.err" "queue f deleted: waiting for it"
run 0 "$F" follow-op "$work/fp" create f
run 0 "$F" follow-op "$work/fp" append f 2 0 6
rc=0
wait "$tailer" || rc=$?
bg_pids=()
[[ $rc == 0 ]] || { cat "$work/fp.err"; fail "tail --follow (polling) --max 9 exited $rc"; }
contains "$work/fp.err" "MRLOG_TOOL_FOLLOW_POLL"
run 0 "$F" follow-expect f 1 0 3 f 2 0 6
same "$work/fp.got" "$work/out" "tail --follow (polling)"
ok "tail --follow without inotify: polling, --max ends it (0)"

# Queue names as printed (escaped) pasted back into --queue with --follow,
# and in tail's notes: a name with a space, a tab, a backslash sequence
# and a byte that is not ASCII.
run 0 "$F" follow-setup "$work/fe"
raw=$'n q\t\\x41\xff'
esc='n\x20q\t\\x41\xff'
: >"$work/fe.got"
${guard[@]+"${guard[@]}"} "$M" tail "$work/fe" --queue "$esc" --follow \
  --max 2 >"$work/fe.got" 2>"$work/fe.err" &
tailer=$!
bg_pids+=("$tailer")
wait_for has "$work/fe.err" "queue $esc does not exist yet: waiting for it"
run 0 "$F" follow-op "$work/fe" create "$raw"
run 0 "$F" follow-op "$work/fe" append "$raw" 1 0 2
rc=0
wait "$tailer" || rc=$?
bg_pids=()
[[ $rc == 0 ]] || { cat "$work/fe.err"; fail "tail --follow --queue ESCAPED exited $rc"; }
contains "$work/fe.err" "queue $esc created"
run 0 "$M" dump --queue "$esc" "$work/fe"
same "$work/fe.got" "$work/out" "tail --follow --queue ESCAPED"
[[ $(awk '{ print $1; exit }' "$work/out") == "$esc" ]] ||
  fail "dump does not print the name as $esc"
run 0 ${guard[@]+"${guard[@]}"} "$M" tail "$work/fe" --queue "$(awk '{ print $1; exit }' "$work/out")" --follow --max 2
same "$work/out" "$work/fe.got" "tail --follow --queue NAME-AS-PRINTED"
odd_n=$(wc -l <"$work/odd.text")
run 0 ${guard[@]+"${guard[@]}"} "$M" tail "$log" --queue "$odd" --follow --max "$odd_n"
same "$work/out" "$work/odd.text" "tail --follow --queue NAME-AS-PRINTED (built log)"
run 0 ${guard[@]+"${guard[@]}"} "$M" tail "$log" --queue 'odd\u0020name\\\u00e9' --follow --max "$odd_n"
same "$work/out" "$work/odd.text" "tail --follow --queue NAME-AS-IN-JSON"
ok "tail --follow: names as printed (text and JSON escapes) select the queue; notes print them so"

# A log that becomes damaged while followed: the damage is named (the
# library's own reports, as dump shows them) and tail exits 2.
cp -a "$log" "$work/fdam"
seg=$(seg_field "$work/stat.json" 1 segment)
last_frame=$(seg_field "$work/stat.json" 1 last_frame)
alpha_n=$(wc -l <"$work/alpha.text")
: >"$work/fdam.got"
${guard[@]+"${guard[@]}"} "$M" tail "$work/fdam" --queue alpha --follow \
  >"$work/fdam.got" 2>"$work/fdam.err" &
tailer=$!
bg_pids+=("$tailer")
wait_for lines_ge "$work/fdam.got" "$alpha_n"
run 0 "$F" flip "$work/fdam/$seg" $((last_frame + 16))
rc=0
wait "$tailer" || rc=$?
bg_pids=()
[[ $rc == 2 ]] || { cat "$work/fdam.err"; fail "tail --follow on a log damaged meanwhile exited $rc"; }
same "$work/fdam.got" "$work/alpha.text" "tail --follow, then damage: records"
contains "$work/fdam.err" "the log is damaged"
contains "$work/fdam.err" "damage: segment ${seg%.mrlog}: dropped 19 bytes at offset $last_frame"
contains "$work/fdam.err" "damaged: 1 range(s)"
ok "tail --follow on a log damaged while followed: the damage named, exit 2"

# tail --follow --since (with --max) and --since --until (exiting by itself
# once the log's time reaches --until), while a process appends a record a
# second to f with a fake clock that steps back once.
run 0 "$F" tfollow-setup "$work/tfollow"
: >"$work/tfa.got"
: >"$work/tfb.got"
${guard[@]+"${guard[@]}"} "$M" tail "$work/tfollow" --queue f --follow \
  --since 1700000001000 --max 20 --format json >"$work/tfa.got" 2>"$work/tfa.err" &
tfa=$!
${guard[@]+"${guard[@]}"} "$M" tail "$work/tfollow" --queue f --follow \
  --since 2023-11-14T22:13:22Z --until 2023-11-14T22:13:50Z \
  >"$work/tfb.got" 2>"$work/tfb.err" &
tfb=$!
bg_pids+=("$tfa" "$tfb")
tfollowing() {
  [[ $(wc -l <"$work/tfa.got") -ge 2 && $(wc -l <"$work/tfb.got") -ge 1 ]]
}
wait_for tfollowing # records 1, 2 and 2, retained at start: following now
run 0 "$F" tfollow-write "$work/tfollow"
rc=0
wait "$tfa" || rc=$?
[[ $rc == 0 ]] || { cat "$work/tfa.err"; fail "tail --follow --since --max exited $rc"; }
rc=0
wait "$tfb" || rc=$?
[[ $rc == 0 ]] || { cat "$work/tfb.err"; fail "tail --follow --since --until exited $rc"; }
bg_pids=()
cp -a "$work/tfollow" "$work/tfollow.copy"
run 0 "$F" expect-dump "$work/tfollow.copy" json f 0 $MAX 1700000001000
head -n 20 "$work/out" >"$work/tfa.expected"
lines "$work/tfa.expected" 20
same "$work/tfa.got" "$work/tfa.expected" "tail --follow --since --max"
run 0 "$F" expect-dump "$work/tfollow.copy" text f 0 $MAX 1700000002000 1700000030000
same "$work/tfb.got" "$work/out" "tail --follow --since --until"
lines "$work/tfb.got" 28 # f 2 .. 29
contains "$work/tfb.got" "f 10 2023-11-14T22:13:29.000Z " # the clock stepped back
ok "tail --follow --since/--until with a fake clock"

# ---------------------------------------------------------------------------
# bench: runs mrlog-bench (the build tree's copy here).
# ---------------------------------------------------------------------------
run 0 env -u MRLOG_BENCH "$M" bench --help
contains "$work/out" "usage: mrlog-bench"
printf '#!/bin/sh\necho "fake bench: $*"\n' >"$work/fake-bench"
chmod +x "$work/fake-bench"
run 0 env MRLOG_BENCH="$work/fake-bench" "$M" bench --runs 1 --keep
contains "$work/out" "fake bench: --runs 1 --keep"
run 69 env MRLOG_BENCH="$work/no-such-bench" "$M" bench --help
ok "bench"

echo "PASS: tool_test.sh"
