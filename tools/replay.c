/*
 * replay.c -- the queue state machine of docs/FORMAT.md section 7, written
 * from the document: it is the tool's own reading of the format, so its
 * results cross-check lib/apply.c (and lib/recovery.c for record times).
 *
 * Invariants:
 *  1. Every operation is read through the file window and checked against
 *     the body's end and the state before it changes anything; a bad one
 *     stops the frame with a message and the file offset of its type byte.
 *     Operations before it stay applied (FORMAT.md 7.6).
 *  2. An APPEND's record lengths are all checked before its run is stored,
 *     so it is applied whole or not at all.  Payloads are skipped, never
 *     copied (queues.c invariant 1).
 *  3. A CHECKPOINT is checked whole (fields, names, ids against the live
 *     queues, distinct ids and names among its entries) before its effect,
 *     which then follows the four steps of 7.7 in order.
 *  4. Floors, nexts and next_queue_id only move forward.
 *  5. Record times (FORMAT.md 7.8): time_ms, the current time, only grows.
 *     A TIME operation raises it (a smaller value is clamped: ignored), and
 *     so does the start of a version 1 segment, to the file's modification
 *     time; it carries over from frame to frame and segment to segment.
 *     Each APPEND's run takes it, so a queue's runs are in time order as
 *     in position order, and a time is kept per run, never per record.
 *  6. Named consumers (version 4): a COMMIT raises a consumer's position
 *     or adds the consumer, never lowers it; an UNCOMMIT needs the
 *     consumer; a CHECKPOINT entry's consumer list is checked whole
 *     (names, no name twice) before it becomes the queue's whole set, at
 *     the listed positions.
 */
#include "tool.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
  struct tool_file *f;
  uint64_t p;   /* file offset of the next byte */
  uint64_t end; /* file offset of the body's end */
};

static int
fail(struct tool_replay *r, uint64_t off, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(r->problem, sizeof(r->problem), fmt, ap);
  va_end(ap);
  r->problem_off = off;
  return 1;
}

static bool
get(struct cursor *c, uint64_t *v)
{
  size_t n;
  const uint8_t *b, *q;

  if (c->p >= c->end)
    return false;
  n = c->end - c->p < MRLOG_VARINT_MAX ? (size_t)(c->end - c->p)
                                       : MRLOG_VARINT_MAX;
  b = tool_file_get(c->f, c->p, n);
  if (b == NULL)
    return false;
  q = b;
  if (!tool_varint(&q, b + n, v))
    return false;
  c->p += (uint64_t)(q - b);
  return true;
}

/* A name: length, then 1..1024 bytes without NUL, copied into r->name. */
static bool
get_name(struct tool_replay *r, struct cursor *c, size_t *len)
{
  uint64_t n;
  const uint8_t *b;

  if (!get(c, &n) || n == 0 || n > MRLOG_QUEUE_NAME_MAX ||
      n > c->end - c->p)
    return false;
  b = tool_file_get(c->f, c->p, (size_t)n);
  if (b == NULL || memchr(b, '\0', (size_t)n) != NULL)
    return false;
  memcpy(r->name, b, (size_t)n);
  r->name[n] = '\0';
  *len = (size_t)n;
  c->p += n;
  return true;
}

static uint64_t
sat_inc(uint64_t v)
{
  return v == UINT64_MAX ? UINT64_MAX : v + 1;
}

static void
truncate_queue(struct tool_queue *q, uint64_t position)
{
  uint64_t b = sat_inc(position);

  tool_queue_drop_upto(q, position);
  if (q->floor < b)
    q->floor = b;
  if (q->next < b)
    q->next = b;
}

