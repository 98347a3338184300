#!/usr/bin/env bash
# api_doc_check.sh -- docs/API.md agrees with include/mrlog.h and with the
# defaults the library sets (tests/api_doc_check.py says what is compared).
# Run by `make check` from the top build directory.
set -euo pipefail
: "${top_builddir:=.}" "${top_srcdir:=.}"
facts=$(mktemp)
trap 'rm -f "$facts"' EXIT
"$top_builddir/tests/api_facts" >"$facts"
python3 "$top_srcdir/tests/api_doc_check.py" "$top_srcdir/include/mrlog.h" \
  "$top_srcdir/docs/API.md" "$facts" "$top_srcdir/docs/man/mrlog.3"
