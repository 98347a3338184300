/*
 * memory.c -- what memory_limit and stats.memory_bytes count.
 *
 * DESIGN
 *   Two counters bound memory.  stat_memory (stats.memory_bytes) is what
 *   the library holds for retained records and for the buffers that scale
 *   with them, in the sizes the allocator really hands out: chunks and
 *   their ends/pos (or at/pos) arrays, each queue's struct, name, runs and
 *   time marks, the index's buckets beyond their first 64, the writer's
 *   buffers beyond their first size, and the mappings the mapped store
 *   reads records from (lib/filemap.c: page cache, resident in the process
 *   only as far as records are read).  mem_reserved (the memory_limit
 *   charge) is mem_held -- the same allocations without the mappings: the
 *   process's own memory -- plus what requests in flight reserved at
 *   admission (admit.c): their own block, and an estimate of the chunk
 *   bytes their records will take.
 *
 *   The retained payload is charged only where it is the library's own
 *   memory, or where the store promises to bound it
 *   (mrlog__mem_charges_payload): under MRLOG_STORE_COPY records are
 *   copied into chunks (charged with them), and the records it recovered
 *   from a mapped file pin their payload (pin/unpin), so memory_limit
 *   bounds the volume it retains.  Under MRLOG_STORE_MAPPED the payload
 *   stays in the segment files' page cache, clean and evictable, and is
 *   not charged: memory_limit bounds what the process holds (about 8
 *   bytes of chunk slots per retained record, the queues, requests in
 *   flight), and the volume retained is bounded by the disk alone.
 *
 *   Charges follow allocations as they happen (add/sub below), so no
 *   figure is an estimate once a request has completed: with nothing in
 *   flight under MRLOG_STORE_COPY, the charge equals memory_bytes; under
 *   MRLOG_STORE_MAPPED, memory_bytes less the mappings.  A
 *   request's reservation is returned when it completes (flusher.c), after
 *   its records were stored and charged: until then both its block and
 *   their chunks exist.  A staged entry's returns with its batch's last
 *   entry, when the batch goes back to its pool (req.c).
 *
 * Invariants:
 *  1. mem_held <= mem_reserved; both change by atomic adds only (relaxed
 *     for the figures, seq_cst where sub pairs with a waiting producer,
 *     as mrlog__mem_release does).
 *  2. Every add is matched by a sub of the same bytes when the memory is
 *     freed, so a closed log's counters are back at zero (test_unit
 *     checks stat_memory).
 *  3. Nothing here takes a lock on the fast path: sub wakes waiters
 *     through mrlog__mem_release's slow path only when some wait.
 */
#include "internal.h"
#include "memory.h"
#include "queue.h"

#include <malloc.h>
#include <stdlib.h>

size_t
mrlog__heap_size(const void *p)
{
  /* glibc and musl keep one size_t of header per block. */
  return p == NULL ? 0 : malloc_usable_size((void *)p) + sizeof(size_t);
}

void
mrlog__mem_add(struct mrlog *log, uint64_t bytes)
{
  atomic_fetch_add_explicit(&log->stat_memory, bytes, memory_order_relaxed);
  mrlog__mem_pin(log, bytes);
}

void
mrlog__mem_sub(struct mrlog *log, uint64_t bytes)
{
  atomic_fetch_sub_explicit(&log->stat_memory, bytes, memory_order_relaxed);
  mrlog__mem_unpin(log, bytes);
}

void
mrlog__mem_pin(struct mrlog *log, uint64_t bytes)
{
  atomic_fetch_add_explicit(&log->mem_held, bytes, memory_order_relaxed);
  atomic_fetch_add_explicit(&log->mem_reserved, bytes, memory_order_relaxed);
}

void
mrlog__mem_unpin(struct mrlog *log, uint64_t bytes)
{
  atomic_fetch_sub_explicit(&log->mem_held, bytes, memory_order_relaxed);
  mrlog__mem_release(log, bytes); /* wakes producers waiting for memory */
}

bool
mrlog__mem_charges_payload(const struct mrlog *log)
{
  return log->policy.record_store != MRLOG_STORE_MAPPED;
}

void *
mrlog__mem_malloc(struct mrlog *log, size_t n)
{
  void *p = malloc(n);

  if (p != NULL && log != NULL)
    mrlog__mem_add(log, mrlog__heap_size(p));
  return p;
}

void *
mrlog__mem_calloc(struct mrlog *log, size_t n, size_t size)
{
  void *p = calloc(n, size);

  if (p != NULL && log != NULL)
    mrlog__mem_add(log, mrlog__heap_size(p));
  return p;
}

void
mrlog__mem_free(struct mrlog *log, void *p)
{
  if (p != NULL && log != NULL)
    mrlog__mem_sub(log, mrlog__heap_size(p));
  free(p);
}

uint64_t
mrlog__create_charge(size_t name_len)
{
  /* Allocator headers: one size_t per block (queue, name, runs, marks,
   * chunk); the index: two bucket arrays of at most two heads per queue;
   * the first chunk: its struct and four record slots (queue.c). */
  return sizeof(struct mrlog__queue) + name_len + 1 + 5 * sizeof(size_t) +
         4 * sizeof(void *) + sizeof(struct mrlog__run) +
         sizeof(struct mrlog__time_mark) + sizeof(struct mrlog__chunk) +
         4 * 2 * sizeof(uint32_t);
}
