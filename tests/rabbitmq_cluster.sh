#!/usr/bin/env bash
# rabbitmq_cluster.sh -- a throw-away 3-node RabbitMQ cluster on loopback for
# the mirror's tests.
#
#   tests/rabbitmq_cluster.sh start DIR    start it; writes DIR/env
#   tests/rabbitmq_cluster.sh stop DIR     stop every process start started
#   tests/rabbitmq_cluster.sh status DIR   print the cluster's status
#   tests/rabbitmq_cluster.sh kill DIR N   kill -9 node N (1-3) and wait
#   tests/rabbitmq_cluster.sh start-node DIR N
#                                          start node N again (after kill or
#                                          a stop of the node) and wait until
#                                          it runs and is back in the cluster
#   tests/rabbitmq_cluster.sh ctl DIR N ARGS...
#                                          rabbitmqctl ARGS on node N (1-3)
#
# Invariants:
#   1. Everything lives under DIR: each node's data (RABBITMQ_MNESIA_BASE),
#      logs, configuration, an empty plugin list, and HOME with the cluster's
#      own Erlang cookie.  Nothing of the Debian package's set-up is read
#      (its /etc/rabbitmq/rabbitmq-env.conf is replaced by DIR's own file).
#   2. Every port is chosen at run time among free ones: AMQP and Erlang
#      distribution per node, and epmd's own port (ERL_EPMD_PORT), so the
#      cluster collides neither with another cluster nor with a system epmd.
#      Every listener, epmd included, is bound to 127.0.0.1.
#   3. The nodes run /usr/lib/rabbitmq/bin/rabbitmq-server directly (the
#      Debian wrapper switches to the rabbitmq user and its directories), each
#      in its own session: DIR/pids lists the process group of each node and
#      of epmd, and `stop` signals exactly those groups and waits until they
#      are gone (SIGTERM, then SIGKILL after 15 s).
#   4. After `start` returns 0 the three nodes are one cluster, the vhost
#      "mrlog" exists with the user mrlog/mrlog allowed everything on it, and
#      quorum queues can be declared.  DIR/env holds, for a shell to source:
#        MRLOG_AMQP_URIS  the three nodes' URIs, comma separated
#        MRLOG_AMQP_URI1..3, MRLOG_AMQP_PORT1..3, MRLOG_RABBIT_NODE1..3
#   5. A failed start stops what it started and prints the nodes' logs' tails.
#   6. start-node reuses the node's data, ports and name: the node rejoins
#      the cluster it belongs to.  DIR/pids is rewritten under flock(1) on
#      DIR/pids.lock, so several start-node commands may run at once (all
#      three nodes after they were all killed must start together: each
#      waits for its peers' tables).
#
# Runs as root or as any user (the nodes run as the caller).
set -euo pipefail

SBIN=${RABBITMQ_SBIN:-/usr/lib/rabbitmq/bin}
START_TIMEOUT=${RABBITMQ_START_TIMEOUT:-90}
NODES=(1 2 3)

say() { printf '[rabbitmq_cluster] %s\n' "$*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}

usage() {
  die "usage: $0 start|stop|status DIR, $0 kill|start-node DIR N or" \
    "$0 ctl DIR N ARGS..."
}

# Prints N distinct free TCP ports on 127.0.0.1, one per line.  They are
# held open together while chosen, so they differ; another process could
# still take one before the nodes bind it, which start reports as a failure.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
for s in held:
    print(s.getsockname()[1])
EOF
}

