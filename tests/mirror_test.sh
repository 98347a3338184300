#!/usr/bin/env bash
# mirror_test.sh -- runs tests/mirror_test (libmrlog_mirror) against a
# 3-node RabbitMQ cluster on loopback that it starts itself
# (tests/rabbitmq_cluster.sh) and always stops, on any exit; then, on
# the same cluster, tests/mirror_cli_test.sh (`mrlog mirror` and `mrlog
# replica`) and the failure scenarios (tests/mirror_scenarios.sh).  Skips
# (77) when rabbitmq-server is not installed (scripts/setup.sh installs
# it) or MRLOG_CLUSTER_TESTS=0 (scripts/test.sh sets it for the builds
# that need not start a cluster again: ThreadSanitizer and distcheck).
# Run by `make check` from the top build directory.
set -euo pipefail

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
if [[ ${MRLOG_CLUSTER_TESTS:-1} == 0 ]]; then
  echo "SKIP: MRLOG_CLUSTER_TESTS=0"
  exit 77
fi
if [[ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
  echo "SKIP: rabbitmq-server is not installed (scripts/setup.sh installs it)"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-mirror-test.XXXXXX")
cluster=$work/cluster
cleanup() {
  bash "$top_srcdir/tests/rabbitmq_cluster.sh" stop "$cluster" || true
  rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)
bash "$top_srcdir/tests/rabbitmq_cluster.sh" start "$cluster"
# shellcheck disable=SC1091
. "$cluster/env"
export MRLOG_AMQP_URIS
# The last case kills node 1 while the mirror ships through it.
MIRROR_TEST_KILL="bash $top_srcdir/tests/rabbitmq_cluster.sh kill $cluster 1"
export MIRROR_TEST_KILL
"$top_builddir/tests/mirror_test"
top_builddir=$top_builddir bash "$top_srcdir/tests/mirror_cli_test.sh"
bash "$top_srcdir/tests/mirror_scenarios.sh" "$cluster"
echo "mirror_test.sh: $(($(date +%s) - start)) s with the cluster's start"
