/*
 * writer_mem.c -- the writer's buffers against memory_limit: the frame
 * buffer and the ops, ext, iov and subs arrays of workers/writer.c.
 *
 * DESIGN
 *   The frame buffer starts at WBUF_FRAME_BASE bytes (allocated with the
 *   log, not charged).  A frame that needs more grows it; grown, it is
 *   charged at the heap's size (memory.c) from the moment the frame is
 *   built, and once it exceeds WBUF_FRAME_KEEP -- a batch far beyond the
 *   frames a pass is cut into (FRAME_TARGET), or a checkpoint of many
 *   queues -- it goes back to its base size after the frame is written.
 *   The arrays are charged whenever they exist and freed after a frame
 *   that grew one past WBUF_ARRAY_KEEP bytes.  So a rare large batch
 *   leaves nothing behind, while the buffers of ordinary passes are
 *   allocated once.
 *
 * Invariants:
 *  1. *charged is what the writer's buffers are charged now; charge sets
 *     it to what they hold, adding or giving back the difference.
 *  2. Writer thread only (the opener before the writer starts).
 */
#include "internal.h"
#include "memory.h"
#include "writer.h"

#include <stdlib.h>
#include <string.h>

#define WBUF_FRAME_BASE (64u << 10)
#define WBUF_FRAME_KEEP (1u << 20)
#define WBUF_ARRAY_KEEP (64u << 10)

void
mrlog__wbuf_charge(struct mrlog *log, size_t *charged,
                   const struct mrlog__buf *frame, const void *ops,
                   const void *ext, const void *iov, const void *subs)
{
  size_t now = mrlog__heap_size(ops) + mrlog__heap_size(ext) +
               mrlog__heap_size(iov) + mrlog__heap_size(subs);

  if (frame->cap > WBUF_FRAME_BASE)
    now += mrlog__heap_size(frame->data);
  if (now > *charged)
    mrlog__mem_add(log, now - *charged);
  else if (now < *charged)
    mrlog__mem_sub(log, *charged - now);
  *charged = now;
}

void *
mrlog__wbuf_trim(void *array, size_t *cap, size_t elem)
{
  if (*cap * elem <= WBUF_ARRAY_KEEP)
    return array;
  free(array);
  *cap = 0;
  return NULL;
}

void
mrlog__wbuf_trim_frame(struct mrlog__buf *frame)
{
  uint8_t *p;

  if (frame->cap <= WBUF_FRAME_KEEP || frame->len > WBUF_FRAME_BASE)
    return;
  p = malloc(WBUF_FRAME_BASE);
  if (p == NULL)
    return; /* keeps the larger one, still charged */
  memcpy(p, frame->data, frame->len);
  free(frame->data);
  frame->data = p;
  frame->cap = WBUF_FRAME_BASE;
}
