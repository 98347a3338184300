#!/bin/sh
# bench/breakdown.sh -- where the CPU time of one record goes, per stage.
#
# Usage: breakdown.sh MRLOG_BENCH [WORKLOAD [SCALE [ENGINE]]]
#   MRLOG_BENCH  path of bench/mrlog-bench
#   WORKLOAD     W1 (default), W1b or W4warm
#   SCALE        --scale of the run (default 0.2: 200,000 records)
#   ENGINE       mrlog (default: the default, mapped store) or mrlog-copy
#
# It runs one run of the workload under `perf record -e cpu-clock -g`
# (software sampling: hardware cycle counters are often missing in
# virtual machines), walks every sample's call chain from the leaf up and
# charges the sample to the stage of the first frame the table below
# names.  It prints, per stage, the CPU nanoseconds per record and the
# share of all samples of the process (harness included), then the
# leaf symbols no table row matched.  CPU time, not wall time: a stage
# that waits costs nothing here.  Sampling is statistical; at the
# default scale a run gives a few thousand samples, enough for shares
# down to about 1 %.
#
# The table maps a symbol pattern (an awk regular expression on the
# whole symbol name) to a stage.  Order matters: the first row that
# matches a frame wins, and frames are tried from the leaf up, so a
# memcpy inside mrlog__stage_append is charged to the staging stage.
set -u

bench=${1:?usage: breakdown.sh MRLOG_BENCH [WORKLOAD [SCALE [ENGINE]]]}
workload=${2:-W1}
scale=${3:-0.2}
engine=${4:-mrlog}
freq=${BREAKDOWN_FREQ:-4999}

if ! command -v perf >/dev/null 2>&1; then
  echo "breakdown.sh: perf not found (linux-tools)" >&2
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrlog-breakdown.XXXXXX") || exit 1
# BREAKDOWN_KEEP=1 keeps the directory (perf.data, the run's JSON).
if [ -z "${BREAKDOWN_KEEP:-}" ]; then trap 'rm -rf "$tmp"' EXIT; fi

callgraph=${BREAKDOWN_CALLGRAPH:-dwarf,16384}
if ! perf record -q -e cpu-clock -F "$freq" --call-graph "$callgraph" \
    -o "$tmp/perf.data" -- \
    "$bench" --engines "$engine" --workloads "$workload" --runs 1 \
    --scale "$scale" --no-device --json "$tmp/run.json" \
    >"$tmp/run.txt" 2>"$tmp/run.err"; then
  echo "breakdown.sh: the run under perf failed:" >&2
  cat "$tmp/run.err" >&2
  exit 1
fi

line=$(grep "\"workload\":\"$workload\"" "$tmp/run.json" | head -n 1)
records=$(printf '%s\n' "$line" | sed -n 's/.*"records":\([0-9]*\).*/\1/p')
cpu=$(printf '%s\n' "$line" | sed -n 's/.*"cpu_s":\([0-9.e+-]*\).*/\1/p')
rate=$(printf '%s\n' "$line" | sed -n 's/.*"rec_per_s":\([0-9.e+-]*\).*/\1/p')
if [ -z "$records" ] || [ "$records" = 0 ]; then
  echo "breakdown.sh: no $workload result in the run's JSON" >&2
  exit 1
fi

cat >"$tmp/table" <<'EOF'
# pattern                                       stage
__x64_sys_fdatasync|__x64_sys_fsync             fdatasync/fsync syscall
__x64_sys_pwrite64|__x64_sys_pwritev|__x64_sys_write$  write syscalls
__x64_sys_pread64|__x64_sys_read$               read syscalls
__x64_sys_futex|futex_wake|futex_wait           futex wake/wait
__x64_sys_madvise|__x64_sys_mmap|__x64_sys_munmap  mmap/madvise
__x64_sys_fallocate|__x64_sys_ftruncate         fallocate/ftruncate
exc_page_fault|asm_exc_page_fault               page faults
^crc32|mrlog__crc32c                            crc32c
^(mrlog_append|mrlog_append_batch|mrlog_append_cb|mrlog_append_batch_cb|submit_request)$  submit (lib/submit.c)
^(settle_new|deliver|mrlog__submit_internal)$  submit (lib/submit.c)
^(mrlog__name_hash)$          submit (lib/submit.c)
^(mrlog__stage_|producer_of|release_slot|tls_init)  stage (lib/stage.c)
^(mrlog__admit|mem_reserve)$                    admit (lib/admit.c)
^(mrlog__mem_|mrlog__create_charge|mrlog__heap_size)  memory charging
^(mrlog__wbuf_)               memory charging
^(mrlog__ring_|ring_enqueue_slot)               ring (lib/ring.c)
^(mrlog__batch_)                                batches (lib/batch.c)
^(writer_main|handle|decide_append|maybe_cut)  writer (workers/writer.c)
^(mrlog__writer_commit)       writer (workers/writer.c)
^(mrlog__writer_emit_runs)    frames (writer_frame.c, format.c)
^(mrlog__writer_flush|mrlog__writer_push_op)  frames (writer_frame.c, format.c)
^(mrlog__writer_add_done|mrlog__frame_header)  frames (writer_frame.c, format.c)
^(mrlog__pad_encode)          frames (writer_frame.c, format.c)
^(mrlog__writer_open_segment|mrlog__writer_rotate)  segments, rotation, prefault
^(mrlog__writer_seal|pad_hot|seal_hot|mrlog__seal)  segments, rotation, prefault
^(mrlog__segment|mrlog__prefault|prefault_main)  segments, rotation, prefault
^(mrlog__queue_store|mrlog__queue_store_|chunk_alloc)  index/chunk store
^(mapped_chunk_new|mrlog__chunk_|mrlog__runs_|runs_resize)  index/chunk store
^(mrlog__marks_|marks_resize|mrlog__apply_frame)  index/chunk store
^(mrlog__index_|mrlog__twokey_)  index/chunk store
^(flusher_main|complete_list|deliver_detached)  flusher (workers/flusher.c)
^(mrlog__datasync|mrlog__flusher_|needs_sync)  flusher (workers/flusher.c)
^(mrlog__vis_|mrlog__visible_next)  flusher (workers/flusher.c)
^(mrlog__durable_next)        flusher (workers/flusher.c)
^(mrlog__req_)                                  requests (lib/req.c)
^(mrlog__complete|mrlog__future_|mrlog_forget)  futures (lib/future.c)
^(mrlog_wait|mrlog_ready|cache_release|pool_init)  futures (lib/future.c)
^(mrlog__wake_)               futures (lib/future.c)
^(mrlog__metrics_|mrlog__hist_)                 metrics
^(mrlog__recover|recover_one|mrlog__scan_|mrlog__read_file)  recovery scan
^(mrlog__block_|mrlog__frame_check|mrlog__holes_)  recovery scan
^(mrlog__get_varint)          recovery scan
^(mrlog_range|range|mrlog_cursor_|next_slow|mrlog__readahead)  range reads
^(readahead_main|mrlog__filemap_)  range reads
^(mrlog_open|mrlog_close|mrlog__open_with_io|destroy)  open/close
^(mrlog__queue_new|mrlog__queue_free)  open/close
^(on_done|w1_|wl_|bench_|producer|run_|make_child|harness_|eng_)  harness
^(mrlog_bench)                harness
^(malloc|free|_int_malloc|_int_free|sysmalloc)  malloc/free (unattributed)
^(calloc|realloc|cfree|malloc_consolidate)  malloc/free (unattributed)
^(unlink_chunk)               malloc/free (unattributed)
^(_dl_|dl_main|_start|__libc_start|_Fork|__clone|exit_mmap)  process start/exit
^(execve|do_exit)             process start/exit
# Rows after this line are tried only when no frame matched a row above.
^(__memcpy|__memmove|memcpy)                    memcpy (caller not unwound)
pvm_irq_enable|^_raw_spin                       kernel, caller not unwound
EOF

