#!/usr/bin/env bash
# test.sh -- build and run mrlog's test suite, the way CI does.
#
#   1. scripts/setup.sh builds ./build (or $BUILD_DIR) and `make check` runs
#      there;
#   2. unless SKIP_SANITIZERS=1, the same again in ./build-asan (or
#      $ASAN_BUILD_DIR) configured with --enable-sanitizers (gcc ASan+UBSan),
#      with leak detection on and Check's timeouts scaled by 4;
#   3. unless SKIP_TSAN=1, the same again in ./build-tsan (or
#      $TSAN_BUILD_DIR) configured with --enable-tsan (ThreadSanitizer, with
#      tests/tsan.supp for concurrencykit's assembly fences), halting on the
#      first report;
#   4. unless SKIP_FUZZ=1, scripts/fuzz.sh: the libFuzzer targets in fuzz/
#      (clang-14), their regression inputs, then FUZZ_SECONDS (default 60)
#      of fuzzing per target; each target counts as one test.
#   5. unless SKIP_BENCH=1, `make bench-smoke` in the default build: every
#      benchmark workload for mrlog and its peers at 1% scale, so the suite
#      never rots (its figures mean nothing at that scale); one test.
#   6. unless RUN_DISTCHECK=0, `make distcheck` in the default build: the
#      release tarball is made, unpacked read-only, configured, built,
#      tested (its own `make check`), installed, uninstalled and cleaned;
#      one test.
# The RabbitMQ cluster tests (tests/mirror_test.sh, when rabbitmq-server is
# installed) start a 3-node cluster, about a minute on 2 cores: they run in
# the default and the ASan builds, and MRLOG_CLUSTER_TESTS=0 skips them in
# the TSan build and in distcheck.
#
# A build failure stops at once; a test failure still lets the other build run
# so one CI log shows both.  On failure the build's test-suite.log is printed.
# The last line is "tests: N passed, N failed[, N skipped]", counting every
# Check test case plus every other test program or script.
#
# Environment: BUILD_DIR, ASAN_BUILD_DIR, CONFIGURE_ARGS (applied to both
# builds), JOBS (default 2), SKIP_APT, SKIP_SANITIZERS=1, SKIP_TSAN=1,
# SKIP_FUZZ=1, FUZZ_SECONDS (default 60), SKIP_BENCH=1, and RUN_DISTCHECK=0
# to skip `make distcheck` (it builds and tests the tarball again: about two
# minutes on 2 cores).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
TSAN_BUILD_DIR=${TSAN_BUILD_DIR:-build-tsan}
SKIP_TSAN=${SKIP_TSAN:-0}
CONFIGURE_ARGS=${CONFIGURE_ARGS:-}
JOBS=${JOBS:-2}
SKIP_SANITIZERS=${SKIP_SANITIZERS:-0}
RUN_DISTCHECK=${RUN_DISTCHECK:-1}
SKIP_FUZZ=${SKIP_FUZZ:-0}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
SKIP_BENCH=${SKIP_BENCH:-0}

total_passed=0
total_failed=0
total_skipped=0
status=0

say() { printf '[test] %s\n' "$*"; }

abs_dir() {
  case "$1" in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$ROOT" "$1" ;;
  esac
}

# Adds one build's results to the totals: every Check test case from the
# runner's log, and one count per other test from automake's .trs files.
count_results() {
  local dir=$1 label=$2
  local passed=0 failed=0 skipped=0 checks=0 check_failed=0
  local line trs result n f e
  local re='Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+)'

  if [[ -f "$dir/tests/check_mrlog.log" ]]; then
    while IFS= read -r line; do
      if [[ "$line" =~ $re ]]; then
        n=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} e=${BASH_REMATCH[3]}
        say "$label: check_mrlog: $line"
        checks=$((checks + n))
        check_failed=$((check_failed + f + e))
      fi
    done <"$dir/tests/check_mrlog.log"
  fi
  passed=$((checks - check_failed))
  failed=$check_failed

  for trs in "$dir"/tests/*.trs; do
    [[ -e "$trs" ]] || continue
    result=$(sed -n 's/^:test-result: *//p' "$trs" | head -n 1)
    if [[ "$trs" == */check_mrlog.trs ]]; then
      # The runner failed without a failing case being counted (a crash, a
      # sanitizer report at exit, no summary line): count the runner itself.
      if [[ "$result" != PASS && "$result" != SKIP && $check_failed -eq 0 ]]; then
        failed=$((failed + 1))
      fi
      continue
    fi
    case "$result" in
      PASS | XFAIL) passed=$((passed + 1)) ;;
      SKIP) skipped=$((skipped + 1)) ;;
      *) failed=$((failed + 1)) ;;
    esac
  done

  say "$label: $passed passed, $failed failed, $skipped skipped"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
}

