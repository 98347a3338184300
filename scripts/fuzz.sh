#!/usr/bin/env bash
# fuzz.sh -- builds mrlog's libFuzzer targets and runs them.
#
#   1. installs clang-14 and libclang-rt-14-dev if missing (apt-get update
#      once, then install; unless SKIP_APT=1);
#   2. builds build-fuzz/fuzz_recovery and build-fuzz/fuzz_api with
#      clang-14 -fsanitize=fuzzer,address,undefined straight from the
#      library sources (lib/*.c workers/*.c), and build-fuzz/make_seeds;
#   3. regenerates the seed corpora in fuzz/corpus/<target>/ if missing;
#   4. runs each target once over fuzz/regressions/<target>/* (fixed
#      crashers must stay fixed);
#   5. fuzzes each target for FUZZ_SECONDS (default 60), new inputs going
#      to build-fuzz/corpus/<target>/ and crashes to build-fuzz/artifacts/,
#      and prints the number of executions.
#
# Exits non-zero if a build fails, a regression input fails or a target
# crashes (a crash, a sanitizer report, a leak, a timeout or an OOM).  The
# last line is "fuzz: N passed, N failed" (one count per target).
#
# Environment: FUZZ_SECONDS (default 60, per target; the targets run one
# after the other), FUZZ_TARGETS (default "fuzz_recovery fuzz_api"),
# FUZZ_TMPDIR (default /dev/shm when writable, else $TMPDIR, else /tmp):
# the targets' scratch log directories (one mkdtemp per process) go there, FUZZ_CC (default clang-14), SKIP_APT=1,
# FUZZ_RSS_MB (default 1024; libFuzzer -rss_limit_mb) and FUZZ_MALLOC_MB
# (default 64; -malloc_limit_mb: a larger single allocation is a failure).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
# Memory bounds: the process's RSS, and any single allocation.  Inputs are
# at most 32 KiB but describe files up to 4 GiB (sparse): recovery must
# neither fault in nor allocate what a file's size or a length field
# declares beyond its data.
FUZZ_RSS_MB=${FUZZ_RSS_MB:-1024}
FUZZ_MALLOC_MB=${FUZZ_MALLOC_MB:-64}
FUZZ_TARGETS=${FUZZ_TARGETS:-"fuzz_recovery fuzz_api"}
SKIP_APT=${SKIP_APT:-0}
OUT=build-fuzz
CC=${FUZZ_CC:-clang-14}

say() { printf '[fuzz] %s\n' "$*"; }
die() {
  printf '[fuzz] ERROR: %s\n' "$*" >&2
  printf 'fuzz: 0 passed, 1 failed\n'
  exit 1
}

install_clang() {
  local missing=() pkg as_root=()
  [[ "$SKIP_APT" == 1 ]] && return 0
  command -v dpkg >/dev/null 2>&1 || return 0
  for pkg in clang-14 libclang-rt-14-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}; not root and no sudo"
    as_root=(sudo)
  fi
  say "installing ${missing[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

install_clang
command -v "$CC" >/dev/null 2>&1 || die "$CC not found"
pkg-config --exists ck || die "pkg-config cannot find ck (install libck-dev)"

mkdir -p "$OUT/artifacts"
CK_CFLAGS=$(pkg-config --cflags ck)
CK_LIBS=$(pkg-config --libs ck)
# shellcheck disable=SC2206
CFLAGS=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra
  -Wno-unused-function -I include -I lib -I workers $CK_CFLAGS)
# shellcheck disable=SC2206
LIBS=($CK_LIBS -lisal -lpthread)
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all)
LIB_SRCS=(lib/*.c workers/*.c)

build() { # build OUTPUT SANITIZERS... -- SOURCES...
  local out=$1
  shift
  say "+ $CC ... -o $out"
  "$CC" "${CFLAGS[@]}" "$@" "${LIB_SRCS[@]}" "${LIBS[@]}" -o "$out"
}

say "=== building into $OUT/ ==="
build "$OUT/make_seeds" "${SAN[@]}" fuzz/make_seeds.c || die "make_seeds: build failed"
for t in $FUZZ_TARGETS; do
  build "$OUT/$t" -fsanitize=fuzzer "${SAN[@]}" "fuzz/$t.c" || die "$t: build failed"
done

# The targets fsync a lot: on tmpfs they run several times faster.
if [[ -z "${FUZZ_TMPDIR:-}" ]]; then
  if [[ -d /dev/shm && -w /dev/shm ]]; then
    FUZZ_TMPDIR=/dev/shm
  else
    FUZZ_TMPDIR=${TMPDIR:-/tmp}
  fi
fi
export TMPDIR=$FUZZ_TMPDIR
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Seeds: regenerated when a corpus directory is missing or empty.
seed_needed=0
for d in fuzz/corpus/recovery fuzz/corpus/api; do
  if [[ ! -d "$d" ]] || [[ -z "$(ls -A "$d" 2>/dev/null)" ]]; then
    seed_needed=1
  fi
done
if ((seed_needed)); then
  say "=== generating seed corpora ==="
  mkdir -p fuzz/corpus/recovery fuzz/corpus/api
  "$OUT/make_seeds" fuzz/corpus/recovery fuzz/corpus/api || die "make_seeds failed"
fi

passed=0
failed=0
for t in $FUZZ_TARGETS; do
  case "$t" in
    fuzz_recovery) seeds=fuzz/corpus/recovery max_len=32768 ;;
    fuzz_api) seeds=fuzz/corpus/api max_len=2048 ;;
    *) seeds=fuzz/corpus/$t max_len=4096 ;;
  esac
  ok=1

  # Regressions: a plain run over every saved crasher.
  regs=()
  if [[ -d "fuzz/regressions/$t" ]]; then
    while IFS= read -r -d '' f; do regs+=("$f"); done \
      < <(find "fuzz/regressions/$t" -type f ! -name '*.md' ! -name '.*' -print0 | sort -z)
  fi
  if ((${#regs[@]} > 0)); then
    say "=== $t: ${#regs[@]} regression input(s) ==="
    if "$OUT/$t" -timeout=10 -rss_limit_mb="$FUZZ_RSS_MB" -malloc_limit_mb="$FUZZ_MALLOC_MB" -detect_leaks=1 "${regs[@]}" \
      >"$OUT/$t.regressions.log" 2>&1; then
      say "$t: regressions passed"
    else
      say "$t: REGRESSION FAILED; $OUT/$t.regressions.log follows"
      tail -n 60 "$OUT/$t.regressions.log"
      ok=0
    fi
  fi

  say "=== $t: fuzzing for ${FUZZ_SECONDS}s ==="
  mkdir -p "$OUT/corpus/$t"
  rc=0
  "$OUT/$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb="$FUZZ_RSS_MB" -malloc_limit_mb="$FUZZ_MALLOC_MB" -timeout=10 \
    -detect_leaks=1 -print_final_stats=1 -max_len="$max_len" \
    -artifact_prefix="$OUT/artifacts/$t-" \
    "$OUT/corpus/$t" "$seeds" >"$OUT/$t.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" | tail -n 1)
  say "$t: ${execs:-?} executions in ${FUZZ_SECONDS}s (exit $rc)"
  if ((rc != 0)); then
    say "$t: FAILED; the end of $OUT/$t.log follows"
    tail -n 80 "$OUT/$t.log"
    ls -1 "$OUT/artifacts/" | sed -n "/^$t-/s/^/[fuzz]   artifact: /p"
    ok=0
  fi
  if ((ok)); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done

printf 'fuzz: %d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