# Exports the environment every process of the cluster (node or CLI) needs.
cluster_env() {
  local dir=$1
  export HOME=$dir/home
  export ERL_EPMD_ADDRESS=127.0.0.1
  export ERL_EPMD_PORT=$EPMD_PORT
  export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
  export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
  export RABBITMQ_USE_LONGNAME=false
  # The CLI tools' own distribution listener: loopback, any free port.
  export RABBITMQ_CTL_DIST_PORT_MIN=0
  export RABBITMQ_CTL_DIST_PORT_MAX=0
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

# The environment of node N (in a subshell: start_node's).
node_env() {
  local dir=$1 n=$2 ndir=$1/node$2
  export RABBITMQ_NODENAME=mrlog$n@localhost
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=${AMQP_PORTS[n - 1]}
  export RABBITMQ_DIST_PORT=${DIST_PORTS[n - 1]}
  export RABBITMQ_MNESIA_BASE=$ndir/mnesia
  export RABBITMQ_LOG_BASE=$ndir/log
  export RABBITMQ_LOGS=$ndir/log/rabbit.log
  export RABBITMQ_CONFIG_FILE=$ndir/rabbitmq.conf
  export RABBITMQ_ADVANCED_CONFIG_FILE=$ndir/advanced.config
  export RABBITMQ_PID_FILE=$ndir/rabbit.pid
  export RABBITMQ_SCHEDULER_BUSY_WAIT_THRESHOLD=none
  # Distribution on loopback only; two schedulers and 8 async threads per
  # node are plenty for tests.
  local erl_args="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$erl_args +S 2:2 +A 8"
}

load_ports() {
  local dir=$1
  [[ -f $dir/ports ]] || die "$dir/ports not found: was the cluster started?"
  # shellcheck disable=SC1091
  . "$dir/ports"
}

ctl() {
  local dir=$1 n=$2
  shift 2
  "$SBIN/rabbitmqctl" -q -n "mrlog$n@localhost" "$@"
}

write_config() {
  local dir=$1 n ndir
  mkdir -p "$dir/home"
  # The cookie only has to be the same for the three nodes and the CLI.
  printf 'mrlog%s%s' "$RANDOM$RANDOM" "$$" >"$dir/home/.erlang.cookie"
  chmod 400 "$dir/home/.erlang.cookie"
  : >"$dir/rabbitmq-env.conf"
  echo '[].' >"$dir/enabled_plugins"
  for n in "${NODES[@]}"; do
    ndir=$dir/node$n
    mkdir -p "$ndir/mnesia" "$ndir/log"
    echo '[].' >"$ndir/advanced.config"
    cat >"$ndir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:${AMQP_PORTS[n - 1]}
default_vhost = mrlog
default_user = mrlog
default_pass = mrlog
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
default_user_tags.administrator = true
loopback_users = none
disk_free_limit.absolute = 50MB
log.file.level = info
log.console = false
EOF
  done
}

start_epmd() {
  local dir=$1
  setsid epmd -port "$EPMD_PORT" -address 127.0.0.1 \
    >"$dir/epmd.log" 2>&1 </dev/null &
  echo "epmd $!" >>"$dir/pids"
}

start_node() {
  local dir=$1 n=$2
  (
    node_env "$dir" "$n"
    exec setsid "$SBIN/rabbitmq-server" >>"$dir/node$n/stdout.log" 2>&1 \
      </dev/null
  ) &
  set_pid "$dir" "node$n" $!
}

# Records pid as NAME's process group in DIR/pids, replacing an older line.
set_pid() {
  local dir=$1 name=$2 pid=$3
  (
    flock 9
    { grep -v "^$name " "$dir/pids" || true; } >"$dir/pids.new"
    echo "$name $pid" >>"$dir/pids.new"
    mv "$dir/pids.new" "$dir/pids"
  ) 9>"$dir/pids.lock"
}

# Waits until node N answers, failing early if its process has died.
await_node() {
  local dir=$1 n=$2 pid i
  pid=$(awk -v k="node$n" '$1 == k { print $2 }' "$dir/pids")
  # await_startup fails at once on a node that epmd does not know yet, so
  # first wait for the node to register (epmd -names costs no Erlang VM).
  for ((i = 0; i < START_TIMEOUT * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    epmd -port "$EPMD_PORT" -names 2>/dev/null |
      grep -q "^name mrlog$n at port" && break
    sleep 0.2
  done
  ctl "$dir" "$n" await_startup --timeout "$START_TIMEOUT" >/dev/null
}

# Joins node N to node 1.  Nodes join one at a time: two mnesia schemas
# merging into node 1's at once can fail a node's start_app.  A failed
# attempt is retried from a reset node (twice at most).
join_node() {
  local dir=$1 n=$2 try
  for try in 1 2 3; do
    if ctl "$dir" "$n" stop_app >>"$dir/node$n/join.log" 2>&1 &&
      ctl "$dir" "$n" join_cluster mrlog1@localhost \
        >>"$dir/node$n/join.log" 2>&1 &&
      ctl "$dir" "$n" start_app >>"$dir/node$n/join.log" 2>&1; then
      return 0
    fi
    say "node $n: join attempt $try failed (node$n/join.log)"
    ctl "$dir" "$n" stop_app >>"$dir/node$n/join.log" 2>&1 || true
    ctl "$dir" "$n" reset >>"$dir/node$n/join.log" 2>&1 || true
  done
  return 1
}

show_logs() {
  local dir=$1 f
  for f in "$dir"/node*/stdout.log "$dir"/node*/log/rabbit.log \
    "$dir/epmd.log"; do
    [[ -f $f ]] || continue
    say "--- tail of $f"
    tail -n 20 "$f" >&2 || true
  done
}

do_start() {
  local dir=$1 ports n t0 pids=()
  t0=$(date +%s)
  [[ -x $SBIN/rabbitmq-server ]] ||
    die "$SBIN/rabbitmq-server not found (apt-get install rabbitmq-server)"
  command -v epmd >/dev/null || die "epmd not found (erlang-base)"
  if [[ -f $dir/pids ]]; then
    die "$dir/pids exists: stop that cluster first ($0 stop $dir)"
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  mapfile -t ports < <(free_ports 7)
  ((${#ports[@]} == 7)) || die "could not find free ports"
  AMQP_PORTS=("${ports[@]:0:3}")
  DIST_PORTS=("${ports[@]:3:3}")
  EPMD_PORT=${ports[6]}
  {
    echo "AMQP_PORTS=(${AMQP_PORTS[*]})"
    echo "DIST_PORTS=(${DIST_PORTS[*]})"
    echo "EPMD_PORT=$EPMD_PORT"
  } >"$dir/ports"
  : >"$dir/pids"
  cluster_env "$dir"
  write_config "$dir"
  start_epmd "$dir"
  for n in "${NODES[@]}"; do
    start_node "$dir" "$n"
  done
  trap 'say "start failed"; show_logs "$dir"; do_stop "$dir"; exit 1' ERR
  for n in "${NODES[@]}"; do
    await_node "$dir" "$n" & pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n"; done
  say "3 nodes up after $(($(date +%s) - t0)) s; joining"
  join_node "$dir" 2
  join_node "$dir" 3
  {
    local uris=()
    for n in "${NODES[@]}"; do
      uris+=("amqp://mrlog:mrlog@127.0.0.1:${AMQP_PORTS[n - 1]}/mrlog")
      echo "MRLOG_AMQP_URI$n=${uris[n - 1]}"
      echo "MRLOG_AMQP_PORT$n=${AMQP_PORTS[n - 1]}"
      echo "MRLOG_RABBIT_NODE$n=mrlog$n@localhost"
    done
    echo "MRLOG_AMQP_URIS=$(IFS=,; echo "${uris[*]}")"
  } >"$dir/env.tmp"
  mv "$dir/env.tmp" "$dir/env"
  trap - ERR
  say "cluster of 3 ready in $(($(date +%s) - t0)) s: $dir/env"
}

# Signals every process group in DIR/pids and waits for them to go.
do_stop() {
  local dir=$1 name pid alive i
  [[ -f $dir/pids ]] || return 0
  while read -r name pid; do
    [[ $name == epmd ]] && continue
    kill -TERM -- "-$pid" 2>/dev/null || true
  done <"$dir/pids"
  for ((i = 0; i < 150; i++)); do
    alive=0
    while read -r name pid; do
      [[ $name == epmd ]] && continue
      kill -0 -- "-$pid" 2>/dev/null && alive=1
    done <"$dir/pids"
    ((alive)) || break
    sleep 0.1
  done
  # epmd goes last: the nodes unregister from it as they stop.
  while read -r name pid; do
    kill -KILL -- "-$pid" 2>/dev/null || true
  done <"$dir/pids"
  for ((i = 0; i < 50; i++)); do
    alive=0
    while read -r name pid; do
      kill -0 -- "-$pid" 2>/dev/null && alive=1
    done <"$dir/pids"
    ((alive)) || break
    sleep 0.1
  done
  ((alive == 0)) || die "processes of $dir/pids still alive"
  rm -f "$dir/pids" "$dir/env" "$dir/pids.lock"
}

# kill -9 of node N's process group (the node and its helpers); it stays
# in DIR/pids, so `stop` still makes sure it is gone.
do_kill() {
  local dir=$1 n=$2 pid i
  pid=$(awk -v k="node$n" '$1 == k { print $2 }' "$dir/pids")
  [[ -n $pid ]] || die "no node $n in $dir/pids"
  kill -KILL -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 -- "-$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "node $n survived kill -9"
}

# Starts node N again with its own data and waits until the node runs
# (await_startup: it has rejoined its cluster).
do_start_node() {
  local dir=$1 n=$2 pid
  load_ports "$dir"
  cluster_env "$dir"
  pid=$(awk -v k="node$n" '$1 == k { print $2 }' "$dir/pids")
  [[ -n $pid ]] || die "no node $n in $dir/pids"
  if kill -0 -- "-$pid" 2>/dev/null; then
    die "node $n is still running (process group $pid)"
  fi
  start_node "$dir" "$n"
  await_node "$dir" "$n" || {
    show_logs "$dir"
    die "node $n did not start again"
  }
  say "node $n running again"
}

do_status() {
  local dir=$1
  load_ports "$dir"
  cluster_env "$dir"
  ctl "$dir" 1 cluster_status
}

(($# >= 2)) || usage
cmd=$1
dir=$2
case $cmd in
  start) do_start "$dir" ;;
  stop)
    [[ -d $dir ]] || exit 0
    do_stop "$(cd "$dir" && pwd)"
    ;;
  status) do_status "$dir" ;;
  kill)
    (($# == 3)) || usage
    do_kill "$(cd "$dir" && pwd)" "$3"
    ;;
  start-node)
    (($# == 3)) || usage
    do_start_node "$(cd "$dir" && pwd)" "$3"
    ;;
  ctl)
    (($# >= 4)) || usage
    load_ports "$dir"
    cluster_env "$dir"
    n=$3
    shift 3
    ctl "$dir" "$n" "$@"
    ;;
  *) usage ;;
esac