static int
op_create(struct tool_replay *r, struct cursor *c, uint64_t at)
{
  uint64_t id;
  size_t len;

  if (!get(c, &id) || !get_name(r, c, &len))
    return fail(r, at, "CREATE: malformed");
  if (id < r->next_queue_id)
    return fail(r, at, "CREATE: queue id %" PRIu64 " below next_queue_id "
                "%" PRIu64, id, r->next_queue_id);
  if (tool_queue_by_id(&r->queues, id) != NULL ||
      tool_queue_by_name(&r->queues, r->name, len) != NULL)
    return fail(r, at, "CREATE: queue id %" PRIu64 " or its name is live",
                id);
  tool_queue_create(&r->queues, id, r->name, len);
  r->next_queue_id = id + 1;
  return 0;
}

static int
op_delete(struct tool_replay *r, struct cursor *c, uint64_t at)
{
  struct tool_queue *q;
  uint64_t id;

  if (!get(c, &id))
    return fail(r, at, "DELETE: malformed");
  if ((q = tool_queue_by_id(&r->queues, id)) == NULL)
    return fail(r, at, "DELETE: no live queue has id %" PRIu64, id);
  tool_queue_delete(&r->queues, q);
  return 0;
}

static int
op_truncate(struct tool_replay *r, struct cursor *c, uint64_t at)
{
  struct tool_queue *q;
  uint64_t id, position;

  if (!get(c, &id) || !get(c, &position))
    return fail(r, at, "TRUNCATE: malformed");
  if ((q = tool_queue_by_id(&r->queues, id)) == NULL)
    return fail(r, at, "TRUNCATE: no live queue has id %" PRIu64, id);
  truncate_queue(q, position);
  return 0;
}

static int
op_append(struct tool_replay *r, struct tool_seg *seg, struct cursor *c,
          uint64_t at)
{
  struct tool_queue *q;
  struct tool_run run;
  uint64_t id, first, count, i, len;

  if (!get(c, &id) || !get(c, &first) || !get(c, &count))
    return fail(r, at, "APPEND: malformed");
  if (count == 0)
    return fail(r, at, "APPEND: count 0");
  if ((q = tool_queue_by_id(&r->queues, id)) == NULL)
    return fail(r, at, "APPEND: no live queue has id %" PRIu64, id);
  if (first < q->next)
    return fail(r, at, "APPEND: first position %" PRIu64 " below the "
                "queue's next %" PRIu64, first, q->next);
  if (first > MRLOG_POSITION_MAX || count - 1 > MRLOG_POSITION_MAX - first)
    return fail(r, at, "APPEND: positions past 2^64-2");
  run.first = first;
  run.count = count;
  run.off = c->p;
  run.bytes = 0;
  run.time_ms = r->time_ms; /* invariant 5 */
  run.seg = seg;
  for (i = 0; i < count; i++) { /* invariant 2 */
    if (!get(c, &len))
      return fail(r, at, "APPEND: record %" PRIu64 " of %" PRIu64
                  ": bad length", i, count);
    if (len > MRLOG_RECORD_MAX || len > c->end - c->p)
      return fail(r, at, "APPEND: record %" PRIu64 " of %" PRIu64
                  ": length %" PRIu64 " too large", i, count, len);
    c->p += len;
    run.bytes += len;
  }
  tool_queue_add_run(q, &run);
  q->next = first + count;
  return 0;
}

/* TIME (format version 2): the time the following APPENDs were framed.
 * Times never go backwards: an older one is clamped (invariant 5). */
static int
op_time(struct tool_replay *r, const struct tool_seg *seg, struct cursor *c,
        uint64_t at)
{
  uint64_t ms;

  if (seg->version < 2)
    return fail(r, at, "TIME operation in a version %u segment",
                (unsigned)seg->version);
  if (!get(c, &ms))
    return fail(r, at, "TIME: malformed");
  if (ms > r->time_ms)
    r->time_ms = ms;
  return 0;
}

/* COMMIT and UNCOMMIT (version 4; invariant 6). */
static int
op_consumer(struct tool_replay *r, const struct tool_seg *seg,
            struct cursor *c, uint64_t at, bool commit)
{
  const char *what = commit ? "COMMIT" : "UNCOMMIT";
  struct tool_queue *q;
  struct tool_consumer *k;
  uint64_t id, position = 0;
  size_t len;

