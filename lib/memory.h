/*
 * memory.h -- memory accounting against policy.memory_limit
 * (lib/memory.c; docs/DESIGN.md "Memory") and the release of a request's
 * reservation (lib/log.c).
 */
#ifndef MRLOG_MEMORY_H
#define MRLOG_MEMORY_H

#include "base.h"

#include <stdbool.h>
#include <stddef.h>

struct mrlog;

/* Returns reserved bytes to memory_limit and wakes waiting producers. */
void mrlog__mem_release(struct mrlog *log, uint64_t bytes);

/* Memory accounting (lib/memory.c; docs/DESIGN.md "Memory").  What the
 * library holds for retained records and the buffers that scale with them
 * is charged as it is allocated: `add` counts bytes in stat_memory (what
 * stats.memory_bytes reports) and in mem_held and mem_reserved (what
 * memory_limit bounds); `sub` gives them back and wakes producers waiting
 * for memory.  `pin` and `unpin` charge without counting in stat_memory:
 * the payload of mapped records, when mrlog__mem_charges_payload.
 * Any thread; the writer (or the opener during recovery) in practice. */
void mrlog__mem_add(struct mrlog *log, uint64_t bytes);
void mrlog__mem_sub(struct mrlog *log, uint64_t bytes);
void mrlog__mem_pin(struct mrlog *log, uint64_t bytes);
void mrlog__mem_unpin(struct mrlog *log, uint64_t bytes);
/* True when memory_limit charges retained payload wherever it lies:
 * MRLOG_STORE_COPY, whose records live in the library's own memory, so
 * that memory_limit bounds the volume it retains (records it recovered
 * from a mapped file included).  False under MRLOG_STORE_MAPPED: records
 * are read from the page cache, and memory_limit bounds only the
 * process's own memory (memory.c).  Fixed for the log's life.  Any
 * thread. */
bool mrlog__mem_charges_payload(const struct mrlog *log);
/* Bytes a block from malloc(n) takes from the heap: its usable size plus
 * the allocator's header, as the process's resident memory sees it. */
size_t mrlog__heap_size(const void *p);
/* malloc, calloc and free that charge log (NULL: no charge) with
 * mrlog__heap_size of the block. */
void *mrlog__mem_malloc(struct mrlog *log, size_t n);
void *mrlog__mem_calloc(struct mrlog *log, size_t n, size_t size);
void mrlog__mem_free(struct mrlog *log, void *p);
/* What an append of count records and total payload bytes reserves while
 * it is in flight (admit.c, for submit.c and stage.c): its request block
 * (`block` bytes, its copy of the payload included), and the chunk bytes
 * its records will take once stored: 8 a record (their ends/pos or
 * at/pos slots), plus their payload when it is copied into chunks or
 * otherwise charged (`payload`: mrlog__mem_charges_payload). */
static inline uint64_t
mrlog__append_charge(size_t block, size_t count, uint64_t total,
                     bool payload)
{
  return (uint64_t)block + (payload ? total : 0) +
         (uint64_t)count * 2 * sizeof(uint32_t);
}
/* What a create reserves while in flight: the queue, its name and its
 * share of the index, and the first chunk and arrays of its first record
 * (a new queue's usual next step). */
uint64_t mrlog__create_charge(size_t name_len);

#endif /* MRLOG_MEMORY_H */
