#!/usr/bin/env bash
# check_copy.sh -- the whole Check suite (tests/check_mrlog) once more,
# with every log the tests open through th_policy() or th_open(dir, NULL)
# using record_store = MRLOG_STORE_COPY (tests/helpers.c), so both record
# stores pass the same semantics, persistence, recovery, concurrency and
# fault tests (the first run uses the default store, the mapped one on a
# 64-bit address space).  Run by `make check` from the top build directory.
set -euo pipefail

MRLOG_TEST_RECORD_STORE=copy exec "${top_builddir:-.}/tests/check_mrlog"