# run_build LABEL BUILD_DIR CONFIGURE_ARGS [VAR=value ...]
run_build() {
  local label=$1 build_dir=$2 configure_args=$3
  shift 3
  local dir
  dir=$(abs_dir "$build_dir")

  say "=== $label: build in $build_dir (configure args: '${configure_args}') ==="
  if ! BUILD_DIR=$build_dir CONFIGURE_ARGS=$configure_args JOBS=$JOBS \
    bash "$ROOT/scripts/setup.sh"; then
    say "$label: BUILD FAILED"
    printf 'tests: %d passed, %d failed\n' "$total_passed" "$((total_failed + 1))"
    exit 1
  fi

  # Stale results from an earlier run must not be counted.
  rm -f "$dir"/tests/*.log "$dir"/tests/*.trs "$dir/test-suite.log"

  say "=== $label: make check ${*} ==="
  if env "$@" make -C "$dir" -j"$JOBS" check; then
    say "$label: make check passed"
  else
    status=1
    say "$label: make check FAILED; $build_dir/test-suite.log follows"
    if [[ -f "$dir/test-suite.log" ]]; then
      cat "$dir/test-suite.log"
    else
      say "($dir/test-suite.log is missing)"
    fi
  fi
  count_results "$dir" "$label"
}

run_build "default" "$BUILD_DIR" "$CONFIGURE_ARGS"

if [[ "$SKIP_BENCH" == 1 ]]; then
  say "SKIP_BENCH=1: skipping the benchmark smoke run"
else
  say "=== bench: make bench-smoke in $BUILD_DIR ==="
  if make -C "$(abs_dir "$BUILD_DIR")" bench-smoke; then
    say "bench-smoke passed"
    total_passed=$((total_passed + 1))
  else
    say "bench-smoke FAILED"
    total_failed=$((total_failed + 1))
    status=1
  fi
fi

if [[ "$RUN_DISTCHECK" == 1 ]]; then
  say "=== make distcheck in $BUILD_DIR ==="
  if MRLOG_CLUSTER_TESTS=0 make -C "$(abs_dir "$BUILD_DIR")" -j"$JOBS" \
    distcheck; then
    say "distcheck passed"
    total_passed=$((total_passed + 1))
  else
    say "distcheck FAILED"
    total_failed=$((total_failed + 1))
    status=1
  fi
fi

if [[ "$SKIP_SANITIZERS" == 1 ]]; then
  say "SKIP_SANITIZERS=1: skipping the sanitizer build"
else
  run_build "asan+ubsan" "$ASAN_BUILD_DIR" \
    "--enable-sanitizers${CONFIGURE_ARGS:+ $CONFIGURE_ARGS}" \
    ASAN_OPTIONS=detect_leaks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    CK_TIMEOUT_MULTIPLIER=4 MRLOG_SCEN_RECORDS=100000
fi

if [[ "$SKIP_TSAN" == 1 ]]; then
  say "SKIP_TSAN=1: skipping the ThreadSanitizer build"
else
  run_build "tsan" "$TSAN_BUILD_DIR" \
    "--enable-tsan${CONFIGURE_ARGS:+ $CONFIGURE_ARGS}" \
    TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp halt_on_error=1" \
    CK_TIMEOUT_MULTIPLIER=4 MRLOG_CLUSTER_TESTS=0
fi

if [[ "$SKIP_FUZZ" == 1 ]]; then
  say "SKIP_FUZZ=1: skipping the fuzz targets"
else
  say "=== fuzz: scripts/fuzz.sh (FUZZ_SECONDS=$FUZZ_SECONDS per target) ==="
  fuzz_out=$(mktemp)
  fuzz_rc=0
  FUZZ_SECONDS=$FUZZ_SECONDS bash "$ROOT/scripts/fuzz.sh" 2>&1 |
    tee "$fuzz_out" || fuzz_rc=$?
  fuzz_re='^fuzz: ([0-9]+) passed, ([0-9]+) failed'
  fuzz_line=$(grep -E "$fuzz_re" "$fuzz_out" | tail -n 1 || true)
  rm -f "$fuzz_out"
  fuzz_passed=0
  fuzz_failed=0
  if [[ "$fuzz_line" =~ $fuzz_re ]]; then
    fuzz_passed=${BASH_REMATCH[1]}
    fuzz_failed=${BASH_REMATCH[2]}
  fi
  # A failure without a failed target counted (no summary line) still
  # counts once.
  if ((fuzz_rc != 0 && fuzz_failed == 0)); then
    fuzz_failed=1
  fi
  if ((fuzz_rc != 0 || fuzz_failed > 0)); then
    status=1
    say "fuzz: FAILED"
  fi
  say "fuzz: $fuzz_passed passed, $fuzz_failed failed"
  total_passed=$((total_passed + fuzz_passed))
  total_failed=$((total_failed + fuzz_failed))
fi

if ((total_passed + total_failed == 0)); then
  say "no test ran"
  status=1
fi

if ((status == 0)); then
  say "all test runs passed"
else
  say "FAILED"
fi
if ((total_skipped > 0)); then
  printf 'tests: %d passed, %d failed, %d skipped\n' \
    "$total_passed" "$total_failed" "$total_skipped"
else
  printf 'tests: %d passed, %d failed\n' "$total_passed" "$total_failed"
fi
exit "$status"
