#!/usr/bin/env bash
# setup.sh -- make a fresh Debian 12 machine able to build mrlog, then build it.
#
#   1. installs the Debian packages the build needs (only the missing ones;
#      apt-get update runs once, and only when something is missing), and
#      RabbitMQ for the mirror's tests (rabbitmq-server, librabbitmq-dev)
#      with its service blocked: a policy-rc.d that exits 101 is in place
#      during that install, and no process of the rabbitmq user is left
#      running after it (the tests start their own cluster on loopback,
#      tests/rabbitmq_cluster.sh);
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
as_root=()

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

# Installed with the package's service blocked (install_rabbitmq).
RABBITMQ_PACKAGES=(
  rabbitmq-server
  librabbitmq-dev
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
  local missing=() missing_rabbit=()
  mapfile -t missing < <(missing_packages "${PACKAGES[@]}")
  mapfile -t missing_rabbit < <(missing_packages "${RABBITMQ_PACKAGES[@]}")
  if ((${#missing[@]} + ${#missing_rabbit[@]} == 0)); then
    say "Debian packages: all $((${#PACKAGES[@]} + ${#RABBITMQ_PACKAGES[@]})) present"
    return 0
  fi
  as_root=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 ||
      die "missing packages (${missing[*]} ${missing_rabbit[*]}) and not root, no sudo: install them as root"
    as_root=(sudo)
  fi
  say "+ apt-get update"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  if ((${#missing[@]} > 0)); then
    say "+ apt-get install -y ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  fi
  if ((${#missing_rabbit[@]} > 0)); then
    install_rabbitmq "${missing_rabbit[@]}"
  fi
}

# Prints those of the given packages that are not installed.
missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
      echo "$pkg"
    fi
  done
}

# Installs the RabbitMQ packages without letting the package start its
# service: invoke-rc.d asks /usr/sbin/policy-rc.d, and exit status 101 means
# "action forbidden".  An existing policy-rc.d is put back afterwards.  Any
# process the install still started as the rabbitmq user (the broker, or the
# epmd it spawns) is stopped, so nothing listens when this returns.
install_rabbitmq() {
  local policy=/usr/sbin/policy-rc.d saved=
  if [[ -e $policy ]]; then
    saved=$(mktemp)
    "${as_root[@]}" cp -p "$policy" "$saved"
  fi
  printf '#!/bin/sh\n# setup.sh: no service starts during this install.\nexit 101\n' |
    "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod 755 "$policy"
  say "+ apt-get install -y $* (services blocked by $policy)"
  local rc=0
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" || rc=$?
  if [[ -n $saved ]]; then
    "${as_root[@]}" cp -p "$saved" "$policy"
    "${as_root[@]}" rm -f "$saved"
  else
    "${as_root[@]}" rm -f "$policy"
  fi
  ((rc == 0)) || die "apt-get install $* failed (exit $rc)"
  local pids
  pids=$(pgrep -u rabbitmq 2>/dev/null | tr '\n' ' ' || true)
  if [[ -n ${pids// /} ]]; then
    say "stopping processes the install started as rabbitmq: $pids"
    # shellcheck disable=SC2086
    "${as_root[@]}" kill $pids 2>/dev/null || true
    sleep 2
    # shellcheck disable=SC2086
    "${as_root[@]}" kill -9 $pids 2>/dev/null || true
  fi
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
