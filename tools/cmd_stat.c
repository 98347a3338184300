/*
 * cmd_stat.c -- `mrlog stat [--json] DIR`: segments, queues (with the
 * times of their oldest and newest retained records), totals, the state
 * of the tail and whether a live process holds the log.
 *
 * Read-only (scan.c): no lock is taken, nothing is created or changed, so
 * it may run against a log a process has open.  Exit 0, or 2 when
 * mrlog_open would refuse the log as corrupt (the state shown is then what
 * could be read around the damage).
 */
#include "tool.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_consumer(const void *a, const void *b)
{
  const struct tool_consumer *x = *(const struct tool_consumer *const *)a;
  const struct tool_consumer *y = *(const struct tool_consumer *const *)b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->name, y->name, n);

  return c != 0 ? c : (x->len < y->len ? -1 : x->len > y->len);
}

/* "consumers": {"NAME": position, ...}, by name (bytewise), and a comma:
 * the committed positions of the queue's consumers (format version 4). */
static void
print_consumers(const struct tool_queue *q)
{
  const struct tool_consumer **v;
  size_t i;

  fputs("\"consumers\": {", stdout);
  v = tool_xmalloc((q->nconsumers ? q->nconsumers : 1) * sizeof(*v));
  for (i = 0; i < q->nconsumers; i++)
    v[i] = &q->consumers[i];
  qsort(v, q->nconsumers, sizeof(*v), cmp_consumer);
  for (i = 0; i < q->nconsumers; i++) {
    if (i > 0)
      fputs(", ", stdout);
    tool_json_string(stdout, v[i]->name, v[i]->len);
    printf(": %" PRIu64, v[i]->position);
  }
  fputs("}, ", stdout);
  free(v);
}

static void
usage(FILE *out)
{
  fputs("usage: mrlog stat [--json] DIR\n"
        "Shows the segments, the queues and the totals of the log in DIR, "
        "whether\n"
        "its tail needs healing and whether a running process holds it.  "
        "Read-only:\n"
        "takes no lock and changes nothing.  Shows the tool's own reading "
        "of the files\n"
        "and what the library's read-only open recovers (\"library:\").\n"
        "  --json      one JSON document on stdout (fields: mrlog(1))\n"
        "  -q, --quiet no messages on stderr but errors\n"
        "  -h, --help  this text\n", out);
}

static const char *
tail_str(enum tool_tail t)
{
  switch (t) {
  case TOOL_TAIL_CLEAN: return "clean";
  case TOOL_TAIL_ZERO_ROOM: return "zero_room";
  case TOOL_TAIL_TORN: return "torn";
  case TOOL_TAIL_HEADER: return "torn_header";
  case TOOL_TAIL_BEING_WRITTEN: return "being_written";
  }
  return "?";
}

static void
offset_cell(FILE *out, uint64_t v)
{
  if (v == UINT64_MAX)
    fprintf(out, "  %10s", "-");
  else
    fprintf(out, "  %10" PRIu64, v);
}

/* A time cell of the queue table: ISO 8601, or "-" for an empty queue
 * (whose first_time_ms and last_time_ms are 0). */
static void
time_cell(char *buf, size_t n, const struct tool_queue *q, uint64_t ms)
{
  if (q->records == 0)
    snprintf(buf, n, "-");
  else
    tool_format_time(buf, n, ms);
}

