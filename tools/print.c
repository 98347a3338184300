/*
 * print.c -- records in the three output formats of dump and tail, and
 * the filter that chooses them (positions and times).
 *
 *   text  QUEUE POSITION TIME LEN: PAYLOAD    one line per record; the
 *         name and payload escaped (json.c), spaces in the name too
 *   hex   QUEUE POSITION TIME LEN:            then hexdump -C style lines,
 *           00000000  68 69 ...  |hi|         indented by two spaces
 *   json  {"queue": .., "position": .., "time_ms": .., "time": ..,
 *          "len": .., "data": ..}             one line
 *
 * TIME is ISO 8601 UTC with milliseconds (times.c); time_ms the same time
 * in unix milliseconds.  The records are the library's (a range visitor's
 * data, view.c and follow_look.c), printed as they are visited: one
 * record's payload at a time is in memory, the library's own.
 */
#include "tool.h"

#include <inttypes.h>

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
