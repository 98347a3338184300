/*
 * queues.c -- the live queues of a replay: two indexes (by id, by name)
 * and, per queue, its retained records as runs.
 *
 * Invariants:
 *  1. Payloads are never held in memory.  A run is what one APPEND left:
 *     the position, the file and offset of its first retained record, a
 *     count and a byte total.  Records are read back from the file when
 *     printed, so a log of many GB needs memory per APPEND, not per byte.
 *  2. Runs of a queue are in ascending, non-overlapping positions: an
 *     APPEND is valid only at or above the queue's next (FORMAT.md 7.6),
 *     and next is past every retained record.  Truncation drops from the
 *     front only.
 *  3. A run cut in the middle by a truncation is advanced by reading the
 *     dropped records' length prefixes from its file, which is still open
 *     (segment.c invariant 2), so byte counts stay exact.
 *  4. Every retained record is counted in its segment's `retained`;
 *     dropping records gives the count back through tool_seg_unref.
 *  5. Each run keeps the one time of its records (replay.c invariant 5);
 *     a queue's run times never decrease, so its first and last retained
 *     records' times are those of its first and last runs.
 */
#include "tool.h"

#include <stdlib.h>
#include <string.h>

static size_t
hash_id(uint64_t id, size_t nbuckets)
{
  return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 17) &
         (nbuckets - 1);
}

static size_t
hash_name(const char *name, size_t len, size_t nbuckets)
{
  uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
  size_t i;

  for (i = 0; i < len; i++)
    h = (h ^ (uint8_t)name[i]) * UINT64_C(0x100000001b3);
  return (size_t)(h ^ (h >> 29)) & (nbuckets - 1);
}

void
tool_queues_init(struct tool_queues *t)
{
  t->nbuckets = 64;
  t->count = 0;
  t->by_id = tool_xcalloc(t->nbuckets, sizeof(*t->by_id));
  t->by_name = tool_xcalloc(t->nbuckets, sizeof(*t->by_name));
}

static void
queue_free(struct tool_queue *q)
{
  tool_consumers_free(q);
  free(q->runs);
  free(q->name);
  free(q);
}

void
tool_queues_free(struct tool_queues *t)
{
  struct tool_queue *q, *next;
  size_t b;

  for (b = 0; b < t->nbuckets; b++) {
    for (q = t->by_id[b]; q != NULL; q = next) {
      next = q->id_next;
      queue_free(q);
    }
  }
  free(t->by_id);
  free(t->by_name);
  memset(t, 0, sizeof(*t));
}

struct tool_queue *
tool_queue_by_id(const struct tool_queues *t, uint64_t id)
{
  struct tool_queue *q = t->by_id[hash_id(id, t->nbuckets)];

  while (q != NULL && q->id != id)
    q = q->id_next;
  return q;
}

struct tool_queue *
tool_queue_by_name(const struct tool_queues *t, const char *name, size_t len)
{
  struct tool_queue *q = t->by_name[hash_name(name, len, t->nbuckets)];

  while (q != NULL &&
         (q->name_len != len || memcmp(q->name, name, len) != 0))
    q = q->name_next;
  return q;
}

static void
link_queue(struct tool_queues *t, struct tool_queue *q)
{
  size_t i = hash_id(q->id, t->nbuckets);
  size_t n = hash_name(q->name, q->name_len, t->nbuckets);

  q->id_next = t->by_id[i];
  t->by_id[i] = q;
  q->name_next = t->by_name[n];
  t->by_name[n] = q;
}

/* Doubles the bucket arrays once there are more queues than buckets. */
static void
grow(struct tool_queues *t)
{
  struct tool_queue **old = t->by_id, *q, *next;
  size_t oldn = t->nbuckets, b;

  free(t->by_name);
  t->nbuckets *= 2;
  t->by_id = tool_xcalloc(t->nbuckets, sizeof(*t->by_id));
  t->by_name = tool_xcalloc(t->nbuckets, sizeof(*t->by_name));
  for (b = 0; b < oldn; b++) {
    for (q = old[b]; q != NULL; q = next) {
      next = q->id_next;
      link_queue(t, q);
    }
  }
  free(old);
}