static void
print_text(const struct tool_log *log, struct tool_queue **qs,
           const struct tool_problems *ps, const struct tool_view *v,
           int vrc)
{
  uint64_t records = 0, bytes = 0;
  char held[96], first[TOOL_TIME_STR], last[TOOL_TIME_STR];
  size_t i;

  tool_holder_describe(held, sizeof(held), log->holder);
  printf("log:       %s\n", log->path);
  printf("state:     %s\n", held);
  printf("segments:  %zu (%" PRIu64 " bytes)\n", log->nsegs, log->disk_bytes);
  printf("  %-22s  %3s  %12s  %8s  %10s  %10s  %10s  %s\n", "SEGMENT", "VER",
         "SIZE", "FRAMES", "FIRST", "LAST", "RETAINED", "STATE");
  for (i = 0; i < log->nsegs; i++) {
    const struct tool_seg *s = log->segs[i];

    printf("  %-22s  %3" PRIu32 "  %12" PRIu64 "  %8" PRIu64, s->name,
           s->version, s->file.size, s->frames);
    offset_cell(stdout, s->first_frame);
    offset_cell(stdout, s->last_frame);
    printf("  %10" PRIu64 "  %s\n", s->retained, tool_seg_state_str(s->state));
  }
  printf("queues:    %zu\n", log->replay.queues.count);
  printf("  %-20s  %20s  %20s  %12s  %14s  %-24s  %s\n", "QUEUE", "FIRST",
         "NEXT", "RECORDS", "BYTES", "FIRST TIME", "LAST TIME");
  for (i = 0; qs[i] != NULL; i++) {
    const struct tool_queue *q = qs[i];

    fputs("  ", stdout);
    tool_text_bytes(stdout, q->name, q->name_len, true);
    time_cell(first, sizeof(first), q, tool_queue_first_time(q));
    time_cell(last, sizeof(last), q, tool_queue_last_time(q));
    printf("%*s  %20" PRIu64 "  %20" PRIu64 "  %12" PRIu64 "  %14" PRIu64
           "  %-24s  %s\n", q->name_len < 20 ? (int)(20 - q->name_len) : 0,
           "", tool_queue_first(q), q->next, q->records, q->bytes, first,
           last);
    records += q->records;
    bytes += q->bytes;
  }
  printf("totals:    %zu segments, %" PRIu64 " bytes on disk, %" PRIu64
         " frames, %zu queues, %" PRIu64 " records, %" PRIu64
         " payload bytes\n", log->nsegs, log->disk_bytes, log->frames,
         log->replay.queues.count, records, bytes);
  switch (log->tail) {
  case TOOL_TAIL_CLEAN:
    printf("tail:      clean\n");
    break;
  case TOOL_TAIL_ZERO_ROOM:
    printf("tail:      clean (%" PRIu64 " bytes of zero-filled room after the "
           "last frame of %s, at offset %" PRIu64 ")\n",
           log->tail_seg->zero_bytes, log->tail_seg->name, log->tail_off);
    break;
  case TOOL_TAIL_TORN:
    printf("tail:      needs healing: %s offset %" PRIu64 ": recovery would "
           "cut %" PRIu64 " bytes\n", log->tail_seg->name, log->tail_off,
           log->tail_bytes);
    break;
  case TOOL_TAIL_HEADER:
    printf("tail:      needs healing: %s has a torn file header: recovery "
           "would remove it (%" PRIu64 " bytes)\n", log->tail_seg->name,
           log->tail_bytes);
    break;
  case TOOL_TAIL_BEING_WRITTEN:
    printf("tail:      being written by the running process (%s offset "
           "%" PRIu64 ")\n", log->tail_seg->name, log->tail_off);
    break;
  }
  tool_view_summary(v, vrc, false);
  if (log->corrupt > 0)
    printf("corrupt:   %zu problem(s); mrlog_open would fail with "
           "MRLOG_ECORRUPT (see mrlog verify)\n", log->corrupt);
  for (i = 0; i < ps->n; i++) {
    fputs("  ", stdout);
    tool_problem_print(stdout, &ps->v[i]);
  }
  if (ps->dropped > 0)
    printf("  (%zu more problems not listed)\n", ps->dropped);
}

