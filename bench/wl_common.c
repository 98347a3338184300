/*
 * wl_common.c -- what every workload does around its timed part: open the
 * engine, and at the end take its stats, close it and measure the disk.
 *
 * Invariants:
 *   1. rss_before_bytes is taken before the engine is opened, after the
 *      payload buffer is resident, so (peak RSS - rss_before) is what the
 *      engine and the workload's own buffers added.
 *   2. fsyncs for mrlog is stats.fsyncs (since open, before close); for the
 *      peers it is the interposed count over the same window (open .. just
 *      before close).  fsyncs_interposed is that window for every engine.
 *   3. Disk figures are allocated bytes (st_blocks) after close.
 *   4. The busiest thread is measured from just after the open to
 *      wl_timed_end, which a workload calls when its timed part ends.
 */
#include "workloads.h"

#include <math.h>
#include <string.h>

int
wl_open(const struct wl_params *p, enum eng_durability durability,
        struct wl_run *run, struct bench_result *r)
{
  struct eng_config config;
  char err[200] = "";
  int rc;

  memset(&config, 0, sizeof(config));
  config.queues = p->queues;
  config.durability = durability;
  config.sync_interval_ms = p->sync_interval_ms;
  config.segment_bytes = p->segment_bytes;
  r->rss_before_bytes = bench_rss_bytes();
  run->fsync0 = bench_fsync_calls();
  rc = p->engine->open(p->dir, &config, &run->e, err);
  if (rc != 0) {
    bench_result_fail(r, "open: %s", err[0] ? err : "failed");
    run->e = NULL;
  }
  bench_sync_reset();
  bench_thread_cpu_snapshot(&run->cpu0);
  return rc;
}

void
wl_timed_end(struct wl_run *run, struct bench_result *r)
{
  struct bench_thread_cpu now;

  bench_thread_cpu_snapshot(&now);
  if (bench_thread_cpu_busiest(&run->cpu0, &now, r->busiest_thread,
                               sizeof(r->busiest_thread), &r->busiest_cpu_s,
                               &r->busiest_wait_s, &r->busiest_window_s) != 0)
    r->busiest_thread[0] = '\0';
}

void
wl_close(const struct wl_params *p, struct wl_run *run, uint64_t records,
         uint64_t retained, struct bench_result *r)
{
  struct eng_stats st;
  struct bench_sync_summary sync;
  int64_t disk;
  int rc;

  r->retained_bytes = (double)retained;
  bench_sync_summary(&sync);
  r->syncs_timed = sync.count;
  r->sync_p50_us = sync.p50_us;
  r->sync_p99_us = sync.p99_us;
  r->sync_p999_us = sync.p999_us;
  r->sync_max_us = sync.max_us;
  if (p->engine->stats(run->e, &st) == 0) {
    r->fsyncs_interposed = bench_fsync_calls() - run->fsync0;
    r->fsyncs = st.fsyncs >= 0 ? st.fsyncs : r->fsyncs_interposed;
    if (st.memory_bytes >= 0 && st.retained_records > 0)
      r->ram_bytes_per_rec =
          (double)(st.memory_bytes - st.retained_bytes) /
          (double)st.retained_records;
    if (st.retained_bytes >= 0)
      r->retained_bytes = (double)st.retained_bytes;
  }
  rc = p->engine->close(run->e);
  if (rc != 0)
    /* The engine is freed: ask for the status's generic message. */
    bench_result_fail(r, "close: %s", p->engine->strerror(NULL, rc));
  run->e = NULL;
  disk = bench_dir_allocated(p->dir);
  if (disk >= 0 && records > 0) {
    r->disk_bytes = (double)disk;
    r->disk_bytes_per_rec = (double)disk / (double)records;
    r->disk_overhead_per_rec = r->disk_bytes_per_rec - (double)p->record_bytes;
  }
}

void
wl_finish(struct bench_result *r)
{
  if (r->records > 0 && r->peak_rss_bytes > 0 && !isnan(r->retained_bytes))
    r->ram_rss_bytes_per_rec =
        ((double)r->peak_rss_bytes - (double)r->rss_before_bytes -
         r->retained_bytes) /
        (double)r->records;
}