struct tool_queue *
tool_queue_create(struct tool_queues *t, uint64_t id, const char *name,
                  size_t len)
{
  struct tool_queue *q = tool_xcalloc(1, sizeof(*q));

  q->id = id;
  q->name = tool_xmalloc(len + 1);
  memcpy(q->name, name, len);
  q->name[len] = '\0';
  q->name_len = len;
  if (t->count >= t->nbuckets)
    grow(t);
  link_queue(t, q);
  t->count++;
  return q;
}

void
tool_queue_delete(struct tool_queues *t, struct tool_queue *q)
{
  struct tool_queue **pp;

  tool_queue_drop_upto(q, UINT64_MAX);
  for (pp = &t->by_id[hash_id(q->id, t->nbuckets)]; *pp != q;
       pp = &(*pp)->id_next)
    ;
  *pp = q->id_next;
  for (pp = &t->by_name[hash_name(q->name, q->name_len, t->nbuckets)];
       *pp != q; pp = &(*pp)->name_next)
    ;
  *pp = q->name_next;
  t->count--;
  queue_free(q);
}

void
tool_queue_add_run(struct tool_queue *q, const struct tool_run *run)
{
  if (q->len == q->cap) {
    if (q->head > 0) { /* reuse the room truncation left at the front */
      memmove(q->runs, q->runs + q->head,
              (q->len - q->head) * sizeof(*q->runs));
      q->len -= q->head;
      q->head = 0;
    }
    if (q->len == q->cap) {
      q->cap = q->cap ? 2 * q->cap : 4;
      q->runs = tool_xrealloc(q->runs, q->cap * sizeof(*q->runs));
    }
  }
  q->runs[q->len++] = *run;
  q->records += run->count;
  q->bytes += run->bytes;
  run->seg->retained += run->count;
}

/* Drops the first k records of run (invariant 3). */
static void
run_skip(struct tool_run *run, uint64_t k)
{
  struct tool_file *f = &run->seg->file;
  uint64_t off = run->off, len, dropped = 0, i;

  for (i = 0; i < k; i++) {
    if (!tool_record_header(f, &off, &len))
      tool_die(TOOL_EXIT_IOERR, "%s: records at offset %llu changed while "
               "being read", run->seg->name, (unsigned long long)off);
    off += len;
    dropped += len;
  }
  run->off = off;
  run->first += k;
  run->count -= k;
  run->bytes -= dropped;
}

void
tool_queue_drop_upto(struct tool_queue *q, uint64_t position)
{
  while (q->head < q->len) {
    struct tool_run *run = &q->runs[q->head];
    uint64_t last = run->first + (run->count - 1);
    uint64_t bytes = run->bytes, k;

    if (last <= position) {
      q->records -= run->count;
      q->bytes -= run->bytes;
      q->head++;
      tool_seg_unref(run->seg, run->count);
      continue;
    }
    if (run->first <= position) {
      k = position - run->first + 1;
      run_skip(run, k);
      q->records -= k;
      q->bytes -= bytes - run->bytes;
      tool_seg_unref(run->seg, k);
    }
    break;
  }
  if (q->head == q->len)
    q->head = q->len = 0;
}

uint64_t
tool_queue_first(const struct tool_queue *q)
{
  return q->head < q->len ? q->runs[q->head].first : q->next;
}

uint64_t
tool_queue_first_time(const struct tool_queue *q)
{
  return q->head < q->len ? q->runs[q->head].time_ms : 0;
}

uint64_t
tool_queue_last_time(const struct tool_queue *q)
{
  return q->head < q->len ? q->runs[q->len - 1].time_ms : 0;
}

static int
cmp_name(const void *a, const void *b)
{
  const struct tool_queue *x = *(struct tool_queue *const *)a;
  const struct tool_queue *y = *(struct tool_queue *const *)b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int c = memcmp(x->name, y->name, n);

  if (c != 0)
    return c;
  return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

struct tool_queue **
tool_queues_sorted(const struct tool_queues *t)
{
  struct tool_queue **v = tool_xcalloc(t->count + 1, sizeof(*v)), *q;
  size_t b, n = 0;

  for (b = 0; b < t->nbuckets; b++)
    for (q = t->by_id[b]; q != NULL; q = q->id_next)
      v[n++] = q;
  qsort(v, n, sizeof(*v), cmp_name);
  return v;
}
