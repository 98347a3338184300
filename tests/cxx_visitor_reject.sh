#!/usr/bin/env bash
# cxx_visitor_reject.sh -- mrlog.hpp's range visitors must return void or
# bool: a visitor returning int (whose 0 would convert to false and stop
# the walk silently) must not compile.  Compiles each snippet below with
# $CXX -fsyntax-only against include/mrlog.hpp: the int ones must fail
# with the wrapper's static_assert message, the void and bool ones must
# compile (so a failure is the visitor's doing, not the snippet's).  Run
# by `make check` from the top build directory.
set -euo pipefail

cxx=${CXX:-c++}
inc="${top_srcdir:-.}/include"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# snippet NAME EXPECT BODY: BODY runs inside f(const mrlogpp::log &log).
snippet() {
  local name=$1 expect=$2 body=$3 src="$tmp/$1.cc" out="$tmp/$1.out"
  printf '#include <mrlog.hpp>\n#include <cstdint>\n#include <string_view>\n%s\n%s\n%s\n' \
    'void f(const mrlogpp::log &log) {' "$body" '}' >"$src"
  if $cxx -std=c++17 -fsyntax-only -I"$inc" "$src" >"$out" 2>&1; then
    if [ "$expect" = reject ]; then
      echo "FAIL $name: compiled, but its visitor returns int"
      fail=1
    fi
  else
    if [ "$expect" = accept ]; then
      echo "FAIL $name: did not compile:"; head -20 "$out"
      fail=1
    elif ! grep -q 'the visitor returns void or bool' "$out"; then
      echo "FAIL $name: refused, but not by the visitor check:"; head -20 "$out"
      fail=1
    fi
  fi
}

snippet range_int reject \
  'log.range("q", [](std::uint64_t, std::string_view) { return 0; });'
snippet range_payload_int reject \
  'log.range("q", [](std::string_view) -> int { return 1; });'
snippet range_time_int reject \
  'log.range_time("q", 0, UINT64_MAX, [](std::uint64_t, std::uint64_t, std::string_view) { return 0; });'
snippet range_bool accept \
  'log.range("q", [](std::uint64_t, std::string_view) { return true; });'
snippet range_void accept \
  'log.range("q", [](std::string_view) {});'
snippet range_time_bool accept \
  'log.range_time("q", 0, UINT64_MAX, [](std::uint64_t, std::uint64_t, std::string_view) { return false; });'

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "PASS: int visitors are refused, void and bool ones compile"