  if (seg->version < TOOL_FORMAT_VERSION_CONSUMERS)
    return fail(r, at, "%s operation in a version %u segment", what,
                (unsigned)seg->version);
  if (!get(c, &id) || !get_name(r, c, &len) || (commit && !get(c, &position)))
    return fail(r, at, "%s: malformed", what);
  if ((q = tool_queue_by_id(&r->queues, id)) == NULL)
    return fail(r, at, "%s: no live queue has id %" PRIu64, what, id);
  k = tool_consumer_find(q, r->name, len);
  if (!commit) {
    if (k == NULL)
      return fail(r, at, "UNCOMMIT: queue %" PRIu64 " has no consumer "
                  "\"%s\"", id, r->name);
    tool_consumer_remove(q, k);
  } else if (k == NULL) {
    tool_consumer_add(q, r->name, len, position);
  } else if (position <= k->position) {
    return fail(r, at, "COMMIT: consumer \"%s\" of queue %" PRIu64
                " at %" PRIu64 ", not past its %" PRIu64, r->name, id,
                position, k->position);
  } else {
    k->position = position;
  }
  return 0;
}

/* A consumer list of a version 4 CHECKPOINT entry. */
struct clist {
  uint64_t n;
  char **names;
  size_t *lens;
  uint64_t *pos;
};

static int
clist_read(struct tool_replay *r, struct cursor *c, uint64_t at, uint64_t e,
           struct clist *l)
{
  uint64_t i, j;
  size_t len;

  if (!get(c, &l->n) || l->n > (c->end - c->p) / 3)
    return fail(r, at, "CHECKPOINT: entry %" PRIu64 ": bad consumer count",
                e);
  l->names = tool_xcalloc((size_t)l->n + 1, sizeof(*l->names));
  l->lens = tool_xcalloc((size_t)l->n + 1, sizeof(*l->lens));
  l->pos = tool_xcalloc((size_t)l->n + 1, sizeof(*l->pos));
  for (i = 0; i < l->n; i++) {
    if (!get_name(r, c, &len) || !get(c, &l->pos[i]))
      return fail(r, at, "CHECKPOINT: entry %" PRIu64 ": consumer %" PRIu64
                  " malformed", e, i);
    l->names[i] = tool_xmalloc(len + 1);
    memcpy(l->names[i], r->name, len + 1);
    l->lens[i] = len;
    for (j = 0; j < i; j++)
      if (l->lens[j] == len && memcmp(l->names[j], r->name, len) == 0)
        return fail(r, at, "CHECKPOINT: entry %" PRIu64 ": consumer \"%s\" "
                    "listed twice", e, r->name);
  }
  return 0;
}

static void
clist_free(struct clist *l)
{
  uint64_t i;

  for (i = 0; l->names != NULL && i < l->n; i++)
    free(l->names[i]);
  free(l->names);
  free(l->lens);
  free(l->pos);
}

/* Makes the list q's whole set of consumers, at the listed positions: an
 * older segment may hold a higher commit of a consumer that a deleted
 * segment removed and committed again lower (FORMAT.md 7.7 step 3). */
static void
clist_apply(struct tool_queue *q, const struct clist *l)
{
  struct tool_consumer *k;
  uint64_t i;
  size_t j;

  for (j = 0; j < q->nconsumers; j++)
    q->consumers[j].listed = false;
  for (i = 0; i < l->n; i++) {
    k = tool_consumer_find(q, l->names[i], l->lens[i]);
    if (k == NULL)
      k = tool_consumer_add(q, l->names[i], l->lens[i], l->pos[i]);
    else
      k->position = l->pos[i]; /* the listed one, even if lower */
    k->listed = true;
  }
  for (j = 0; j < q->nconsumers;) {
    if (!q->consumers[j].listed)
      tool_consumer_remove(q, &q->consumers[j]);
    else
      q->consumers[j++].listed = false;
  }
}

