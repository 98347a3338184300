/*
 * batch.c -- a staged batch on its way downstream: the writer closes it
 * and walks its entries, gives back the credit they did not use, and the
 * flusher, once the last entry is complete, returns the batch to its
 * owner's pool.  stage.c fills batches on the producer's side; its
 * invariants state the rules this file keeps.
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  The writer
 * calls close, next and release_credit; req.c calls recycle when the
 * flusher finishes the last entry.  Recycling hands the block back to the
 * producer through its `returned` stack and wakes it if it sleeps: memory
 * goes back upstream, control does not.
 *
 * Invariants:
 *  1. The writer closes a batch once, with fetch_or (acquire), and
 *     processes exactly the count it got (stage.c invariant 1).
 *  2. Credit is released before the last entry is handed on: after that
 *     the flusher may recycle the batch and its owner reuse it.
 *  3. recycle pushes, fences, then looks at `waiting` (stage.c invariant
 *     6): the owner sees the batch or the recycler sees the flag.
 */
#include "stage.h"
#include "futex.h"
#include "memory.h"
#include "req.h"

unsigned
mrlog__batch_close(struct mrlog__batch *b, struct mrlog__req **first)
{
  *first = (struct mrlog__req *)b->data;
  return atomic_fetch_or_explicit(&b->state, MRLOG__BATCH_CLOSED,
                                  memory_order_acquire) &
         MRLOG__BATCH_COUNT_MASK;
}

struct mrlog__req *
mrlog__batch_next(struct mrlog__req *e)
{
  size_t size = mrlog__batch_entry_size(e->name_len, e->count,
                                        e->payload_len);

  return (struct mrlog__req *)((uint8_t *)e + size);
}

void
mrlog__batch_release_credit(struct mrlog *log, struct mrlog__batch *b,
                            uint64_t charged)
{
  if (b->head.reserved > charged)
    mrlog__mem_release(log, b->head.reserved - charged);
}

void
mrlog__batch_recycle(struct mrlog__batch *b)
{
  struct mrlog__producer *p = b->owner;
  struct mrlog__batch *head = atomic_load_explicit(&p->returned,
                                                   memory_order_relaxed);

  do
    b->pool_next = head;
  while (!atomic_compare_exchange_weak_explicit(
      &p->returned, &head, b, memory_order_release, memory_order_relaxed));
  /* Invariant 3: the push, then the look at `waiting`. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&p->waiting, memory_order_relaxed) &&
      atomic_exchange_explicit(&p->waiting, 0, memory_order_relaxed))
    mrlog__futex_wake(&p->waiting, 1);
}
