#!/usr/bin/env bash
# no_history_check.sh -- the repository's files are reference, not a diary:
# no document, comment or test name speaks of work sessions or cites issue
# numbers (the history is in git log).  Greps every file of the source tree
# (the git checkout when there is one, else the distributed tree) and prints
# each offending line.  Run by `make check`.
set -euo pipefail
: "${top_srcdir:=.}"
# What the pattern finds: a session of work named by its number or as this,
# the previous, the last, the next or a work one, its start or end, and a
# tracker number after the word for a tracked task (with or without '#').
# Other senses of the word (a client's connection in the examples, an open
# of the log in the tests) are not history.
pattern='\bsessions? [0-9]+|\b(work|this|previous|last|next) session\b'
pattern+="|\bsession's (start|end|final|last)\b|\bissues? ?#?[0-9]+"
self=tests/no_history_check.sh

cd "$top_srcdir"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
  [[ "$(git rev-parse --show-toplevel)" == "$(pwd -P)" ]]; then
  files=$(git ls-files)
else
  # A distributed tree: its own files, without what autotools generate or
  # copy in (configure, Makefile.in, build-aux/, m4/) and without a build
  # made inside it (make distcheck's _build and _inst).
  files=$(find . -type f ! -path './.git/*' ! -path './_build/*' \
    ! -path './_inst/*' ! -path './build-aux/*' ! -path './m4/*' \
    ! -path './autom4te.cache/*' ! -name configure ! -name aclocal.m4 \
    ! -name Makefile.in ! -name 'config.h.in' | sed 's|^\./||')
fi

hits=$(printf '%s\n' "$files" |
  grep -v -x -F -e "$self" |
  grep -v -E '\.(png|gz|bin)$' |
  tr '\n' '\0' |
  xargs -0 grep -I -n -i -E "$pattern" -- 2>/dev/null || true)
if [[ -n "$hits" ]]; then
  printf '%s\n' "$hits"
  echo "FAIL: the lines above speak of work sessions or issue numbers"
  exit 1
fi
echo "no_history_check: $(printf '%s\n' "$files" | wc -l) files, no session or issue-number lines"
