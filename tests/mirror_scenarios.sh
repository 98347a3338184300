#!/usr/bin/env bash
# mirror_scenarios.sh -- the mirror's failure scenarios on a running 3-node
# cluster (tests/rabbitmq_cluster.sh): tests/mirror_test.sh runs it after
# tests/mirror_test with the cluster's directory; it can also be run by
# hand:  top_builddir=build bash tests/mirror_scenarios.sh CLUSTER_DIR
#
# Every scenario ends with `mirror_driver verify`: the replica (a second log
# fed by mrlog_replica_start) holds exactly the durable records of the
# source at the same positions, byte for byte, with no extra record
# (docs/REPLICATION.md, "Failure handling").  Scenarios:
#   many      MRLOG_SCEN_RECORDS records of 100 B (default 1000000;
#             scripts/test.sh runs 100000 in the ASan build) over
#             MRLOG_SCEN_QUEUES queues (64) with truncations, deletions and
#             re-creations, then a replica
#   leader    kill -9 of the node leading a shipped quorum queue while the
#             mirror ships, the node started again, then the same for a
#             follower
#   shipper   kill -9 of the shipping process, 4 times, during shipping;
#             each restart resumes from the committed positions
#   outage    all three nodes killed for 30 s while appends go on (they
#             must be accepted meanwhile), then started again
#   replica   kill -9 of the replica process while it applies, 3 times
#   deletes, badinput   mirror_driver's in-process cases
# Node 1 is started again first if it is down (mirror_test's failover
# case kills it).  Prints PASS/FAIL per scenario; exits 1 on a failure.
set -euo pipefail

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
cluster=$(cd "$1" && pwd)
drv=$top_builddir/tests/mirror_driver
QUEUES=${MRLOG_SCEN_QUEUES:-64}
RECORDS=${MRLOG_SCEN_RECORDS:-1000000}
# shellcheck disable=SC1091
. "$cluster/env"
export MRLOG_AMQP_URIS
work=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-scen.XXXXXX")
bg=""