struct entry {
  uint64_t id;
  uint64_t floor;
  uint64_t next;
  char *name;
  size_t len;
  struct clist consumers; /* version 4 */
};

static int
cmp_entry_id(const void *a, const void *b)
{
  uint64_t x = ((const struct entry *)a)->id, y = ((const struct entry *)b)->id;

  return x < y ? -1 : x > y;
}

static int
cmp_entry_name(const void *a, const void *b)
{
  const struct entry *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->name, y->name, n);

  return c != 0 ? c : (x->len < y->len ? -1 : x->len > y->len);
}

/* Reads and checks every entry (invariant 3).  OUT: *entries, *n. */
static int
checkpoint_read(struct tool_replay *r, struct cursor *c, uint64_t at,
                uint64_t next_id, uint64_t count, bool v4,
                struct entry **entries)
{
  struct entry *v, *sorted;
  struct tool_queue *q;
  uint64_t i;
  size_t len;

  /* Each entry takes at least 5 bytes: never allocate past the body. */
  if (count > (c->end - c->p) / 5)
    return fail(r, at, "CHECKPOINT: %" PRIu64 " entries cannot fit", count);
  v = tool_xcalloc((size_t)count + 1, sizeof(*v));
  *entries = v;
  for (i = 0; i < count; i++) {
    if (!get(c, &v[i].id) || !get_name(r, c, &len) || !get(c, &v[i].floor) ||
        !get(c, &v[i].next))
      return fail(r, at, "CHECKPOINT: entry %" PRIu64 " malformed", i);
    v[i].name = tool_xmalloc(len + 1);
    memcpy(v[i].name, r->name, len + 1);
    v[i].len = len;
    if (v4 && clist_read(r, c, at, i, &v[i].consumers) != 0)
      return 1;
    if (v[i].floor > v[i].next)
      return fail(r, at, "CHECKPOINT: entry %" PRIu64 ": floor %" PRIu64
                  " above next %" PRIu64, i, v[i].floor, v[i].next);
    if (v[i].id >= next_id)
      return fail(r, at, "CHECKPOINT: entry %" PRIu64 ": id %" PRIu64
                  " not below next_queue_id %" PRIu64, i, v[i].id, next_id);
    q = tool_queue_by_id(&r->queues, v[i].id);
    if (q != NULL && (q->name_len != len || memcmp(q->name, v[i].name, len)))
      return fail(r, at, "CHECKPOINT: entry %" PRIu64 ": id %" PRIu64
                  " is live under another name", i, v[i].id);
  }
  if (count < 2)
    return 0;
  sorted = tool_xmalloc((size_t)count * sizeof(*sorted));
  memcpy(sorted, v, (size_t)count * sizeof(*sorted));
  qsort(sorted, (size_t)count, sizeof(*sorted), cmp_entry_id);
  for (i = 1; i < count && sorted[i - 1].id != sorted[i].id; i++)
    ;
  if (i == count) {
    qsort(sorted, (size_t)count, sizeof(*sorted), cmp_entry_name);
    for (i = 1; i < count && cmp_entry_name(&sorted[i - 1], &sorted[i]); i++)
      ;
  }
  free(sorted);
  if (i < count)
    return fail(r, at, "CHECKPOINT: two entries share an id or a name");
  return 0;
}

static int
op_checkpoint(struct tool_replay *r, const struct tool_seg *seg,
              struct cursor *c, uint64_t at)
{
  bool v4 = seg->version >= TOOL_FORMAT_VERSION_CONSUMERS;
  struct entry *v = NULL;
  struct tool_queue **all, *q;
  uint64_t next_id, count, i;
  int rc;

