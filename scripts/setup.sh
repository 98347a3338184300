#!/usr/bin/env bash
# setup.sh -- make a fresh Debian 12 machine able to build mrlog, then build it.
#
#   1. installs the Debian packages the build needs (only the missing ones;
#      apt-get update runs once, and only when something is missing);
#   2. bootstraps with autoreconf -fi when configure is missing or older than
#      its inputs;
#   3. configures out of tree into $BUILD_DIR (again only when needed);
#   4. runs make -j$JOBS.
#
# Environment:
#   BUILD_DIR       build directory, relative to the repository root or
#                   absolute (default: build)
#   CONFIGURE_ARGS  extra arguments for configure, split on whitespace
#                   (e.g. "--enable-sanitizers --enable-werror")
#   JOBS            parallel make jobs (default: 2)
#   SKIP_APT=1      do not check or install Debian packages
#
# Rerunning it is cheap: every step is skipped when already done.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
CONFIGURE_ARGS=${CONFIGURE_ARGS:-}
JOBS=${JOBS:-2}
SKIP_APT=${SKIP_APT:-0}

case "$BUILD_DIR" in
  /*) build_path=$BUILD_DIR ;;
  *) build_path=$ROOT/$BUILD_DIR ;;
esac

PACKAGES=(
  build-essential
  g++
  autoconf
  automake
  libtool
  pkg-config
  autoconf-archive
  libck-dev
  check
  libisal-dev
  clang-14
  libclang-rt-14-dev
  librocksdb-dev
  liblmdb-dev
  libsqlite3-dev
  libuv1-dev
  liburing-dev
  gnuplot-nox
  python3
)

say() { printf '[setup] %s\n' "$*"; }
die() {
  printf '[setup] ERROR: %s\n' "$*" >&2
  exit 1
}

install_packages() {
  if [[ "$SKIP_APT" == 1 ]]; then
    say "SKIP_APT=1: not checking Debian packages"
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    say "dpkg-query not found (not Debian?): install these by hand if the build fails: ${PACKAGES[*]}"
    return 0
  fi
  local missing=() pkg status
  for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    say "Debian packages: all ${#PACKAGES[@]} present"
    return 0
  fi
  local as_root=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 ||
      die "missing packages (${missing[*]}) and not root, no sudo: install them as root"
    as_root=(sudo)
  fi
  say "installing missing Debian packages: ${missing[*]}"
  say "+ apt-get update"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  say "+ apt-get install -y ${missing[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# True when configure (or a Makefile.in) is missing or older than an input.
needs_bootstrap() {
  local input
  [[ -x configure && -f Makefile.in && -f build-aux/ltmain.sh ]] || return 0
  for input in configure.ac m4/ax_pthread.m4; do
    [[ "$input" -nt configure ]] && return 0
  done
  [[ Makefile.am -nt Makefile.in ]] && return 0
  return 1
}

bootstrap() {
  cd "$ROOT"
  if needs_bootstrap; then
    if [[ -f config.status ]]; then
      die "the source tree was configured in place; run 'make distclean' in $ROOT first (builds go to $BUILD_DIR)"
    fi
    say "+ autoreconf -fi (in $ROOT)"
    autoreconf -fi
  else
    say "configure is up to date: skipping autoreconf"
  fi
}

configure_build() {
  local stamp=$build_path/.mrlog-configure-args
  local args=()
  read -r -a args <<<"$CONFIGURE_ARGS"
  mkdir -p "$build_path"
  if [[ -f "$build_path/config.status" && -f "$build_path/Makefile" &&
    ! "$ROOT/configure" -nt "$build_path/config.status" &&
    -f "$stamp" && "$(cat "$stamp")" == "$CONFIGURE_ARGS" ]]; then
    say "$BUILD_DIR is configured (args: '${CONFIGURE_ARGS}'): skipping configure"
    return 0
  fi
  say "+ cd $build_path && $ROOT/configure ${args[*]}"
  rm -f "$stamp"
  (cd "$build_path" && "$ROOT/configure" "${args[@]}")
  printf '%s' "$CONFIGURE_ARGS" >"$stamp"
}

build() {
  say "+ make -C $build_path -j$JOBS"
  make -C "$build_path" -j"$JOBS"
}

install_packages
bootstrap
configure_build
build
say "build ready in $build_path"