cl() { bash "$top_srcdir/tests/rabbitmq_cluster.sh" "$@"; }
say() { printf '  [%s] %s\n' "$(date +%T)" "$*"; }
cleanup() {
  [[ -n $bg ]] && kill -KILL "$bg" 2>/dev/null || true
  [[ -n ${MRLOG_SCEN_KEEP:-} ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL $scenario: $*"
  exit 1
}

# field FILE KEY: the number after KEY in a progress file (0 if none).
field() {
  local v
  v=$(awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' \
    "$1" 2>/dev/null || true)
  echo "${v:-0}"
}

# wait_until SECONDS WHAT CMD...: polls CMD every 0.2 s for SECONDS.
wait_until() {
  local limit=$1 what=$2 end=$((SECONDS + $1))
  shift 2
  while ((SECONDS < end)); do
    "$@" && return 0
    sleep 0.2
  done
  fail "waited $limit s for $what"
}

above() { (($(field "$1" "$2") > $3)); }
exited() { ! kill -0 "$1" 2>/dev/null; }

node_alive() {
  local pid
  pid=$(awk -v k="node$1" '$1 == k { print $2 }' "$cluster/pids")
  kill -0 -- "-$pid" 2>/dev/null
}

# Starts a driver command in the background; its pid in $bg.
start_bg() {
  local log=$1
  shift
  "$drv" "$@" >>"$log" 2>&1 &
  bg=$!
}

# Waits (up to SECONDS) for the background driver; fails on non-zero.
join_bg() {
  local limit=$1 log=$2 rc=0
  wait_until "$limit" "the driver to finish" exited "$bg"
  wait "$bg" || rc=$?
  bg=""
  cat "$log"
  ((rc == 0)) || fail "the driver exited with $rc"
}

kill_bg() {
  kill -KILL "$bg"
  wait "$bg" 2>/dev/null || true
  bg=""
}

replica_and_verify() {
  local d=$1 ex=$2
  "$drv" replica "$d/dst" "$ex" "$d/manifest" "$d/rprog" 600 ||
    fail "the replica did not reach the source"
  "$drv" verify "$d/src" "$d/dst" "$d/manifest" || fail "verify"
}

# The leader node (1-3) of RabbitMQ queue $1, asked of node $2.
leader_of() {
  cl ctl "$cluster" "$2" list_queues -p mrlog name leader 2>/dev/null |
    awk -v q="$1" '$1 == q { sub(/^mrlog/, "", $2); sub(/@.*/, "", $2);
                             print $2 }'
}

has_leader() { [[ -n $(leader_of "$1" 2) ]]; }

run() {
  scenario=$1
  local t0=$SECONDS
  echo "scenario $scenario"
  mkdir -p "$work/$scenario"
  "scen_$scenario" "$work/$scenario"
  echo "PASS $scenario ($((SECONDS - t0)) s)"
}

scen_many() {
  local d=$1
  "$drv" load "$d/src" "$d/manifest" scenmany "$QUEUES" "$RECORDS" ||
    fail "load"
  replica_and_verify "$d" scenmany
}

scen_leader() {
  local d=$1 n c follower
  start_bg "$d/log" ship "$d/src" "$d/manifest" scenleader 4 24000 80 \
    "$d/prog"
  wait_until 120 "first confirms" above "$d/prog" confirmed 0
  wait_until 60 "a leader" has_leader scenleader.S0
  n=$(leader_of scenleader.S0 2)
  [[ $n =~ ^[123]$ ]] || fail "no leader for scenleader.S0 ($n)"
  c=$(field "$d/prog" confirmed)
  say "killing node $n, leader of scenleader.S0, at $c confirmed"
  cl kill "$cluster" "$n"
  wait_until 180 "confirms after the leader's kill" above "$d/prog" confirmed "$c"
  cl start-node "$cluster" "$n"
  n=$(leader_of scenleader.S0 1)
  [[ $n =~ ^[123]$ ]] || n=$(leader_of scenleader.S0 2)
  follower=$(( n % 3 + 1 ))
  c=$(field "$d/prog" confirmed)
  say "killing node $follower, a follower (leader $n), at $c confirmed"
  cl kill "$cluster" "$follower"
  wait_until 180 "confirms after the follower's kill" \
    above "$d/prog" confirmed "$c"
  cl start-node "$cluster" "$follower"
  join_bg 400 "$d/log"
  replica_and_verify "$d" scenleader
}

scen_shipper() {
  local d=$1 i
  for i in 1 2 3 4; do
    rm -f "$d/prog"
    start_bg "$d/log" ship "$d/src" "$d/manifest" scenship 4 40000 20 \
      "$d/prog"
    wait_until 120 "run $i to confirm records" above "$d/prog" confirmed 0
    sleep "0.$((RANDOM % 10))"
    say "kill -9 of the shipping process, run $i: $(cat "$d/prog")"
    kill_bg
  done
  start_bg "$d/log" ship "$d/src" "$d/manifest" scenship 4 40000 20 \
    "$d/prog"
  join_bg 400 "$d/log"
  replica_and_verify "$d" scenship
}

scen_outage() {
  local d=$1 a0 n
  start_bg "$d/log" ship "$d/src" "$d/manifest" scenoutage 4 20000 200 \
    "$d/prog"
  wait_until 120 "first confirms" above "$d/prog" confirmed 0
  for n in 1 2 3; do cl kill "$cluster" "$n"; done
  a0=$(field "$d/prog" appended)
  say "all nodes killed at $a0 appended; 30 s down"
  sleep 30 # the outage itself
  ! exited "$bg" || fail "the shipping process died with the cluster"
  (($(field "$d/prog" appended) > a0)) ||
    fail "no append accepted while the cluster was down"
  say "$(cat "$d/prog"); starting the nodes"
  local starts=()
  for n in 1 2 3; do
    cl start-node "$cluster" "$n" &
    starts+=($!)
  done
  for n in "${starts[@]}"; do wait "$n" || fail "start-node failed"; done
  for n in 1 2 3; do node_alive "$n" || fail "node $n did not start"; done
  join_bg 400 "$d/log"
  replica_and_verify "$d" scenoutage
}

scen_replica() {
  local d=$1 i
  MIRROR_DRIVER_RECORDS_PER_MESSAGE=8 "$drv" load "$d/src" "$d/manifest" \
    scenrep 8 40000 || fail "load"
  for i in 1 2 3; do
    rm -f "$d/rprog"
    start_bg "$d/rlog" replica "$d/dst" scenrep "$d/manifest" "$d/rprog" 600
    wait_until 120 "run $i to apply records" above "$d/rprog" deliveries 20
    sleep "0.$((RANDOM % 10))"
    say "kill -9 of the replica, run $i: $(cat "$d/rprog")"
    kill_bg
  done
  replica_and_verify "$d" scenrep
  cat "$d/rprog"
}

scen_deletes() { "$drv" deletes || fail "deletes"; }
scen_badinput() { "$drv" badinput || fail "badinput"; }

if ! node_alive 1; then
  echo "node 1 is down (mirror_test's failover): starting it again"
  cl start-node "$cluster" 1
fi
t0=$SECONDS
for s in ${MRLOG_SCENARIOS:-deletes badinput many leader shipper replica outage}; do
  run "$s"
done
echo "mirror_scenarios.sh: $((SECONDS - t0)) s"
