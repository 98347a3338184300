#!/usr/bin/env bash
# install_test.sh -- `make install` must give a user everything needed to
# build against mrlog with pkg-config, and `make uninstall` must take it all
# back.  Run by `make check` from the top build directory:
#
#   1. `make install DESTDIR=STAGE` into a temporary staging directory;
#   2. every file a user needs is there: the headers, the shared and static
#      libraries, mrlog.pc, the mrlog tool, the man pages;
#   3. the API reference's example (examples/quickstart.c, which docs/API.md
#      quotes verbatim: checked here too) is compiled with nothing but
#      `pkg-config --cflags --libs mrlog` against the staged copy, linked
#      dynamically and then statically (`pkg-config --static`), and run;
#      the C++ example is compiled the same way against mrlog.hpp;
#   4. the installed tool runs and inspects the log the example wrote;
#   5. `make uninstall DESTDIR=STAGE` leaves no file behind.
#
# Environment (from AM_TESTS_ENVIRONMENT): top_builddir, top_srcdir, MAKE,
# CC, CXX, CFLAGS, CXXFLAGS, LDFLAGS, PTHREAD_CFLAGS and the installation
# directories prefix, bindir, libdir, includedir, mandir, pkglibexecdir.
set -euo pipefail

: "${top_builddir:?}" "${top_srcdir:?}" "${libdir:?}" "${includedir:?}"
: "${bindir:?}" "${mandir:?}"
MAKE=${MAKE:-make}
CC=${CC:-cc}
CXX=${CXX:-c++}

fail() {
  echo "FAIL: $*"
  exit 1
}

if ! command -v pkg-config >/dev/null 2>&1; then
  echo "SKIP: pkg-config is not installed"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/stage

# 1. Install into the staging directory.
if ! "$MAKE" -s -C "$top_builddir" install DESTDIR="$stage" >"$work/install.log" 2>&1; then
  cat "$work/install.log"
  fail "make install DESTDIR=$stage failed"
fi

# 2. The files a user needs.
expect=(
  "$includedir/mrlog.h"
  "$libdir/libmrlog.so"
  "$libdir/pkgconfig/mrlog.pc"
  "$bindir/mrlog"
  "$mandir/man1/mrlog.1"
  "$mandir/man3/mrlog.3"
)
if [[ -e "$top_srcdir/include/mrlog.hpp" ]]; then
  expect+=("$includedir/mrlog.hpp")
fi
static_lib=
if [[ -e "$top_builddir/.libs/libmrlog.a" ]]; then
  static_lib=$stage$libdir/libmrlog.a
  expect+=("$libdir/libmrlog.a")
fi
for f in "${expect[@]}"; do
  [[ -e "$stage$f" ]] || fail "make install did not install $f"
done
echo "ok: installed ${#expect[@]} expected files under $stage"

# 3. Build the example against the staged copy, with pkg-config alone.
export PKG_CONFIG_PATH=$stage$libdir/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$stage
pc_version=$(pkg-config --modversion mrlog) || fail "pkg-config cannot find mrlog"
cflags=$(pkg-config --cflags mrlog)
libs=$(pkg-config --libs mrlog)
static_libs=$(pkg-config --static --libs mrlog)
echo "ok: pkg-config: mrlog $pc_version, cflags '$cflags', libs '$libs'"

example=$top_srcdir/examples/quickstart.c
api_doc=$top_srcdir/docs/API.md
[[ -f "$example" ]] || fail "$example is missing"
# docs/API.md quotes the example verbatim between two marker lines.
sed -n '/^<!-- BEGIN examples\/quickstart.c -->$/,/^<!-- END examples\/quickstart.c -->$/p' \
  "$api_doc" | sed '1,2d;$d' | sed '$d' >"$work/quoted.c"
if ! diff -u "$example" "$work/quoted.c" >"$work/quote.diff"; then
  cat "$work/quote.diff"
  fail "docs/API.md does not quote examples/quickstart.c verbatim"
