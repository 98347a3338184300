/*
 * queue_index.c -- the two hash tables that find a queue by name and by
 * id.  Chained, power-of-two bucket counts, doubled when the load passes 1.
 *
 * Memory: the first 64 buckets of each table come with the log; grown
 * tables are charged (memory.c) at the heap's size of their arrays,
 * `charged` saying how much is charged now.
 *
 * Threading: mutated only by the writer (or by open before the threads
 * start) with state_lock held for writing; looked up by readers under the
 * read lock and by the writer without it.
 */
#include "internal.h"
#include "consumer.h"
#include "memory.h"
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint32_t
mrlog__name_hash(const char *name, size_t len)
{
  /* FNV-1a, then a final avalanche so low bits mix well. */
  uint32_t h = 2166136261u;
  size_t i;

  for (i = 0; i < len; i++) {
    h ^= (uint8_t)name[i];
    h *= 16777619u;
  }
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  return h;
}

static size_t
id_bucket(uint64_t id, size_t nbuckets)
{
  uint64_t h = id * 0x9E3779B97F4A7C15ull;

  return (size_t)(h >> 32) & (nbuckets - 1);
}

int
mrlog__index_init(struct mrlog__index *ix, struct mrlog *log)
{
  ix->nbuckets = 64;
  ix->count = 0;
  ix->name_bytes = 0;
  ix->consumers = 0;
  ix->consumer_name_bytes = 0;
  ix->log = log;
  ix->charged = 0;
  ix->by_name = calloc(ix->nbuckets, sizeof(*ix->by_name));
  ix->by_id = calloc(ix->nbuckets, sizeof(*ix->by_id));
  if (ix->by_name == NULL || ix->by_id == NULL) {
    mrlog__index_free(ix);
    return MRLOG_ENOMEM;
  }
  return 0;
}

void
mrlog__index_free(struct mrlog__index *ix)
{
  free(ix->by_name);
  free(ix->by_id);
  if (ix->log != NULL && ix->charged != 0)
    mrlog__mem_sub(ix->log, ix->charged);
  ix->charged = 0;
  ix->by_name = ix->by_id = NULL;
  ix->nbuckets = ix->count = 0;
  ix->name_bytes = 0;
}

struct mrlog__queue *
mrlog__index_by_name(const struct mrlog__index *ix, const char *name,
                     size_t len, uint32_t hash)
{
  struct mrlog__queue *q;

  for (q = ix->by_name[hash & (ix->nbuckets - 1)]; q; q = q->by_name_next) {
    if (q->name_hash == hash && q->name_len == len &&
        memcmp(q->name, name, len) == 0)
      return q;
  }
  return NULL;
}

struct mrlog__queue *
mrlog__index_by_id(const struct mrlog__index *ix, uint64_t id)
{
  struct mrlog__queue *q;

  for (q = ix->by_id[id_bucket(id, ix->nbuckets)]; q; q = q->by_id_next) {
    if (q->id == id)
      return q;
  }
  return NULL;
}

static int
grow(struct mrlog__index *ix)
{
  size_t n = ix->nbuckets * 2, i;
  struct mrlog__queue **by_name, **by_id, *q, *next;

  by_name = calloc(n, sizeof(*by_name));
  by_id = calloc(n, sizeof(*by_id));
  if (by_name == NULL || by_id == NULL) {
    free(by_name);
    free(by_id);
    return MRLOG_ENOMEM;
  }
  for (i = 0; i < ix->nbuckets; i++) {
    for (q = ix->by_name[i]; q; q = next) {
      next = q->by_name_next;
      q->by_name_next = by_name[q->name_hash & (n - 1)];
      by_name[q->name_hash & (n - 1)] = q;
    }
    for (q = ix->by_id[i]; q; q = next) {
      next = q->by_id_next;
      q->by_id_next = by_id[id_bucket(q->id, n)];
      by_id[id_bucket(q->id, n)] = q;
    }
  }
  free(ix->by_name);
  free(ix->by_id);
  ix->by_name = by_name;
  ix->by_id = by_id;
  ix->nbuckets = n;
  if (ix->log != NULL) {
    size_t now = mrlog__heap_size(by_name) + mrlog__heap_size(by_id);
    mrlog__mem_add(ix->log, now);
    if (ix->charged != 0)
      mrlog__mem_sub(ix->log, ix->charged);
    ix->charged = now;
  }
  return 0;
}

int
mrlog__index_insert(struct mrlog__index *ix, struct mrlog__queue *q)
{
  size_t b;

  if (ix->count >= ix->nbuckets && grow(ix) != 0 && ix->count > 4 * ix->nbuckets)
    return MRLOG_ENOMEM; /* a failed grow only slows lookups, up to a point */
  b = q->name_hash & (ix->nbuckets - 1);
  q->by_name_next = ix->by_name[b];
  ix->by_name[b] = q;
  b = id_bucket(q->id, ix->nbuckets);
  q->by_id_next = ix->by_id[b];
  ix->by_id[b] = q;
  ix->count++;
  ix->name_bytes += q->name_len;
  return 0;
}

void
mrlog__index_remove(struct mrlog__index *ix, struct mrlog__queue *q)
{
  struct mrlog__queue **pp;

  for (pp = &ix->by_name[q->name_hash & (ix->nbuckets - 1)]; *pp;
       pp = &(*pp)->by_name_next) {
    if (*pp == q) {
      *pp = q->by_name_next;
      break;
    }
  }
  for (pp = &ix->by_id[id_bucket(q->id, ix->nbuckets)]; *pp;
       pp = &(*pp)->by_id_next) {
    if (*pp == q) {
      *pp = q->by_id_next;
      break;
    }
  }
  ix->count--;
  ix->name_bytes -= q->name_len;
}

/* The worst case of a checkpoint of ix with `queues` more queues whose
 * names take queue_bytes, and `consumers` more consumers whose names take
 * consumer_bytes: every queue entry is at most five maximal varints (id,
 * name length, floor, next, consumer count) and its name, every consumer
 * entry two (name length, position) and its name (FORMAT.md 7.7), so the
 * bound holds whatever floors, nexts and positions become. */
static uint64_t
checkpoint_worst(const struct mrlog__index *ix, uint64_t queues,
                 uint64_t queue_bytes, uint64_t consumers,
                 uint64_t consumer_bytes)
{
  return 1 + 2 * MRLOG_VARINT_MAX +
         (uint64_t)(ix->count + queues) * 5 * MRLOG_VARINT_MAX +
         ix->name_bytes + queue_bytes +
         (ix->consumers + consumers) * 2 * MRLOG_VARINT_MAX +
         ix->consumer_name_bytes + consumer_bytes;
}

bool
mrlog__index_checkpoint_fits(const struct mrlog__index *ix, size_t name_len)
{
  return checkpoint_worst(ix, 1, name_len, 0, 0) <= mrlog__checkpoint_max;
}

bool
mrlog__index_checkpoint_fits_consumer(const struct mrlog__index *ix,
                                      size_t name_len)
{
  return checkpoint_worst(ix, 0, 0, 1, name_len) <= mrlog__checkpoint_max;
}
