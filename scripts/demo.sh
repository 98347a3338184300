#!/usr/bin/env bash
# demo.sh -- build mrlog (scripts/setup.sh) and run examples/demo on a
# scratch log directory that is removed afterwards.  Extra arguments are
# passed to the demo after the directory.
#
# Environment: as scripts/setup.sh (BUILD_DIR, CONFIGURE_ARGS, JOBS, SKIP_APT);
# KEEP_DIR=1 keeps the log directory for inspection.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in
  /*) build_path=$BUILD_DIR ;;
  *) build_path=$ROOT/$BUILD_DIR ;;
esac

bash "$ROOT/scripts/setup.sh"

demo=$build_path/examples/demo
[[ -x "$demo" ]] || {
  echo "[demo] ERROR: $demo was not built" >&2
  exit 1
}

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-demo.XXXXXX")
if [[ "${KEEP_DIR:-0}" == 1 ]]; then
  echo "[demo] keeping $log_dir"
else
  trap 'rm -rf "$log_dir"' EXIT
fi

echo "[demo] + $demo $log_dir $*"
"$demo" "$log_dir" "$@"
