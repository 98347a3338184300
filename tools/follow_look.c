/*
 * follow_look.c -- one look of `mrlog tail --follow`: the followed queue
 * in a read-only view of the log (follow.c opens a fresh one for each
 * look), compared with what the last look saw; its new records are
 * printed through mrlog_range_time, as without --follow.
 *
 * Invariants:
 *  1. Positions below fw->next are done with: printed, passed over by the
 *     filter or -n, or below --from.  Each look visits [next, --to) of its
 *     view and then sets next to the queue's next_position in that view
 *     (capped at --to): a view is a frozen prefix of the log, and every
 *     record appended later takes a position at or past it.  Records are
 *     streamed from the library's view to stdout; none is kept.
 *  2. An incarnation of the queue ends when it is deleted.  The public
 *     API shows no queue id, so a look tells a new incarnation by what
 *     one incarnation never does: a queue missing from the view (deleted:
 *     noted, and waited for); a first_position or next_position lower
 *     than at the last look (neither ever decreases); or a different
 *     record, or none, at the position of the anchor, a record the last
 *     look saw that is not truncated yet (its time, length and payload
 *     CRC-32C are compared).  A queue deleted and created again between
 *     two looks whose new records all lie past the anchor, and past the
 *     old next_position, is not told apart: its records are printed all
 *     the same, without the note.
 *  3. A new incarnation is printed from its first record: --from applies
 *     only to the first incarnation (the one present at start, or the
 *     first to appear); --to, --since and --until apply to every record.
 *  4. A queue's times never decrease, so a record at or after --until
 *     ends the look and tail (no later record can pass); follow.c also
 *     ends it once any queue has reached --until.
 *  5. --max counts the records printed; the look stops at the last one.
 */
#include "follow.h"

#include <string.h>

#include "crc32c.h"

/* The visitor of a look's walk over the queue. */
struct walk {
  struct tool_follower *fw;
  bool print;      /* false: only count what passes the filter (-n) */
  uint64_t passed; /* records passing the filter, when counting */
  uint64_t skip;   /* records passing the filter to pass over first (-n) */
  bool visited;    /* a record was visited: last is its position */
  uint64_t last;
  bool until;      /* a record at or after --until was met */
  bool stopped;    /* the walk ended early */
};

static int
visit(void *arg, uint64_t position, uint64_t unix_ms, const void *data,
      size_t len)
{
  struct walk *w = arg;
  struct tool_follower *fw = w->fw;
  const struct tool_follow *o = fw->opt;

  if (tool_follow_signal != 0 ||
      (o->filter.has_until && unix_ms >= o->filter.until)) {
    w->until = tool_follow_signal == 0; /* invariant 4 */
    w->stopped = true;
    return 1;
  }
  if (w->print) {
    w->visited = true;
    w->last = position;
  }
  if (!tool_filter_time(&o->filter, unix_ms))
    return 0;
  if (!w->print) {
    w->passed++;
    return 0;
  }
  if (w->skip > 0) {
    w->skip--;
    return 0;
  }
  if (fw->budget == 0) { /* --max 0 */
    w->stopped = true;
    return 1;
  }
  tool_print_mem(stdout, o->format, o->queue, strlen(o->queue), position,
                 unix_ms, data, len);
  if (--fw->budget == 0) { /* invariant 5 */
    w->stopped = true;
    return 1;
  }
  return 0;
}

/* "PROG: queue NAME what" on stderr, the name escaped as printed, so that
 * it can be pasted back into --queue. */
static void
note(const struct tool_follower *fw, const char *what)
{
  const char *q = fw->opt->queue;

  fflush(stdout);
  fprintf(stderr, "%s: queue ", tool_prog);
  tool_text_bytes(stderr, q, strlen(q), true);
  fprintf(stderr, " %s\n", what);
}

/* The visitor that reads one record into an anchor. */
struct fetch {
  struct tool_anchor *a;
  bool found;
};

static int
fetch_one(void *arg, uint64_t position, uint64_t unix_ms, const void *data,
          size_t len)
{
  struct fetch *f = arg;

  f->a->position = position;
  f->a->time_ms = unix_ms;
  f->a->len = len;
  f->a->crc = mrlog__crc32c(data, len);
  f->found = true;
  return 1;
}

/* The first record of the queue in [from, to) into *a: true if found. */
static bool
fetch(mrlog *log, const char *queue, uint64_t from, uint64_t to,
      struct tool_anchor *a)
{
  struct fetch f = { a, false };

  mrlog_range_time(log, queue, from, to, fetch_one, &f);
  return f.found;
}

/* Invariant 2: is info (this look's) another incarnation than the last
 * look's? */
