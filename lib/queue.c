/*
 * queue.c -- one queue's retained records in RAM: chunks, storing and
 * dropping (the segments they lie in: queue_runs.c).
 *
 * Invariants:
 *  1. Positions increase strictly along the chunk list and within each
 *     chunk; every retained record has position >= floor.  Records
 *     before head_index in the head chunk are dropped but not yet freed.
 *  2. A chunk's records are written once, by the writer under state_lock
 *     held for writing, and never modified; count only grows.  Readers
 *     snapshot count under the read lock and may then read those records
 *     without the lock while they hold a reference (refs).  The queue's
 *     list holds one reference; the last unref frees the chunk.
 *  3. The runs ring (queue_runs.c) lists, oldest first, how many of the
 *     queue's retained records each segment holds; the sum of counts
 *     equals `records`.
 *  4. Every allocation here is charged as it is made and given back as it
 *     is freed (memory.c): a chunk's `charged`, the queue's struct, name
 *     and runs.  Under the copy store a mapped chunk's records (recovered
 *     at open) also pin their payload until they are dropped
 *     (mrlog__mem_charges_payload).  The charges for its records (chunks
 *     while linked, runs) and the payload of its mapped records, under
 *     either store, are the queue's own memory_bytes (queue_charge.h).
 *  5. Every stored record is covered by a time mark (queue_time.c): store
 *     notes log->apply_ms at its first position; drops forget the marks
 *     no retained record needs.
 */
#include "internal.h"
#include "consumer.h"
#include "filemap.h"
#include "memory.h"
#include "prefault.h"
#include "queue.h"
#include "queue_charge.h"
#include "segment.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* A new chunk is sized at 1/CHUNK_SHARE of what the queue holds, within
 * [CHUNK_MIN_BYTES, CHUNK_MAX_BYTES]: the unused tail of the newest chunk
 * then costs at most about 1/CHUNK_SHARE of the retained bytes (and at most
 * CHUNK_MAX_BYTES per queue), while a queue still takes few allocations.
 * A queue holding less than CHUNK_MIN_BYTES gets chunks the size of what
 * it holds (its first one: CHUNK_MIN_RECORDS records), so a queue of a
 * few records costs about what they take, not CHUNK_MIN_BYTES. */
#define CHUNK_SHARE 8u
#define CHUNK_MIN_BYTES 1024u
#define CHUNK_MAX_BYTES (256u << 10)
#define CHUNK_MAX_RECORDS 65536u
#define CHUNK_MIN_RECORDS 4u
/* Chunks of at least this size are mapped, prefaulted, straight from the
 * kernel: one call instead of a page fault per 4 KiB as they fill (the
 * writer stores at memory speed, and faults were a third of its time). */
#define CHUNK_MAP_BYTES (64u << 10)

struct mrlog__queue *
mrlog__queue_new(struct mrlog *log, const char *name, size_t len, uint64_t id)
{
  struct mrlog__queue *q = mrlog__mem_calloc(log, 1, sizeof(*q));

  if (q == NULL)
    return NULL;
  q->name = mrlog__mem_malloc(log, len + 1);
  if (q->name == NULL) {
    mrlog__mem_free(log, q);
    return NULL;
  }
  memcpy(q->name, name, len);
  q->name[len] = '\0';
  q->name_len = (uint32_t)len;
  q->name_hash = mrlog__name_hash(name, len);
  q->id = id;
  return q;
}

void
mrlog__chunk_unref(struct mrlog *log, struct mrlog__chunk *c)
{
  /* acq_rel: the freeing thread must see every other holder's reads end. */
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
    struct mrlog__filemap *map = c->map;

    mrlog__mem_sub(log, c->charged);
    if (c->alloc_bytes >= CHUNK_MAP_BYTES)
      munmap(c, c->alloc_bytes);
    else
      free(c);
    if (map != NULL)
      mrlog__filemap_unref(log, map);
  }
}

/* Memory for a chunk of *alloc bytes (rounded up, and possibly grown to
 * a prefaulted region's size: *alloc says what was taken).  Big ones are
 * mapped and prefaulted (CHUNK_MAP_BYTES), small ones malloc'd;
 * chunk_unref tells them apart by size. */