static void
print_json(const struct tool_log *log, struct tool_queue **qs,
           const struct tool_problems *ps, const struct tool_view *v,
           int vrc)
{
  uint64_t records = 0, bytes = 0;
  size_t i;

  fputs("{\n  ", stdout);
  tool_json_str(stdout, "directory", log->path, false);
  fputs(",\n", stdout);
  tool_holder_json(stdout, log->holder);
  printf("  \"format_version_min\": %u,\n  \"format_version_max\": %u,\n",
         TOOL_FORMAT_VERSION_MIN, TOOL_FORMAT_VERSION_MAX);
  fputs("  \"segments\": [", stdout);
  for (i = 0; i < log->nsegs; i++) {
    const struct tool_seg *s = log->segs[i];

    fputs(i ? ",\n    {" : "\n    {", stdout);
    tool_json_str(stdout, "segment", s->name, true);
    tool_json_u64(stdout, "number", s->segno, true);
    tool_json_u64(stdout, "version", s->version, true);
    tool_json_u64(stdout, "size", s->file.size, true);
    tool_json_u64(stdout, "frames", s->frames, true);
    if (s->first_frame == UINT64_MAX)
      fputs("\"first_frame\": null, \"last_frame\": null, ", stdout);
    else {
      tool_json_u64(stdout, "first_frame", s->first_frame, true);
      tool_json_u64(stdout, "last_frame", s->last_frame, true);
    }
    tool_json_u64(stdout, "end", s->end, true);
    tool_json_u64(stdout, "zero_bytes", s->zero_bytes, true);
    tool_json_u64(stdout, "retained_records", s->retained, true);
    tool_json_str(stdout, "state", tool_seg_state_str(s->state), false);
    fputc('}', stdout);
  }
  fputs("\n  ],\n  \"queues\": [", stdout);
  for (i = 0; qs[i] != NULL; i++) {
    const struct tool_queue *q = qs[i];

    /* One queue per line, "name" first: scripts may grep for it. */
    fputs(i ? ",\n    {" : "\n    {", stdout);
    fputs("\"name\": ", stdout);
    tool_json_string(stdout, q->name, q->name_len);
    fputs(", ", stdout);
    tool_json_u64(stdout, "first_position", tool_queue_first(q), true);
    tool_json_u64(stdout, "next_position", q->next, true);
    tool_json_u64(stdout, "records", q->records, true);
    tool_json_u64(stdout, "bytes", q->bytes, true);
    tool_json_u64(stdout, "first_time_ms", tool_queue_first_time(q), true);
    tool_json_u64(stdout, "last_time_ms", tool_queue_last_time(q), true);
    print_consumers(q);
    tool_json_u64(stdout, "id", q->id, false);
    fputc('}', stdout);
    records += q->records;
    bytes += q->bytes;
  }
  fputs(i ? "\n  ],\n" : "],\n", stdout);
  printf("  \"totals\": {\"segments\": %zu, \"disk_bytes\": %" PRIu64
         ", \"frames\": %" PRIu64 ", \"queues\": %zu, \"records\": %" PRIu64
         ", \"bytes\": %" PRIu64 "},\n", log->nsegs, log->disk_bytes,
         log->frames, log->replay.queues.count, records, bytes);
  fputs("  \"tail\": {", stdout);
  tool_json_str(stdout, "state", tail_str(log->tail), true);
  printf("\"needs_healing\": %s, ", log->tail == TOOL_TAIL_TORN ||
         log->tail == TOOL_TAIL_HEADER ? "true" : "false");
  tool_json_str(stdout, "segment",
                log->tail_seg ? log->tail_seg->name : NULL, true);
  tool_json_u64(stdout, "offset", log->tail_off, true);
  tool_json_u64(stdout, "bytes", log->tail_bytes, false);
  fputs("},\n", stdout);
  tool_problems_json(stdout, ps);
  tool_view_summary(v, vrc, true);
  printf("  \"corrupt\": %s\n}\n", log->corrupt ? "true" : "false");
}

int
tool_cmd_stat(int argc, char **argv)
{
  struct tool_problems ps = { 0 };
  struct tool_queue **qs;
  struct tool_opts o;
  struct tool_view v;
  struct tool_log log;
  int rc, vrc;

  tool_opts_init(&o);
  rc = tool_opts_parse(&o, argc, argv, TOOL_ACCEPT_JSON, usage);
  tool_opts_free(&o);
  if (rc >= 0)
    return rc;
  if (optind + 1 != argc) {
    tool_warn("expected one directory");
    usage(stderr);
    return TOOL_EXIT_USAGE;
  }
  rc = tool_log_open(&log, argv[optind]);
  if (rc == 0) {
    log.report = tool_problems_collect;
    log.report_arg = &ps;
    rc = tool_log_scan(&log);
  }
  if (rc == 0) {
    /* The library's own open, beside the tool's reader: both shown. */
    vrc = tool_view_open(&v, argv[optind], true);
    qs = tool_queues_sorted(&log.replay.queues);
    if (o.json)
      print_json(&log, qs, &ps, &v, vrc);
    else
      print_text(&log, qs, &ps, &v, vrc);
    free(qs);
    tool_view_close(&v);
    rc = log.corrupt ? TOOL_EXIT_CORRUPT : TOOL_EXIT_OK;
  }
  tool_problems_free(&ps);
  tool_log_close(&log);
  return rc;
}