fi
echo "ok: docs/API.md quotes examples/quickstart.c verbatim"

# shellcheck disable=SC2086 # flags are word lists on purpose
$CC $CFLAGS $cflags -o "$work/quickstart" "$example" $LDFLAGS $libs ||
  fail "cannot build the example with pkg-config --cflags --libs mrlog"
# The staged library, not one installed elsewhere on the machine, is used.
resolved=$(LD_LIBRARY_PATH=$stage$libdir ldd "$work/quickstart" | grep libmrlog || true)
[[ "$resolved" == *"$stage"* ]] || fail "the example does not load the staged library: $resolved"
LD_LIBRARY_PATH=$stage$libdir "$work/quickstart" "$work/log" >"$work/run.out" 2>&1 || {
  cat "$work/run.out"
  fail "the example (dynamically linked) failed"
}
echo "ok: the example, built with pkg-config and linked dynamically, ran"

if [[ -n "$static_lib" ]]; then
  # Only libmrlog is taken statically; its private dependencies come from
  # `pkg-config --static` (Requires.private, Libs.private).
  static_libs=${static_libs//-lmrlog/$static_lib}
  # shellcheck disable=SC2086
  $CC $CFLAGS $cflags -o "$work/quickstart-static" "$example" $LDFLAGS $static_libs ||
    fail "cannot link the example statically with pkg-config --static --libs mrlog"
  if ldd "$work/quickstart-static" | grep -q libmrlog; then
    fail "the static example still loads libmrlog.so"
  fi
  "$work/quickstart-static" "$work/log-static" >"$work/run-static.out" 2>&1 || {
    cat "$work/run-static.out"
    fail "the example (statically linked) failed"
  }
  echo "ok: the example, linked statically with pkg-config --static, ran"
fi

cxx_example=$top_srcdir/examples/cpp_example.cc
if [[ -e "$stage$includedir/mrlog.hpp" && -f "$cxx_example" ]]; then
  # shellcheck disable=SC2086
  $CXX -std=c++17 $CXXFLAGS $cflags -o "$work/cpp_example" "$cxx_example" \
    $LDFLAGS $libs ${PTHREAD_CFLAGS:-} ||
    fail "cannot build the C++ example against the installed mrlog.hpp"
  LD_LIBRARY_PATH=$stage$libdir "$work/cpp_example" "$work/log-cpp" >"$work/run-cpp.out" 2>&1 || {
    cat "$work/run-cpp.out"
    fail "the C++ example failed"
  }
  echo "ok: the C++ example, built against the installed mrlog.hpp, ran"
fi

# 4. The installed tool reads what the example wrote.
LD_LIBRARY_PATH=$stage$libdir "$stage$bindir/mrlog" --version >"$work/version.out" 2>&1 ||
  fail "the installed mrlog tool does not run: $(cat "$work/version.out")"
grep -q "$pc_version" "$work/version.out" ||
  fail "mrlog --version says '$(cat "$work/version.out")', pkg-config says $pc_version"
LD_LIBRARY_PATH=$stage$libdir "$stage$bindir/mrlog" verify "$work/log" >"$work/verify.out" 2>&1 || {
  cat "$work/verify.out"
  fail "the installed mrlog verify failed on the example's log"
}
echo "ok: the installed tool verified the example's log"

# 5. Uninstall leaves nothing behind.
if ! "$MAKE" -s -C "$top_builddir" uninstall DESTDIR="$stage" >"$work/uninstall.log" 2>&1; then
  cat "$work/uninstall.log"
  fail "make uninstall DESTDIR=$stage failed"
fi
left=$(find "$stage" -type f -o -type l)
[[ -z "$left" ]] || fail "make uninstall left files behind: $left"
echo "PASS: install, pkg-config build (dynamic${static_lib:+ and static}), tool, uninstall"