static void *
chunk_alloc(struct mrlog *log, size_t *alloc)
{
  void *c = NULL;

  if (*alloc < CHUNK_MAP_BYTES)
    return malloc(*alloc);
  *alloc = (*alloc + 4095) & ~(size_t)4095; /* use the whole last page */
  if (*alloc <= MRLOG_PREFAULT_REGION && *alloc * 2 >= MRLOG_PREFAULT_REGION) {
    /* Memory prefaulted by prefault.c on the other core (replaying, or
     * the writer storing).  Its tail beyond *alloc goes back at once, so
     * the chunk costs the memory it would have cost on its own (W1's
     * growing queues would otherwise hold ~3 bytes more per record). */
    mrlog__prefault_start(log);
    c = mrlog__prefault_take(log);
    if (c != NULL && *alloc < MRLOG_PREFAULT_REGION)
      munmap((uint8_t *)c + *alloc, MRLOG_PREFAULT_REGION - *alloc);
  }
  if (c == NULL) {
    c = mmap(NULL, *alloc, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (c == MAP_FAILED)
      return NULL;
  }
  return c;
}

/* Fills the fields common to both kinds; the caller sets the arrays. */
static void
chunk_init(struct mrlog *log, struct mrlog__chunk *c, uint64_t base,
           size_t cap_records, size_t alloc)
{
  memset(c, 0, sizeof(*c));
  atomic_init(&c->refs, 1);
  c->cap_records = (uint32_t)cap_records;
  c->base = base;
  c->alloc_bytes = alloc;
  /* A mapped one costs its pages; a malloc'd one what the heap gives. */
  c->charged = alloc >= CHUNK_MAP_BYTES ? alloc : mrlog__heap_size(c);
  mrlog__mem_add(log, c->charged);
}

/* Records a new chunk should hold, for a queue holding q->records and
 * `per` bytes of chunk memory per record. */
static size_t
chunk_records_for(const struct mrlog__queue *q, size_t per)
{
  size_t held = (size_t)(q->bytes + q->records * 2 * sizeof(uint32_t));
  size_t target = held / CHUNK_SHARE;
  size_t cap_records;

  if (target < CHUNK_MIN_BYTES)
    target = held < CHUNK_MIN_BYTES ? held : CHUNK_MIN_BYTES;
  if (target > CHUNK_MAX_BYTES)
    target = CHUNK_MAX_BYTES;
  cap_records = target / per;
  if (cap_records < CHUNK_MIN_RECORDS)
    cap_records = CHUNK_MIN_RECORDS;
  if (cap_records > CHUNK_MAX_RECORDS)
    cap_records = CHUNK_MAX_RECORDS;
  return cap_records;
}

/* The payload bytes per record a new chunk is sized for, when a record
 * of len bytes needs it: the newest chunk's average (what the queue holds
 * now), rounded up, or the queue's; and halfway to len when len is more,
 * so a queue whose records grow (after a run of empty ones, say) does not
 * start a chunk per record with room for records that never come. */
static size_t
chunk_avg(const struct mrlog__queue *q, size_t len)
{
  const struct mrlog__chunk *t = q->tail;
  size_t avg;

  if (t != NULL && t->map == NULL && t->count > 0)
    avg = (t->used_bytes + t->count - 1) / t->count;
  else if (q->records > 0)
    avg = (size_t)((q->bytes + q->records - 1) / q->records);
  else
    avg = len;
  if (len > avg)
    avg += (len - avg + 1) / 2;
  return avg;
}

static struct mrlog__chunk *
chunk_new(struct mrlog *log, struct mrlog__queue *q, uint64_t base,
          size_t need_bytes)
{
  size_t avg = chunk_avg(q, need_bytes);
  size_t cap_records = chunk_records_for(q, avg + 2 * sizeof(uint32_t));
  size_t cap_bytes = cap_records * avg, alloc;
  struct mrlog__chunk *c;

  if (cap_bytes < need_bytes)
    cap_bytes = need_bytes;
  alloc = sizeof(*c) + cap_records * 2 * sizeof(uint32_t) + cap_bytes;
  c = chunk_alloc(log, &alloc);
  if (c == NULL)
    return NULL;
  chunk_init(log, c, base, cap_records, alloc);
  c->cap_bytes =
      (uint32_t)(alloc - sizeof(*c) - cap_records * 2 * sizeof(uint32_t));
  c->ends = (uint32_t *)(c + 1);
  c->pos = c->ends + cap_records;
  c->data = (uint8_t *)(c->pos + cap_records);
  return c;
}

/* Records a new mapped chunk for map should hold.  A mapped chunk never
 * outlives its segment's records, so a chunk per queue per segment is the
 * rule, and the queue's run in the segment before predicts how many of its
 * records this segment will hold (the runs ring's last entry is this
 * segment's, pushed by store_begin).  A full chunk of the same map
 * predicts another of its size.  An eighth more absorbs small changes of
 * rate (twice as many below 64 records: a queue with no history starts at
 * CHUNK_MIN_RECORDS, so a queue of one record costs a small chunk); at
 * least `want` (the records being stored) within the limits. */
static size_t
mapped_records_for(const struct mrlog__queue *q, const struct mrlog__filemap *map,
                   uint64_t want)
{
  const struct mrlog__chunk *t = q->tail;
  uint64_t pred = CHUNK_MIN_RECORDS;

  if (t != NULL && t->map == map) {
    pred = t->cap_records;
    pred += pred < 64 ? pred : pred / 8;
  } else if (q->runs_len >= 2) {
    pred = q->runs[(q->runs_first + q->runs_len - 2) & (q->runs_cap - 1)]
               .count;
    pred += pred / 8;
  }
  if (pred < want)
    pred = want;
  if (pred < CHUNK_MIN_RECORDS)
    pred = CHUNK_MIN_RECORDS;
  if (pred > CHUNK_MAX_RECORDS)
    pred = CHUNK_MAX_RECORDS;
  return (size_t)pred;
}

/* A mapped chunk (queue.h) for records of map, sized by
 * mapped_records_for. */
static struct mrlog__chunk *
mapped_chunk_new(struct mrlog *log, struct mrlog__queue *q,
                 struct mrlog__filemap *map, uint64_t base, uint64_t want)
{
  size_t cap_records = mapped_records_for(q, map, want), alloc;
  struct mrlog__chunk *c;

  alloc = sizeof(*c) + cap_records * 2 * sizeof(uint32_t);
  c = chunk_alloc(log, &alloc);
  if (c == NULL)
    return NULL;
  chunk_init(log, c, base,
             (alloc - sizeof(*c)) / (2 * sizeof(uint32_t)), alloc);
  c->at = (uint32_t *)(c + 1);
  c->pos = c->at + c->cap_records;
  c->data = (uint8_t *)map->base;
  c->map = map;
  mrlog__filemap_ref(map);
  return c;
}

/* Links c as q's newest chunk; q is charged for it from now on. */
static void
chunk_link(struct mrlog__queue *q, struct mrlog__chunk *c)
{
  mrlog__qcharge_add(q, c->charged);
  if (q->tail == NULL) {
    q->head = q->tail = c;
    q->head_index = 0;
  } else {
    q->tail->next = c;
    q->tail = c;
  }
}

/* Appends one record at pos to c, which has room for it. */
static inline void
chunk_put(struct mrlog__chunk *c, uint64_t pos, const void *data, size_t len)
{
  memcpy(c->data + c->used_bytes, data, len);
  c->used_bytes += (uint32_t)len;
  c->ends[c->count] = c->used_bytes;
  c->pos[c->count] = (uint32_t)(pos - c->base);
  c->count++;
}

int
mrlog__queue_store_begin(struct mrlog *log, struct mrlog__queue *q,
                         struct mrlog__segment *seg, uint64_t first,
                         uint64_t count)
{
  int rc = mrlog__marks_note(log, q, first, log->apply_ms);

  if (rc == 0)
    rc = mrlog__runs_push(log, q, seg, count);
  if (rc != 0)
    return rc;
  atomic_fetch_add_explicit(&seg->live, count, memory_order_relaxed);
  atomic_fetch_add_explicit(&log->stat_records, count, memory_order_relaxed);
  return 0;
}

int
mrlog__queue_store_one(struct mrlog *log, struct mrlog__queue *q,
                       uint64_t pos, const void *data, size_t len)
{
  struct mrlog__chunk *c = q->tail;

  if (c == NULL || c->map != NULL || c->count == c->cap_records ||
      len > c->cap_bytes - c->used_bytes || pos - c->base > UINT32_MAX) {
    c = chunk_new(log, q, pos, len);
    if (c == NULL)
      return MRLOG_ENOMEM;
    chunk_link(q, c);
  }
  chunk_put(c, pos, data, len);
  q->records++;
  q->bytes += len;
  q->next = pos + 1;
  return 0;
}

int
mrlog__queue_store_run(struct mrlog *log, struct mrlog__queue *q,
                       uint64_t pos, const uint32_t *lens, uint32_t count,
                       const uint8_t *data)
{
  struct mrlog__chunk *c;
  uint32_t i, n, end;
  size_t bytes;
  int rc;

  if (count == 1)
    return mrlog__queue_store_one(log, q, pos, data, lens[0]);
  while (count > 0) {
    c = q->tail;
    /* How many of the records fit the tail chunk as they are. */
    n = 0;
    bytes = 0;
    if (c != NULL && c->map == NULL && pos - c->base + count <= UINT32_MAX) {
      uint32_t room = c->cap_records - c->count;
      size_t space = c->cap_bytes - c->used_bytes;
      while (n < count && n < room && bytes + lens[n] <= space)
        bytes += lens[n++];
    }
    if (n == 0) {
      /* A new chunk (store_one makes it), then the rest in bulk. */
      rc = mrlog__queue_store_one(log, q, pos, data, lens[0]);
      if (rc != 0)
        return rc;
      data += lens[0];
      pos++;
      lens++;
      count--;
      continue;
    }
    memcpy(c->data + c->used_bytes, data, bytes);
    end = c->used_bytes;
    for (i = 0; i < n; i++) {
      end += lens[i];
      c->ends[c->count + i] = end;
      c->pos[c->count + i] = (uint32_t)(pos + i - c->base);
    }
    c->used_bytes = end;
    c->count += n;
    q->records += n;
    q->bytes += bytes;
    q->next = pos + n;
    data += bytes;
    pos += n;
    lens += n;
    count -= n;
  }
  return 0;
}

/* queue_store's body for a frame of log->replay_map: each record's offset
 * goes in a mapped chunk, its bytes stay in the file. */
static int
store_mapped(struct mrlog *log, struct mrlog__queue *q, uint64_t first,
             uint64_t count, const uint8_t *recs, size_t recs_len)
{
  const uint8_t *p = recs, *end = recs + recs_len;
  const uint8_t *base = log->replay_map->base;
  uint64_t len, pos = first, left = count, bytes0 = q->bytes;
  struct mrlog__chunk *c = q->tail;

  while (left > 0) {
    if (c == NULL || c->map != log->replay_map ||
        c->count == c->cap_records || pos - c->base > UINT32_MAX) {
      c = mapped_chunk_new(log, q, log->replay_map, pos, left);
      if (c == NULL)
        return MRLOG_ENOMEM;
      chunk_link(q, c);
    }
    /* Fill c while it has room (apply.c checked the lengths). */
    while (left > 0 && c->count < c->cap_records &&
           pos - c->base <= UINT32_MAX) {
      const uint8_t *rec = p;

      if (!mrlog__get_varint_fast(&p, end, &len) || len > (uint64_t)(end - p))
        return MRLOG_ECORRUPT;
      c->at[c->count] = (uint32_t)(rec - base);
      c->pos[c->count] = (uint32_t)(pos - c->base);
      c->count++;
      c->bytes += len;
      q->bytes += len;
      p += len;
      pos++;
      left--;
    }
  }
  q->records += count;
  q->next = pos;
  if (mrlog__mem_charges_payload(log))
    mrlog__mem_pin(log, q->bytes - bytes0);
  mrlog__qcharge_add(q, q->bytes - bytes0);
  return 0;
}

/* Bytes of the LEB128 varint of v < 2^32. */
static inline uint32_t
varint_len(uint32_t v)
{
  return v < (1u << 7) ? 1 : v < (1u << 14) ? 2 : v < (1u << 21) ? 3
                                                : v < (1u << 28) ? 4 : 5;
}

int
mrlog__queue_store_mapped(struct mrlog *log, struct mrlog__queue *q,
                          struct mrlog__filemap *m, uint64_t pos,
                          const uint32_t *lens, uint32_t count, uint64_t *atp)
{
  struct mrlog__chunk *c = q->tail;
  uint64_t bytes = 0, at = *atp;
  uint32_t i = 0;

  while (i < count) {
    if (c == NULL || c->map != m || c->count == c->cap_records ||
        pos - c->base > UINT32_MAX) {
      c = mapped_chunk_new(log, q, m, pos, count - i);
      if (c == NULL)
        return MRLOG_ENOMEM;
      chunk_link(q, c);
    }
    for (; i < count && c->count < c->cap_records &&
           pos - c->base <= UINT32_MAX;
         i++) {
      c->at[c->count] = (uint32_t)at;
      c->pos[c->count] = (uint32_t)(pos - c->base);
      c->count++;
      c->bytes += lens[i];
      bytes += lens[i];
      at += varint_len(lens[i]) + lens[i];
      pos++;
    }
  }
  q->records += count;
  q->bytes += bytes;
  q->next = pos;
  *atp = at;
  mrlog__qcharge_add(q, bytes); /* not memory_limit's (memory.h) */
  return 0;
}

int
mrlog__queue_store(struct mrlog *log, struct mrlog__queue *q,
                   struct mrlog__segment *seg, uint64_t first,
                   uint64_t count, const uint8_t *recs, size_t recs_len)
{
  const uint8_t *p = recs, *end = recs + recs_len;
  uint64_t i = 0, len, pos = first;
  struct mrlog__chunk *c;
  int rc;

  rc = mrlog__queue_store_begin(log, q, seg, first, count);
  if (rc == 0 && log->replay_map != NULL)
    return store_mapped(log, q, first, count, recs, recs_len);
  while (rc == 0 && i < count) {
    /* The frame was checked by apply.c: lengths fit. */
    if (!mrlog__get_varint_fast(&p, end, &len) || len > (uint64_t)(end - p))
      return MRLOG_ECORRUPT;
    c = q->tail;
    if (c == NULL || c->map != NULL || c->count == c->cap_records ||
        len > c->cap_bytes - c->used_bytes || pos - c->base > UINT32_MAX) {
      rc = mrlog__queue_store_one(log, q, pos, p, (size_t)len); /* new chunk */
      p += len;
      pos++;
      i++;
      continue;
    }
    /* Fill the tail chunk in a tight loop while records fit. */
    for (;;) {
      chunk_put(c, pos, p, (size_t)len);
      q->records++;
      q->bytes += len;
      p += len;
      pos++;
      if (++i == count)
        break;
      if (!mrlog__get_varint_fast(&p, end, &len) ||
          len > (uint64_t)(end - p))
        return MRLOG_ECORRUPT;
      if (c->count == c->cap_records || len > c->cap_bytes - c->used_bytes ||
          pos - c->base > UINT32_MAX) {
        rc = mrlog__queue_store_one(log, q, pos, p, (size_t)len);
        p += len;
        pos++;
        i++;
        break;
      }
    }
    q->next = pos;
  }
  return rc;
}

void
mrlog__queue_free(struct mrlog *log, struct mrlog__queue *q, uint64_t lsn)
{
  mrlog__queue_drop_upto(log, q, UINT64_MAX, lsn);
  mrlog__marks_free(log, q);
  mrlog__consumers_free(log, q);
  mrlog__mem_free(log, q->runs);
  mrlog__mem_free(log, q->name);
  mrlog__mem_free(log, q);
}
