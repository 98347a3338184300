/*
 * print.c -- retained records in the three output formats of dump and
 * tail, read back from their segment files, and the filter that chooses
 * them (positions and times).
 *
 *   text  QUEUE POSITION TIME LEN: PAYLOAD    one line per record; the
 *         name and payload escaped (json.c), spaces in the name too
 *   hex   QUEUE POSITION TIME LEN:            then hexdump -C style lines,
 *           00000000  68 69 ...  |hi|         indented by two spaces
 *   json  {"queue": .., "position": .., "time_ms": .., "time": ..,
 *          "len": .., "data": ..}             one line
 *
 * TIME is ISO 8601 UTC with milliseconds (times.c); time_ms the same time
 * in unix milliseconds.
 *
 * Invariants:
 *  1. A payload is never held whole; it is streamed from the file window
 *     in pieces of at most TOOL_WINDOW bytes (a multiple of 16, so hex
 *     lines never straddle two pieces).
 *  2. The filter is applied per run for times (a run's records share one
 *     time) and per record for positions.  A queue's runs ascend in
 *     position and never descend in time (queues.c invariant 5), so the
 *     first run to print is found by one binary search on both, and the
 *     walk stops at the first run past --to or at/after --until.
 */
#include "tool.h"

#include <inttypes.h>

_Static_assert(TOOL_WINDOW % 16 == 0, "hex lines fit whole in a piece");

static void
hex_line(FILE *out, uint64_t at, const uint8_t *p, size_t n)
{
  size_t i;

  fprintf(out, "  %08" PRIx64 " ", at);
  for (i = 0; i < 16; i++) {
    if (i == 8)
      fputc(' ', out);
    if (i < n)
      fprintf(out, " %02x", p[i]);
    else
      fputs("   ", out);
  }
  fputs("  |", out);
  for (i = 0; i < n; i++)
    fputc(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.', out);
  fputs("|\n", out);
}

bool
tool_filter_time(const struct tool_filter *w, uint64_t time_ms)
{
  return time_ms >= w->since && (!w->has_until || time_ms < w->until);
}

static void
print_record(FILE *out, enum tool_format fmt, const char *name,
             size_t name_len, struct tool_file *f, uint64_t position,
             uint64_t time_ms, uint64_t off, uint64_t len)
{
  char when[TOOL_TIME_STR];
  uint64_t done = 0;

  tool_format_time(when, sizeof(when), time_ms);
  if (fmt == TOOL_FORMAT_JSON) {
    fputs("{\"queue\": ", out);
    tool_json_string(out, name, name_len);
    fprintf(out, ", \"position\": %" PRIu64 ", \"time_ms\": %" PRIu64
            ", \"time\": \"%s\", \"len\": %" PRIu64 ", \"data\": \"",
            position, time_ms, when, len);
  } else {
    tool_text_bytes(out, name, name_len, true);
    fprintf(out, " %" PRIu64 " %s %" PRIu64 ":%s", position, when, len,
            fmt == TOOL_FORMAT_TEXT ? " " : "\n");
  }
  while (done < len) {
    size_t n = len - done < TOOL_WINDOW ? (size_t)(len - done) : TOOL_WINDOW;
    const uint8_t *p = tool_file_get(f, off + done, n);
    size_t i;

    if (p == NULL)
      tool_die(TOOL_EXIT_IOERR, "%s: record at offset %" PRIu64 " could not "
               "be read", f->name, off);
    if (fmt == TOOL_FORMAT_JSON)
      tool_json_bytes(out, p, n);
    else if (fmt == TOOL_FORMAT_TEXT)
      tool_text_bytes(out, p, n, false);
    else
      for (i = 0; i < n; i += 16)
        hex_line(out, done + i, p + i, n - i < 16 ? n - i : 16);
    done += n;
  }
  if (fmt == TOOL_FORMAT_JSON)
    fputs("\"}\n", out);
  else if (fmt == TOOL_FORMAT_TEXT)
    fputc('\n', out);
}

void
tool_print_mem(FILE *out, enum tool_format fmt, const char *name,
               size_t name_len, uint64_t position, uint64_t time_ms,
               const void *data, size_t len)
{
  char when[TOOL_TIME_STR];
  const uint8_t *p = data;
  size_t i;

  tool_format_time(when, sizeof(when), time_ms);
  if (fmt == TOOL_FORMAT_JSON) {
    fputs("{\"queue\": ", out);
    tool_json_string(out, name, name_len);
    fprintf(out, ", \"position\": %" PRIu64 ", \"time_ms\": %" PRIu64
            ", \"time\": \"%s\", \"len\": %zu, \"data\": \"",
            position, time_ms, when, len);
    tool_json_bytes(out, p, len);
    fputs("\"}\n", out);
    return;
  }
  tool_text_bytes(out, name, name_len, true);
  fprintf(out, " %" PRIu64 " %s %zu:%s", position, when, len,
          fmt == TOOL_FORMAT_TEXT ? " " : "\n");
  if (fmt == TOOL_FORMAT_TEXT) {
    tool_text_bytes(out, p, len, false);
    fputc('\n', out);
    return;
  }
  for (i = 0; i < len; i += 16)
    hex_line(out, i, p + i, len - i < 16 ? len - i : 16);
}

void
tool_print_run(FILE *out, enum tool_format fmt, const char *name,
               size_t name_len, const struct tool_run *run,
               const struct tool_filter *w, uint64_t *budget)
{
  struct tool_file *f = &run->seg->file;
  uint64_t i, len, off = run->off;

  if (!tool_filter_time(w, run->time_ms)) /* invariant 2 */
    return;
  for (i = 0; i < run->count && *budget > 0 && run->first + i < w->to; i++) {
    if (!tool_record_header(f, &off, &len))
      tool_die(TOOL_EXIT_IOERR, "%s: record at offset %" PRIu64 " could not "
               "be read", f->name, off);
    if (run->first + i >= w->from) {
      print_record(out, fmt, name, name_len, f, run->first + i, run->time_ms,
                   off, len);
      (*budget)--;
    }
    off += len;
  }
}

void
tool_print_queue(FILE *out, enum tool_format fmt, const struct tool_queue *q,
                 const struct tool_filter *w, uint64_t *budget)
{
  size_t lo = q->head, hi = q->len, mid;

  /* The first run whose last position is >= from and whose time is >=
   * since: both hold from some run on (invariant 2). */
  while (lo < hi) {
    const struct tool_run *r;

    mid = lo + (hi - lo) / 2;
    r = &q->runs[mid];
    if (r->first + (r->count - 1) < w->from || r->time_ms < w->since)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (; lo < q->len && *budget > 0 && q->runs[lo].first < w->to &&
         tool_filter_time(w, q->runs[lo].time_ms);
       lo++) {
    const struct tool_run *r = &q->runs[lo];

    tool_print_run(out, fmt, q->name, q->name_len, r, w, budget);
    if (lo + 1 == q->len || q->runs[lo + 1].seg != r->seg)
      tool_seg_idle(r->seg); /* done with this file for now */
  }
}
