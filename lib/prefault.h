/*
 * prefault.h -- prefaulted chunk memory (lib/prefault.c): a detached
 * helper thread maps and touches regions ahead of the writer (and of
 * recovery), so storing records does not take page faults.  The helper
 * belongs to the opener's thread during recovery, then to the writer
 * (under state_lock) until close (prefault.c invariant 1).
 */
#ifndef MRLOG_PREFAULT_H
#define MRLOG_PREFAULT_H

#include "base.h"

struct mrlog;

/* Prefaulted chunk memory (lib/prefault.c), for recovery and then for
 * the writer: start is idempotent; take returns a
 * MRLOG_PREFAULT_REGION-byte mapping or NULL (none ready: map your own);
 * stop joins the helper and unmaps what is left (NULL-safe). */
#define MRLOG_PREFAULT_REGION (260u << 10)
struct mrlog__prefault;
void mrlog__prefault_start(struct mrlog *log);
void *mrlog__prefault_take(struct mrlog *log);
void mrlog__prefault_stop(struct mrlog *log);
/* Regions the helper keeps ready: during recovery, or live for a log
 * whose policy.memory_limit is memory_limit (lib/prefault.c). */
unsigned mrlog__prefault_slots(uint64_t memory_limit, bool recovering);

#endif /* MRLOG_PREFAULT_H */