# Only the forked child that ran the workload counts: the process whose
# threads include the library's (named mrlog-writer, mrlog-flusher, ...).
pids=$(perf script -i "$tmp/perf.data" -F pid,comm 2>/dev/null |
  awk '$1 ~ /^mrlog-/ && $1 != "mrlog-bench" { print $2 }' | sort -u |
  tr '\n' ' ')

# Child and harness symbols the table does not know are left as
# "unmatched" and listed, so a new function shows up rather than hides.
perf script -i "$tmp/perf.data" -F pid,comm,period,ip,sym 2>/dev/null | awk \
  -v pids="$pids" -v records="$records" -v table="$tmp/table" '
  BEGIN {
    n = 0; last = 0
    while ((getline l < table) > 0) {
      if (l ~ /^# Rows after/) { last = n; continue }
      if (l ~ /^#/ || l ~ /^[ \t]*$/) continue
      split(l, f, /[ \t][ \t]+/)
      n++; pat[n] = f[1]; stage[n] = f[2]
    }
  }
  function classify(   i, j) {
    for (i = 1; i <= depth; i++)
      for (j = 1; j <= last; j++)
        if (frame[i] ~ pat[j]) return stage[j]
    for (i = 1; i <= depth; i++)
      for (j = last + 1; j <= n; j++)
        if (frame[i] ~ pat[j]) return stage[j]
    unmatched[frame[1]] += period
    return "other (unmatched)"
  }
  function flush() {
    if (depth > 0 && keep) { s = classify(); ns[s] += period; total += period }
    depth = 0
  }
  # A sample is a header line "comm pid period", then one line per
  # frame (tab-indented, "address symbol"), then an empty line.
  /^[ \t]*$/ { flush(); next }
  !/^\t/ {
    flush(); period = $NF + 0
    keep = index(" " pids " ", " " $(NF - 1) " ") > 0
    next
  }
  {
    # "    ffffffff8133cac0 native_set_pte" or "  1ba07 _dl_start+0x..."
    sym = $2; sub(/\+0x[0-9a-f]+$/, "", sym)
    frame[++depth] = sym
  }
  END {
    flush()
    for (s in ns)
      printf "S\t%.1f\t%s\t%.1f%%\n", ns[s] / records, s, 100 * ns[s] / total
    printf "T\t%.1f\n", total / records
    for (u in unmatched)
      if (unmatched[u] / records >= 1)
        printf "U\t%.1f\t%s\n", unmatched[u] / records, u
  }' >"$tmp/out"

echo "$workload, engine $engine, $records records, scale $scale:" \
  "$rate rec/s, run CPU $cpu s (perf cpu-clock at $freq Hz)"
printf '%-40s %10s %7s\n' stage ns/record share
grep '^S' "$tmp/out" | sort -t"$(printf '\t')" -k2,2 -rn |
  awk -F'\t' '{ printf "%-40s %10s %7s\n", $3, $2, $4 }'
grep '^T' "$tmp/out" | awk -F'\t' '{ printf "%-40s %10s %7s\n", \
  "total (every sample of the process)", $2, "100%" }'
[ -n "${BREAKDOWN_KEEP:-}" ] && echo "kept: $tmp"
echo "unmatched leaf symbols over 1 ns/record:"
grep '^U' "$tmp/out" | sort -t"$(printf '\t')" -k2,2 -rn |
  awk -F'\t' '{ printf "  %-50s %8s\n", $3, $2 }'
