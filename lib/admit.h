/*
 * admit.h -- admission of a request into the ring (lib/admit.c): the
 * memory_limit reservation and the push, on the producer's thread.
 */
#ifndef MRLOG_ADMIT_H
#define MRLOG_ADMIT_H

#include "req.h"

struct mrlog;

/* Admission of a request for the ring (admit.c): reserves `want` bytes
 * of memory_limit, or at least `need` (waiting if allowed, within blk),
 * records the reservation in req->reserved, and pushes req.  0 or a
 * status; on error req is not in the ring and req->reserved says what to
 * release. */
int mrlog__admit(struct mrlog *log, struct mrlog__req *req, uint64_t want,
                 uint64_t need, struct mrlog__block *blk);

#endif /* MRLOG_ADMIT_H */
