/*
 * json.c -- mrlog-bench's machine-readable output: one flat JSON object per
 * line (the settings, the device limits, then one line per run).
 *
 * Invariants:
 *   1. Objects are flat and their strings hold no commas or quotes except
 *      escaped ones in "error", so bench/plot.sh can read them with awk.
 *   2. "Not applicable" (NAN, or -1 for counters) is written as null.
 *   3. Each line is flushed as soon as it is written, so a crash or an
 *      interrupt keeps every finished run.
 */
#include "report.h"

#include <math.h>
#include <string.h>

static void
jnum(FILE *out, const char *key, double v)
{
  if (isnan(v) || isinf(v))
    fprintf(out, ",\"%s\":null", key);
  else if (v == floor(v) && fabs(v) < 1e15)
    fprintf(out, ",\"%s\":%.0f", key, v);
  else
    fprintf(out, ",\"%s\":%.6g", key, v);
}

static void
jstr(FILE *out, const char *key, const char *s)
{
  fprintf(out, ",\"%s\":", key);
  if (s == NULL) {
    fputs("null", out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(out, "\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      fprintf(out, "\\u%04x", (unsigned char)*s);
    else
      fputc(*s, out);
  }
  fputc('"', out);
}

void
report_json_config(FILE *out, const struct report_config *c)
{
  fputs("{\"engine\":\"config\",\"workload\":\"config\"", out);
  jnum(out, "scale", c->scale);
  jnum(out, "runs", c->runs);
  jnum(out, "w1_records", (double)c->w1_records);
  jnum(out, "w3_records", (double)c->w3_records);
  jnum(out, "w2_seconds", c->w2_seconds);
  jnum(out, "w2_threads", c->w2_threads);
  jnum(out, "segment_bytes", (double)c->segment_bytes);
  jnum(out, "w5_segment_bytes", (double)c->w5_segment_bytes);
  jnum(out, "w5_timeout_s", c->w5_timeout_s);
  jstr(out, "dir", c->dir);
  fprintf(out, ",\"tmpfs\":%s", c->tmpfs ? "true" : "false");
  jstr(out, "not_built", c->not_built);
  fputs("}\n", out);
  fflush(out);
}

void
report_json(FILE *out, const struct bench_result *r)
{
  fputs("{", out);
  fprintf(out, "\"engine\":\"%s\",\"workload\":\"%s\"", r->engine,
          r->workload);
  jnum(out, "run", r->run);
  if (strcmp(r->engine, "device") == 0) {
    jnum(out, "seq_bytes", r->seq_bytes);
    jnum(out, "seq_gib_s", r->seq_gib_s);
    jnum(out, "seq_sync_gib_s", r->seq_sync_gib_s);
    jnum(out, "fdatasync_append_ops_s", r->sync_append_ops);
    jnum(out, "fdatasync_append_p50_us", r->sync_append_p50_us);
    jnum(out, "fdatasync_append_p99_us", r->sync_append_p99_us);
    jnum(out, "fdatasync_overwrite_ops_s", r->sync_over_ops);
    jnum(out, "fdatasync_overwrite_p50_us", r->sync_over_p50_us);
    jnum(out, "fdatasync_overwrite_p99_us", r->sync_over_p99_us);
    jnum(out, "unlink_files", r->unlink_files);
    jnum(out, "unlink_file_bytes", r->unlink_file_bytes);
    jnum(out, "unlink_calls_ms", r->unlink_calls_ms);
    jnum(out, "unlink_free_ms", r->unlink_free_ms);
    jnum(out, "unlink_freed_bytes", r->unlink_freed_bytes);
  } else {
    jnum(out, "records", (double)r->records);
    jnum(out, "payload_bytes", (double)r->payload_bytes);
    jnum(out, "seconds", r->seconds);
    jnum(out, "rec_per_s", r->rec_per_s);
    jnum(out, "mb_per_s", r->mb_per_s);
    jnum(out, "disk_bytes", r->disk_bytes);
    jnum(out, "disk_bytes_per_rec", r->disk_bytes_per_rec);
    jnum(out, "disk_overhead_per_rec", r->disk_overhead_per_rec);
    jnum(out, "ram_bytes_per_rec", r->ram_bytes_per_rec);
    jnum(out, "ram_rss_bytes_per_rec", r->ram_rss_bytes_per_rec);
    jnum(out, "retained_bytes", r->retained_bytes);
    jnum(out, "rss_before_bytes", (double)r->rss_before_bytes);
    jnum(out, "fsyncs", report_i64(r->fsyncs));
    jnum(out, "fsyncs_interposed", report_i64(r->fsyncs_interposed));
    jnum(out, "p50_us", r->p50_us);
    jnum(out, "p99_us", r->p99_us);
    jnum(out, "p999_us", r->p999_us);
    jnum(out, "syncs_timed", report_i64(r->syncs_timed));
    jnum(out, "sync_p50_us", r->sync_p50_us);
    jnum(out, "sync_p99_us", r->sync_p99_us);
    jnum(out, "sync_p999_us", r->sync_p999_us);
    jnum(out, "sync_max_us", r->sync_max_us);
    if (r->busiest_thread[0] != '\0')
      jstr(out, "busiest_thread", r->busiest_thread);
    jnum(out, "busiest_cpu_s", r->busiest_cpu_s);
    jnum(out, "busiest_wait_s", r->busiest_wait_s);
    jnum(out, "busiest_window_s", r->busiest_window_s);
    jnum(out, "durable_ms", r->durable_ms);
    jnum(out, "space_back_ms", r->space_back_ms);
    jnum(out, "dir_back_ms", r->dir_back_ms);
    jnum(out, "space_freed_bytes", r->space_freed_bytes);
    if (r->drop_caches >= 0)
      fprintf(out, ",\"drop_caches\":%s", r->drop_caches ? "true" : "false");
  }
  jnum(out, "peak_rss_bytes", report_f_peak_rss(r));
  jnum(out, "cpu_s", r->cpu_s);
  jnum(out, "errors", (double)r->errors);
  jstr(out, "error", r->error[0] ? r->error : NULL);
  fputs("}\n", out);
  fflush(out);
}
