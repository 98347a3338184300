#!/usr/bin/env bash
# completion_test.sh -- tools/completion/mrlog, sourced in bash:
# `mrlog <TAB>` offers the subcommands, `mrlog dump --<TAB>` dump's
# options (and mirror's, replica's), `mrlog dump --format <TAB>` the
# formats.
set -euo pipefail

src=${top_srcdir:-${srcdir:-.}}/tools/completion/mrlog
# shellcheck source=/dev/null
source "$src"

fail() {
  echo "FAIL: $*"
  exit 1
}

# complete WORDS...: runs _mrlog on the words (the last one is completed)
# and leaves the candidates, sorted, one per line, in $got.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _mrlog
  got=$(printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' ')
}

complete_words mrlog ""
for c in stat dump verify tail salvage bench mirror replica help; do
  [[ " $got" == *" $c "* ]] || fail "mrlog <TAB>: no $c in: $got"
done
complete_words mrlog sa
[[ $got == "salvage " ]] || fail "mrlog sa<TAB>: $got"
complete_words mrlog dump --
for o in --queue --from --to --last --json --format --quiet --help; do
  [[ " $got" == *" $o "* ]] || fail "mrlog dump --<TAB>: no $o in: $got"
done
[[ " $got" != *" --follow "* ]] || fail "dump offers --follow"
complete_words mrlog tail --f
[[ $got == "--follow --format --from " ]] || fail "mrlog tail --f<TAB>: $got"
complete_words mrlog mirror --
for o in --to --queues --once --timeout --json --consumer \
  --records-per-message --messages-in-flight --quiet --help; do
  [[ " $got" == *" $o "* ]] || fail "mrlog mirror --<TAB>: no $o in: $got"
done
[[ " $got" != *" --from "* ]] || fail "mirror offers --from"
complete_words mrlog replica --f
[[ $got == "--from " ]] || fail "mrlog replica --f<TAB>: $got"
complete_words mrlog mirror --to ""
[[ -z ${got// /} ]] || fail "mirror --to <TAB>: $got"
complete_words mrlog help re
[[ $got == "replica " ]] || fail "mrlog help re<TAB>: $got"
complete_words mrlog dump --format ""
[[ $got == "hex json text " ]] || fail "--format <TAB>: $got"
echo "PASS: completion_test.sh"
