#!/usr/bin/env bash
# uv_poll.sh -- runs examples/uv_poll (mrlog's poll-mode completions on a
# libuv loop) as a test, in a temporary directory of its own; it fails
# unless every record completed once, in order, on the loop thread.  Built
# and run only when configure found libuv.  Run by `make check` from the
# top build directory.
set -euo pipefail

exec "${top_builddir:-.}/examples/uv_poll"
