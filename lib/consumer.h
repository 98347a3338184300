/*
 * consumer.h -- named consumers of a queue and their committed positions
 * (lib/consumer.c: the in-memory table and the public calls;
 * lib/consumer_apply.c: the COMMIT and UNCOMMIT operations and the
 * consumer lists of a CHECKPOINT, FORMAT.md 7.7, 7.10, 7.11;
 * workers/writer_commit.c: the writer's decision and frame).
 */
#ifndef MRLOG_CONSUMER_H
#define MRLOG_CONSUMER_H

#include "internal.h"
#include "queue.h"

/* One consumer of a queue.  [state], like the queue's fields. */
struct mrlog__consumer {
  char *name;        /* NUL-terminated copy, charged to the log */
  uint32_t name_len; /* bytes, NUL excluded */
  bool listed;       /* scratch of a CHECKPOINT's replay */
  uint64_t position; /* every record below it was processed */
};

/* The consumer of q named name (len bytes), or NULL.  Under state_lock
 * (or the writer). */
struct mrlog__consumer *mrlog__consumer_find(const struct mrlog__queue *q,
                                             const char *name, size_t len);
/* Adds the consumer at position (it must not exist).  0 or MRLOG_ENOMEM.
 * Writer (or the opener) with state_lock held for writing. */
int mrlog__consumer_add(struct mrlog *log, struct mrlog__queue *q,
                        const char *name, size_t len, uint64_t position);
/* Removes c, an entry of q.  Same threads and lock. */
void mrlog__consumer_remove(struct mrlog *log, struct mrlog__queue *q,
                            struct mrlog__consumer *c);
/* Frees every consumer of q (the queue is being freed). */
void mrlog__consumers_free(struct mrlog *log, struct mrlog__queue *q);
/* The smallest committed position of q's consumers; false if it has
 * none. */
bool mrlog__consumers_min(const struct mrlog__queue *q, uint64_t *min);

/* The bytes a CHECKPOINT entry's consumer list of q takes, at most
 * (FORMAT.md 7.7), and its encoding into b (reserve first). */
size_t mrlog__consumers_encoded_max(const struct mrlog__queue *q);
void mrlog__consumers_encode(struct mrlog__buf *b,
                             const struct mrlog__queue *q);

/* Operations, for apply.c: *p is just past the type byte, end the body's
 * end; *p advances past the operation.  0, MRLOG_ECORRUPT or
 * MRLOG_ENOMEM.  The caller checked the segment's version. */
int mrlog__apply_commit(struct mrlog *log, const uint8_t **p,
                        const uint8_t *end);
int mrlog__apply_uncommit(struct mrlog *log, const uint8_t **p,
                          const uint8_t *end);
/* A CHECKPOINT entry's consumer list (version 4): with q NULL, only
 * checks it and steps over it; else makes it q's whole set of consumers,
 * at the listed positions (FORMAT.md 7.7 step 3). */
int mrlog__checkpoint_consumers(struct mrlog *log, struct mrlog__queue *q,
                                const uint8_t **p, const uint8_t *end);

/* True if a checkpoint of ix plus one consumer named with name_len bytes
 * stays within mrlog__checkpoint_max (queue_index.c). */
bool mrlog__index_checkpoint_fits_consumer(const struct mrlog__index *ix,
                                           size_t name_len);

/* Submits a COMMIT (position) or UNCOMMIT request (submit.c): the
 * consumer's name follows the queue's in the request block, as its one
 * "record" with its NUL (req->payload, req->lens[0] bytes). */
mrlog_future *mrlog__submit_consumer(struct mrlog *log, int type,
                                     const char *queue, const char *consumer,
                                     uint64_t position, mrlog_done_fn done,
                                     void *arg);

#endif /* MRLOG_CONSUMER_H */
