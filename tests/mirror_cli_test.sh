#!/usr/bin/env bash
# mirror_cli_test.sh -- `mrlog mirror` and `mrlog replica` against a
# running RabbitMQ cluster: tests/mirror_test.sh runs it after
# tests/mirror_test, with MRLOG_AMQP_URIS from the cluster's env (every
# node; the mirror tries them in turn, so a killed node only costs a
# retry).  To run it alone against a cluster of your own:
#   bash tests/rabbitmq_cluster.sh start /tmp/c && . /tmp/c/env &&
#   top_builddir=build MRLOG_AMQP_URIS=$MRLOG_AMQP_URIS \
#     bash tests/mirror_cli_test.sh
# Needs tools/mrlog and tests/tool_fixture (make check builds both).
#
# Cases:
#   1. usage errors exit 64 (no URI, a command's option in the other, bad
#      counts, a malformed URI), a missing log 66;
#   2. mirror --once --json of tool_fixture's log (several queues, gaps,
#      truncated heads, 0-byte and > 64 KiB records), --queues selecting
#      five of its queues: exit 0, the JSON parses, every record
#      confirmed (records_confirmed, lag 0, queues 5), the consumer
#      "mirror" committed at each queue's next position; a second --once
#      ships nothing (it starts from the committed positions); without
#      --once, mirror runs until SIGINT and exits 0, all confirmed;
#   3. replica into a new directory, in the background, until its records
#      equal the source's (polled with mrlog dump); mirror of a log that
#      replica holds exits 75; SIGTERM: exit 0, --json with
#      records_applied equal to the records shipped and nothing rejected;
#      then source and replica dumps agree byte for byte, record by record
#      at the same positions (times aside: the replica frames them anew);
#   4. an unreachable broker: mirror --once --timeout 2 gives up with 75
#      in bounded time.
# Each run uses an exchange and queue prefix of its own, so runs and the
# other cases never share RabbitMQ queues.
set -euo pipefail