  if (!get(c, &next_id) || !get(c, &count))
    return fail(r, at, "CHECKPOINT: malformed");
  rc = checkpoint_read(r, c, at, next_id, count, v4, &v);
  if (rc == 0) {
    /* Step 1: delete every live queue the checkpoint does not list. */
    all = tool_queues_sorted(&r->queues);
    for (i = 0; all[i] != NULL; i++)
      all[i]->listed = false;
    for (i = 0; i < count; i++)
      if ((q = tool_queue_by_id(&r->queues, v[i].id)) != NULL)
        q->listed = true;
    for (i = 0; all[i] != NULL; i++)
      if (!all[i]->listed)
        tool_queue_delete(&r->queues, all[i]);
    free(all);
    for (i = 0; i < count; i++) {
      /* Step 2: create the listed queues that do not exist. */
      q = tool_queue_by_id(&r->queues, v[i].id);
      if (q == NULL)
        q = tool_queue_create(&r->queues, v[i].id, v[i].name, v[i].len);
      /* Step 3: truncate below the floor, raise next. */
      if (v[i].floor > 0)
        truncate_queue(q, v[i].floor - 1);
      if (q->next < v[i].next)
        q->next = v[i].next;
      if (v4)
        clist_apply(q, &v[i].consumers);
    }
    /* Step 4. */
    if (r->next_queue_id < next_id)
      r->next_queue_id = next_id;
  }
  for (i = 0; v != NULL && i < count; i++) {
    free(v[i].name);
    clist_free(&v[i].consumers);
  }
  free(v);
  return rc;
}

void
tool_replay_init(struct tool_replay *r)
{
  memset(r, 0, sizeof(*r));
  tool_queues_init(&r->queues);
}

void
tool_replay_free(struct tool_replay *r)
{
  tool_queues_free(&r->queues);
}

void
tool_replay_segment(struct tool_replay *r, const struct tool_seg *seg)
{
  /* Invariant 5; lib/recovery.c note_v1_time.  The latest moment any of
   * the file's records can have been written. */
  if (seg->version < 2 && seg->file.mtime_ms > r->time_ms)
    r->time_ms = seg->file.mtime_ms;
}

int
tool_replay_frame(struct tool_replay *r, struct tool_seg *seg,
                  uint64_t body_off, uint32_t body_len, bool first_frame)
{
  struct cursor c = { &seg->file, body_off, body_off + body_len };
  bool first_op = true;
  const uint8_t *t;
  uint64_t at;
  int rc;

  while (c.p < c.end) {
    at = c.p;
    t = tool_file_get(c.f, c.p, 1);
    if (t == NULL)
      return fail(r, at, "body unreadable");
    c.p++;
    if (first_frame && first_op && *t != MRLOG_OP_CHECKPOINT)
      return fail(r, at, "the segment's first operation (type %u) is not "
                  "a CHECKPOINT", *t);
    switch (*t) {
    case MRLOG_OP_CREATE: rc = op_create(r, &c, at); break;
    case MRLOG_OP_DELETE: rc = op_delete(r, &c, at); break;
    case MRLOG_OP_TRUNCATE: rc = op_truncate(r, &c, at); break;
    case MRLOG_OP_APPEND: rc = op_append(r, seg, &c, at); break;
    case MRLOG_OP_CHECKPOINT:
      if (!(first_frame && first_op))
        return fail(r, at, "CHECKPOINT that is not the segment's first "
                    "operation");
      rc = op_checkpoint(r, seg, &c, at);
      break;
    case TOOL_OP_TIME:
      rc = op_time(r, seg, &c, at);
      break;
    case TOOL_OP_COMMIT:
    case TOOL_OP_UNCOMMIT:
      rc = op_consumer(r, seg, &c, at, *t == TOOL_OP_COMMIT);
      break;
    default:
      return fail(r, at, "unknown operation type %u", *t);
    }
    if (rc != 0)
      return rc;
    first_op = false;
  }
  return 0;
}
