#!/usr/bin/env bash
# exported_symbols.sh -- the shared library must export only the public API:
# every defined dynamic symbol must start with mrlog_ (and not mrlog__, the
# internal prefix).  Linker-provided symbols are ignored.  Run by `make check`
# from the top build directory; exits 77 (skip) when no shared library was
# built (--disable-shared).
set -euo pipefail

lib="${top_builddir:-.}/.libs/libmrlog.so"
nm_cmd="${NM:-nm}"

if [[ ! -e "$lib" ]]; then
  echo "SKIP: $lib not found (shared library not built)"
  exit 77
fi

# $NM may carry options (libtool sets it to "nm -B"); split it on purpose.
read -r -a nm_argv <<<"$nm_cmd"

symbols=$("${nm_argv[@]}" -D --defined-only "$lib") || {
  echo "FAIL: ${nm_argv[*]} -D --defined-only $lib failed"
  exit 1
}

bad=()
count=0
while read -r _addr type name; do
  [[ -n "${name:-}" ]] || continue
  case "$type" in
    A) continue ;; # absolute symbols: version nodes and the like
  esac
  case "$name" in
    _init | _fini | _edata | _end | __bss_start | __end__ | _etext | _DYNAMIC | _GLOBAL_OFFSET_TABLE_)
      continue ;;
  esac
  name=${name%%@*} # strip symbol versions (name@@VERS)
  count=$((count + 1))
  if [[ "$name" != mrlog_* || "$name" == mrlog__* ]]; then
    bad+=("$type $name")
  fi
done <<<"$symbols"

if ((count == 0)); then
  echo "FAIL: $lib exports no symbols at all"
  exit 1
fi
if ((${#bad[@]} > 0)); then
  echo "FAIL: $lib exports ${#bad[@]} symbol(s) outside the public mrlog_ API:"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "PASS: $lib exports $count symbols, all public mrlog_*"
