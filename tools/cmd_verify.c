/*
 * cmd_verify.c -- `mrlog verify [--json] DIR`: checks every file header,
 * frame, checksum, varint and operation, changing nothing, and says what
 * mrlog_open would do with the damage under the default policy.
 *
 * Exit codes: 0 clean (a held log's frame being written is not damage), 1
 * only a tail recovery would cut or remove, 2 corruption (anything else).
 * Each problem is printed with its segment and file offset as it is found;
 * on a terminal a progress bar runs on stderr meanwhile.  Then the
 * library's read-only open of the same directory is shown (view.c), and
 * a disagreement on whether the log is corrupt is reported on stderr.
 */
#include "tool.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

static void
usage(FILE *out)
{
  fputs("usage: mrlog verify [--json] DIR\n"
        "Checks every frame and checksum of the log in DIR without changing "
        "anything.\n"
        "Exit status: 0 clean, 1 only a torn tail that recovery would cut, "
        "2 corrupt.\n"
        "  --json      one JSON document on stdout (fields: mrlog(1))\n"
        "  -q, --quiet no progress bar\n"
        "  -h, --help  this text\n", out);
}

struct verify {
  struct tool_progress progress;
  struct tool_problems problems; /* --json */
  bool json;
};

static void
found(void *arg, const struct tool_problem *p)
{
  struct verify *v = arg;

  if (v->json) {
    tool_problems_collect(&v->problems, p);
    return;
  }
  tool_progress_finish(&v->progress); /* the bar comes back by itself */
  tool_problem_print(stdout, p);
  fflush(stdout);
}

static int
result(const struct tool_log *log)
{
  if (log->corrupt > 0)
    return TOOL_EXIT_CORRUPT;
  if (log->tail == TOOL_TAIL_TORN || log->tail == TOOL_TAIL_HEADER)
    return TOOL_EXIT_TAIL;
  return TOOL_EXIT_OK;
}

static void
print_text(const struct tool_log *log, int rc, const struct tool_view *lv,
           int vrc)
{
  if (rc == TOOL_EXIT_CORRUPT)
    printf("corrupt: %zu problem(s); mrlog_open would fail with "
           "MRLOG_ECORRUPT\n", log->corrupt);
  else if (rc == TOOL_EXIT_TAIL)
    printf("healed tail: recovery would cut %" PRIu64 " bytes (%s offset "
           "%" PRIu64 "); nothing else is damaged\n", log->tail_bytes,
           log->tail_seg->name, log->tail_off);
  else
    printf("clean: %zu segments, %" PRIu64 " frames, %" PRIu64 " bytes\n",
           log->nsegs, log->frames, log->disk_bytes);
  tool_view_summary(lv, vrc, false);
}

static void
print_json(const struct tool_log *log, int rc, const struct tool_problems *ps,
           const struct tool_view *lv, int vrc)
{
  static const char *const names[] = { "clean", "healed_tail", "corrupt" };

  fputs("{\n  ", stdout);
  tool_json_str(stdout, "directory", log->path, false);
  fputs(",\n", stdout);
  tool_holder_json(stdout, log->holder);
  printf("  \"result\": \"%s\",\n  \"exit_code\": %d,\n", names[rc], rc);
  printf("  \"segments\": %zu,\n  \"frames\": %" PRIu64 ",\n  \"bytes\": "
         "%" PRIu64 ",\n  \"tail_bytes\": %" PRIu64 ",\n  \"corrupt\": %zu,\n",
         log->nsegs, log->frames, log->disk_bytes, log->tail_bytes,
         log->corrupt);
  tool_problems_json(stdout, ps);
  tool_view_summary(lv, vrc, true);
  printf("  \"being_written\": %s\n}\n",
         log->tail == TOOL_TAIL_BEING_WRITTEN ? "true" : "false");
}

int
tool_cmd_verify(int argc, char **argv)
{
  struct tool_opts o;
  struct verify v;
  struct tool_view lv;
  struct tool_log log;
  int rc, vrc;

  memset(&v, 0, sizeof(v));
  tool_opts_init(&o);
  rc = tool_opts_parse(&o, argc, argv, TOOL_ACCEPT_JSON, usage);
  tool_opts_free(&o);
  if (rc >= 0)
    return rc;
  v.json = o.json;
  if (optind + 1 != argc) {
    tool_warn("expected one directory");
    usage(stderr);
    return TOOL_EXIT_USAGE;
  }
  rc = tool_log_open(&log, argv[optind]);
  if (rc == 0) {
    tool_progress_init(&v.progress, log.disk_bytes);
    if (o.quiet)
      v.progress.enabled = false;
    log.report = found;
    log.report_arg = &v;
    log.progress = &v.progress;
    rc = tool_log_scan(&log);
    tool_progress_finish(&v.progress);
  }
  if (rc == 0) {
    rc = result(&log);
    /* The cross-check: the library's read-only open of the same files. */
    vrc = tool_view_open(&lv, argv[optind], true);
    if (v.json)
      print_json(&log, rc, &v.problems, &lv, vrc);
    else
      print_text(&log, rc, &lv, vrc);
    if ((rc == TOOL_EXIT_CORRUPT) != (vrc == TOOL_EXIT_CORRUPT ||
                                      (vrc == 0 && lv.damaged)))
      tool_warn("%s: the library's read-only open %s, this reader finds "
                "the log %s: one of them misreads the format", argv[optind],
                vrc == 0 && !lv.damaged ? "succeeds" : "refuses it",
                rc == TOOL_EXIT_CORRUPT ? "corrupt" : "not corrupt");
    tool_view_close(&lv);
  }
  tool_problems_free(&v.problems);
  tool_log_close(&log);
  return rc;
}
