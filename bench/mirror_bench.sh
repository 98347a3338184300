#!/usr/bin/env bash
# mirror_bench.sh -- `make bench-mirror`: bench/mirror-bench against a
# 3-node RabbitMQ cluster on loopback that it starts
# (tests/rabbitmq_cluster.sh) and always stops, on any exit.
#
#   bench/mirror_bench.sh MIRROR_BENCH [OPTIONS...]
#
# Skips (prints why, exits 0) when rabbitmq-server is not installed.
# Writes the program's report to bench-mirror.txt and its JSON lines to
# bench-mirror.json in the current directory; exits with its status.
set -uo pipefail

top_srcdir=${top_srcdir:-$(dirname "$0")/..}
prog=${1:?usage: mirror_bench.sh MIRROR_BENCH [OPTIONS...]}
shift
if [[ ! -x ${RABBITMQ_SBIN:-/usr/lib/rabbitmq/bin}/rabbitmq-server ]]; then
  echo "bench-mirror: SKIPPED: rabbitmq-server is not installed" \
    "(scripts/setup.sh installs it)"
  exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-mirror-bench.XXXXXX")
cluster=$work/cluster
cleanup() {
  bash "$top_srcdir/tests/rabbitmq_cluster.sh" stop "$cluster" || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start=$(date +%s)
bash "$top_srcdir/tests/rabbitmq_cluster.sh" start "$cluster" || exit 1
# shellcheck disable=SC1091
. "$cluster/env"
export MRLOG_AMQP_URIS
echo "bench-mirror: cluster of 3 nodes started in $(($(date +%s) - start)) s"
"$prog" --json bench-mirror.json "$@" | tee bench-mirror.txt
rc=${PIPESTATUS[0]}
echo "bench-mirror: $(($(date +%s) - start)) s with the cluster's start;" \
  "results: bench-mirror.txt bench-mirror.json"
exit "$rc"