top_builddir=${top_builddir:-.}
M=$top_builddir/tools/mrlog
FX=$top_builddir/tests/tool_fixture
: "${MRLOG_AMQP_URIS:?MRLOG_AMQP_URIS is not set (run tests/mirror_test.sh)}"
URIS=$MRLOG_AMQP_URIS
work=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-mirror-cli.XXXXXX")
replica_pid=
run_pid=
cleanup() {
  local pid
  for pid in $replica_pid $run_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: mirror_cli_test.sh: $*"
  for f in "$work"/*.err; do
    [[ -s $f ]] && { echo "--- $f"; tail -n 20 "$f"; }
  done
  exit 1
}
ok() { echo "PASS: mirror_cli_test.sh: $*"; }

# expect CODE CMD...: runs CMD (stdout to $work/out, stderr to
# $work/cmd.err, at most 120 s) and checks its exit status.
expect() {
  local want=$1 rc=0
  shift
  timeout 120 "$@" >"$work/out" 2>"$work/cmd.err" || rc=$?
  [[ $rc == "$want" ]] || fail "exit $rc, not $want: $*"
}

# The records of DIR's queues alpha beta gamma big tmp, as mrlog dump
# prints them, without the time (field 3).
records() {
  local q
  for q in alpha beta gamma big tmp; do
    "$M" dump "$1" --queue "$q" | cut -d' ' -f1,2,4-
  done
}

tag=cli$$
ex=(--exchange "mrlog-$tag" --queue-prefix "mrlog-$tag.")
glob='[abgt]*' # alpha beta big gamma tmp, not "empty" nor the odd name

# ---------------------------------------------------------------------------
# 1. Usage errors, a missing log.
# ---------------------------------------------------------------------------
"$FX" build "$work/src" || fail "tool_fixture build"
expect 0 "$M" help mirror
grep -q "usage: mrlog mirror" "$work/out" || fail "help mirror"
expect 0 "$M" replica --help
grep -q "usage: mrlog replica" "$work/out" || fail "replica --help"
expect 64 "$M" mirror "$work/src"
expect 64 "$M" mirror "$work/src" --to ""
expect 64 "$M" mirror --to "$URIS"
expect 64 "$M" mirror "$work/src" "$work/src" --to "$URIS"
expect 64 "$M" mirror "$work/src" --from "$URIS"
expect 64 "$M" mirror "$work/src" --to "$URIS" --records-per-message 0
expect 64 "$M" mirror "$work/src" --to "$URIS" --timeout soon
expect 64 "$M" mirror "$work/src" --to "$URIS" --bogus
expect 64 "$M" replica "$work/rep" --to "$URIS"
expect 64 "$M" replica "$work/rep" --from "$URIS" --once
expect 64 "$M" mirror "$work/src" --to "not a uri" --once -q
grep -q "malformed URI" "$work/cmd.err" || fail "no message for a bad URI"
expect 66 "$M" mirror "$work/missing" --to "$URIS" --once
mkdir "$work/notalog"
expect 66 "$M" mirror "$work/notalog" --to "$URIS" --once
touch "$work/afile"
expect 66 "$M" replica "$work/afile" --from "$URIS"
ok "usage errors exit 64, a missing log 66"

# ---------------------------------------------------------------------------
# 2. mirror --once --json.
# ---------------------------------------------------------------------------
records "$work/src" >"$work/src.records"
n=$(wc -l <"$work/src.records")
[[ $n -gt 30 ]] || fail "the fixture has only $n records"
start=$(date +%s)
expect 0 "$M" mirror "$work/src" --to "$URIS" --queues "$glob" "${ex[@]}" \
  --once --json --records-per-message 3 --messages-in-flight 4 \
  --interval 1 --timeout 60
cp "$work/cmd.err" "$work/mirror1.err"
python3 - "$work/out" "$n" <<'EOF' || fail "mirror --json: $(cat "$work/out")"
import json, sys
s = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
fields = ["connected", "node", "messages_published", "records_published",
          "messages_confirmed", "records_confirmed", "nacks", "returns",
          "connects", "reconnects", "queues", "lag", "deliveries",
          "records_applied", "records_duplicate", "rejected", "deletes",
          "out_of_order", "truncations", "last_error", "last_error_text"]
missing = [f for f in fields if f not in s]
assert not missing, missing
assert s["records_confirmed"] == n, (s["records_confirmed"], n)
assert s["records_published"] >= n and s["lag"] == 0, s
assert s["queues"] == 5, s
assert s["messages_confirmed"] >= n // 3, s
assert s["connects"] >= 1 and s["deliveries"] == 0, s
EOF
# The consumer "mirror" is committed at every shipped queue's next
# position; the other queues have no such consumer.
"$M" stat --json "$work/src" >"$work/stat.json"
python3 - "$work/stat.json" <<'EOF' || fail "committed positions"
import json, sys
d = json.load(open(sys.argv[1]))
for q in d["queues"]:
    got = q.get("consumers", {}).get("mirror")
    if q["name"] in ("alpha", "beta", "gamma", "big", "tmp"):
        assert got == q["next_position"], (q["name"], got, q)
    else:
        assert got is None, (q["name"], got)
EOF
expect 0 "$M" mirror "$work/src" --to "$URIS" --queues "$glob" "${ex[@]}" \
  --once --json -q
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]));
assert s["records_published"] == 0 and s["lag"] == 0, s' "$work/out" ||
  fail "a second --once shipped again: $(cat "$work/out")"
ok "mirror --once --json: $n records of 5 queues in $(($(date +%s) - start)) s"

# Without --once: runs until a signal (SIGINT here), then exits 0 with
# everything confirmed.
"$FX" many "$work/many" 500 || fail "tool_fixture many"
"$M" mirror "$work/many" --to "$URIS" "${ex[@]}" --consumer run --json \
  >"$work/run.out" 2>"$work/run.err" &
run_pid=$!
deadline=$(($(date +%s) + 60))
until "$M" stat --json "$work/many" 2>/dev/null | python3 -c 'import json,sys
q = json.load(sys.stdin)["queues"]
sys.exit(0 if q and all(x.get("consumers", {}).get("run") ==
                        x["next_position"] for x in q) else 1)'; do
  kill -0 "$run_pid" 2>/dev/null || fail "mirror exited early"
  [[ $(date +%s) -lt $deadline ]] || fail "mirror: not committed in 60 s"
  sleep 0.5
done
kill -INT "$run_pid"
rc=0
wait "$run_pid" || rc=$?
run_pid=
[[ $rc == 0 ]] || fail "mirror exited $rc at SIGINT"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]));
assert s["records_confirmed"] == 500 and s["lag"] == 0, s' "$work/run.out" ||
  fail "mirror --json at SIGINT: $(cat "$work/run.out")"
ok "mirror until SIGINT: 500 records confirmed, exit 0"

# ---------------------------------------------------------------------------
# 3. replica in the background, until it holds every record; SIGTERM.
# ---------------------------------------------------------------------------
"$M" replica "$work/rep/log" --from "$URIS" --queues "$glob" "${ex[@]}" \
  --json --interval 1 >"$work/replica.out" 2>"$work/replica.err" &
replica_pid=$!
deadline=$(($(date +%s) + 90))
until [[ -d $work/rep/log ]] && records "$work/rep/log" >"$work/rep.records" \
  2>/dev/null && cmp -s "$work/src.records" "$work/rep.records"; do
  kill -0 "$replica_pid" 2>/dev/null || fail "replica exited early"
  [[ $(date +%s) -lt $deadline ]] ||
    fail "the replica does not hold every record after 90 s"
  sleep 0.5
done
# The log is the replica's: a mirror of it cannot take its lock.
expect 75 "$M" mirror "$work/rep/log" --to "$URIS" --once
grep -q "held by another process" "$work/cmd.err" || fail "no held message"
kill -TERM "$replica_pid"
rc=0
wait "$replica_pid" || rc=$?
replica_pid=
[[ $rc == 0 ]] || fail "replica exited $rc at SIGTERM"
python3 - "$work/replica.out" "$n" <<'EOF' ||
import json, sys
s = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert s["records_applied"] == n, (s["records_applied"], n)
assert s["rejected"] == 0 and s["queues"] == 5, s
assert s["deliveries"] >= n // 3, s
EOF
  fail "replica --json: $(cat "$work/replica.out")"
grep -q "records applied" "$work/replica.err" || fail "no progress line"
# After the clean stop: the same records at the same positions, and the
# replica's queues are exactly the shipped ones.
records "$work/rep/log" >"$work/rep.records"
cmp "$work/src.records" "$work/rep.records" || fail "replica differs"
"$M" stat --json "$work/rep/log" | python3 -c 'import json,sys;
names = sorted(q["name"] for q in json.load(sys.stdin)["queues"])
assert names == ["alpha", "beta", "big", "gamma", "tmp"], names' ||
  fail "replica queues"
ok "replica: $n records, byte for byte at their positions; SIGTERM exit 0"

# ---------------------------------------------------------------------------
# 4. An unreachable broker: --once gives up.
# ---------------------------------------------------------------------------
start=$(date +%s)
expect 75 "$M" mirror "$work/src" --to amqp://guest:guest@127.0.0.1:1/ \
  --once --timeout 2 --json --queues "$glob" "${ex[@]}" --consumer other
grep -q "gave up" "$work/cmd.err" || fail "no message when giving up"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]));
assert s["connected"] == 0 and s["records_confirmed"] == 0, s
assert s["last_error"] != 0 and s["last_error_name"], s' "$work/out" ||
  fail "unreachable --json: $(cat "$work/out")"
took=$(($(date +%s) - start))
[[ $took -lt 30 ]] || fail "giving up took $took s"
ok "unreachable broker: --once --timeout 2 exits 75 after $took s"
