#!/usr/bin/env bash
# cpp_example.sh -- runs examples/cpp_example (typical use of mrlog.hpp) as a
# test, in a temporary directory of its own; it fails unless the data it
# wrote is there after its reopen.  A script under tests/ so that CI's tally
# (scripts/test.sh counts tests/*.trs) includes it.  Run by `make check`
# from the top build directory.
set -euo pipefail

exec "${top_builddir:-.}/examples/cpp_example"