static bool
recreated(const struct tool_follower *fw, mrlog *log,
          const struct mrlog_queue_info *info)
{
  struct tool_anchor now;
  uint64_t p = fw->anchor.position;

  if (info->first_position < fw->first_seen ||
      info->next_position < fw->next_seen)
    return true;
  if (!fw->has_anchor || p < info->first_position)
    return false; /* truncated since: nothing left to compare */
  return !fetch(log, fw->opt->queue, p, p + 1, &now) ||
         now.time_ms != fw->anchor.time_ms || now.len != fw->anchor.len ||
         now.crc != fw->anchor.crc;
}

/* Forgets the incarnation that ended (invariant 3). */
static void
restart(struct tool_follower *fw)
{
  fw->first_incarnation = false;
  fw->next = 0;
  fw->first_seen = 0;
  fw->next_seen = 0;
  fw->has_anchor = false;
}

void
tool_follower_init(struct tool_follower *fw, const struct tool_follow *opt)
{
  memset(fw, 0, sizeof(*fw));
  fw->opt = opt;
  fw->budget = opt->max;
  fw->first_incarnation = true;
  fw->next = opt->filter.from;
}

void
tool_follow_gone(struct tool_follower *fw)
{
  if (fw->present && !fw->opt->quiet)
    note(fw, "deleted: waiting for it");
  if (fw->present)
    restart(fw);
  fw->present = false;
}

/* The queue is not in this look's view. */
static int
absent(struct tool_follower *fw, enum tool_look kind)
{
  if (kind == TOOL_LOOK_ONCE) { /* as without --follow */
    tool_warn("no such queue: %s", fw->opt->queue);
    return TOOL_EXIT_NOQUEUE;
  }
  if (kind == TOOL_LOOK_FIRST && !fw->opt->quiet)
    note(fw, "does not exist yet: waiting for it");
  if (kind == TOOL_LOOK_NEXT)
    tool_follow_gone(fw);
  return -1;
}

/* Where the anchor goes after a walk: the last record visited, else (the
 * old one truncated, or none yet) the first retained below next. */
static void
move_anchor(struct tool_follower *fw, mrlog *log, const struct walk *w,
            const struct mrlog_queue_info *info)
{
  const char *q = fw->opt->queue;

  if (w->visited)
    fw->has_anchor = fetch(log, q, w->last, w->last + 1, &fw->anchor);
  else if (!fw->has_anchor || fw->anchor.position < info->first_position)
    fw->has_anchor = fetch(log, q, info->first_position, fw->next,
                           &fw->anchor);
}

int
tool_follow_look(struct tool_follower *fw, mrlog *log, enum tool_look kind)
{
  const struct tool_follow *o = fw->opt;
  struct mrlog_queue_info info;
  struct walk w;
  uint64_t end;
  int st;

  st = mrlog_queue_info(log, o->queue, &info);
  if (st == MRLOG_ENOQUEUE)
    return absent(fw, kind);
  if (st != 0) {
    tool_warn("%s: mrlog_queue_info: %s", o->dir, mrlog_strerror(st));
    return tool_exit_of(st);
  }
  if (kind == TOOL_LOOK_NEXT && !fw->present && !o->quiet)
    note(fw, fw->first_incarnation ? "created"
                                   : "created: following it from its "
                                     "first record");
  else if (kind == TOOL_LOOK_NEXT && recreated(fw, log, &info)) {
    if (!o->quiet)
      note(fw, "deleted and created again: following the new queue from "
               "its first record");
    restart(fw);
  }
  fw->present = true;
  memset(&w, 0, sizeof(w));
  w.fw = fw;
  if (o->last != UINT64_MAX &&
      (kind == TOOL_LOOK_ONCE || kind == TOOL_LOOK_FIRST)) {
    /* -n: a first pass counts what passes (bounded memory). */
    st = mrlog_range_time(log, o->queue, fw->next, o->filter.to, visit, &w);
    if (st < 0)
      goto fail;
    w.skip = w.passed > o->last ? w.passed - o->last : 0;
    w.until = w.stopped = false;
  }
  w.print = true;
  tool_follow_signals(true);
  st = mrlog_range_time(log, o->queue, fw->next, o->filter.to, visit, &w);
  tool_follow_signals(false);
  if (st < 0)
    goto fail;
  if (kind == TOOL_LOOK_ONCE || fw->budget == 0 || w.until)
    return 0;
  if (w.stopped)
    return -1; /* a signal: follow.c ends */
  end = info.next_position < o->filter.to ? info.next_position
                                          : o->filter.to;
  if (end > fw->next) /* invariant 1 */
    fw->next = end;
  move_anchor(fw, log, &w, &info);
  fw->first_seen = info.first_position;
  fw->next_seen = info.next_position;
  return -1;
fail:
  tool_warn("%s: queue %s: %s", o->dir, o->queue, mrlog_strerror(st));
  return tool_exit_of(st);
}
