/*
 * policy.c -- the policy struct: its defaults, the caller's copy read at
 * its own size, the checks mrlog_open makes (docs/API.md section 5,
 * docs/COMPATIBILITY.md section 3), and the copy mrlog_get_policy hands
 * back.  Any thread; no state of its own (log->policy is written by
 * mrlog_open only).
 */
#include "base.h"
#include "internal.h"
#include "policy.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define DEFAULT_SEGMENT_BYTES (128ull << 20)
#define MIN_SEGMENT_BYTES 4096ull
#define MAX_SEGMENT_BYTES (1ull << 30)
#define DEFAULT_MEMORY_LIMIT (1ull << 30)
#define DEFAULT_RING_SLOTS 16384u
#define MAX_RING_SLOTS (1u << 24)
#define DEFAULT_CLEANER_MS 1000u

/* The size of mrlog_policy in headers older than 0.6.0, whose word at
 * offset 128 (now `size`) was reserved and therefore zero. */
#define LEGACY_POLICY_SIZE 136u

static void
policy_defaults(mrlog_policy *p)
{
  memset(p, 0, sizeof(*p));
  p->segment_bytes = DEFAULT_SEGMENT_BYTES;
  p->memory_limit = DEFAULT_MEMORY_LIMIT;
  p->ring_slots = DEFAULT_RING_SLOTS;
  p->cleaner_interval_ms = DEFAULT_CLEANER_MS;
  p->recovery = MRLOG_RECOVER_TOLERATE_TAIL;
  p->file_mode = 0644;
  p->size = sizeof(*p);
}

void
mrlog_policy_init_size(mrlog_policy *p, size_t size)
{
  mrlog_policy d;

  if (p == NULL || size < LEGACY_POLICY_SIZE || size > UINT32_MAX)
    return;
  policy_defaults(&d);
  d.size = (uint32_t)size;
  if (size > sizeof(d)) {
    /* A newer header's struct: its fields past ours stay zero, which
     * mrlog_open requires. */
    memset((char *)p + sizeof(d), 0, size - sizeof(d));
    size = sizeof(d);
  }
  memcpy(p, &d, size);
}

/* Programs built against a header older than 0.6.0 call this one: their
 * struct has LEGACY_POLICY_SIZE bytes and `size` must stay 0. */
void (mrlog_policy_init)(mrlog_policy *p)
{
  mrlog_policy d;

  if (p == NULL)
    return;
  policy_defaults(&d);
  d.size = 0;
  memcpy(p, &d, LEGACY_POLICY_SIZE);
}

/* Copies the caller's policy (NULL: the defaults) into *dst, reading only
 * the bytes the caller's struct has (src->size, or LEGACY_POLICY_SIZE when
 * it is 0); fields it lacks take their defaults.  MRLOG_EINVAL for a size
 * no header ever had, or a newer header's field this library does not
 * know set to non-zero. */
int
mrlog__policy_copy(mrlog_policy *dst, const mrlog_policy *src)
{
  size_t size, i;

  policy_defaults(dst);
  if (src == NULL)
    return 0;
  size = src->size != 0 ? src->size : LEGACY_POLICY_SIZE;
  if (size < LEGACY_POLICY_SIZE)
    return MRLOG_EINVAL;
  for (i = sizeof(*dst); i < size; i++)
    if (((const unsigned char *)src)[i] != 0)
      return MRLOG_EINVAL;
  memcpy(dst, src, size < sizeof(*dst) ? size : sizeof(*dst));
  dst->size = sizeof(*dst);
  return 0;
}

/* The store the log uses: what the caller chose, with MRLOG_STORE_DEFAULT
 * resolved (the mapped store needs 4 GiB of address space per segment, so
 * only a 64-bit address space gets it).  A read-only open copies records
 * whatever was chosen (readonly.c invariant 3), so it says so. */
static int
resolve_store(const mrlog_policy *p)
{
  if (p->read_only)
    return MRLOG_STORE_COPY;
  if (p->record_store != MRLOG_STORE_DEFAULT)
    return p->record_store;
  return sizeof(void *) >= 8 ? MRLOG_STORE_MAPPED : MRLOG_STORE_COPY;
}

int
mrlog__policy_normalize(mrlog_policy *p)
{
  size_t i;

  for (i = 0; i < sizeof(p->reserved) / sizeof(p->reserved[0]); i++)
    if (p->reserved[i] != 0)
      return MRLOG_EINVAL;
  p->read_only = p->read_only != 0;
  p->truncate_on_commit = p->truncate_on_commit != 0;
  if (p->visibility < MRLOG_VISIBLE_ACKNOWLEDGED ||
      p->visibility > MRLOG_VISIBLE_WRITTEN)
    return MRLOG_EINVAL;
  if (p->completion_mode != MRLOG_COMPLETE_ON_LIBRARY_THREAD &&
      p->completion_mode != MRLOG_COMPLETE_ON_POLL)
    return MRLOG_EINVAL;
  if (p->record_store != MRLOG_STORE_DEFAULT &&
      p->record_store != MRLOG_STORE_COPY &&
      p->record_store != MRLOG_STORE_MAPPED)
    return MRLOG_EINVAL;
  p->record_store = resolve_store(p);
  if (p->segment_bytes == 0)
    p->segment_bytes = DEFAULT_SEGMENT_BYTES;
  if (p->segment_bytes < MIN_SEGMENT_BYTES)
    p->segment_bytes = MIN_SEGMENT_BYTES;
  if (p->segment_bytes > MAX_SEGMENT_BYTES)
    p->segment_bytes = MAX_SEGMENT_BYTES;
  if (p->memory_limit == 0)
    p->memory_limit = DEFAULT_MEMORY_LIMIT;
  if (p->ring_slots < 4 || p->ring_slots > MAX_RING_SLOTS ||
      (p->ring_slots & (p->ring_slots - 1)) != 0)
    return MRLOG_EINVAL;
  p->nonblocking = p->nonblocking != 0;
  if (p->cleaner_interval_ms == 0)
    p->cleaner_interval_ms = DEFAULT_CLEANER_MS;
  if (p->recovery < MRLOG_RECOVER_TOLERATE_TAIL ||
      p->recovery > MRLOG_RECOVER_SKIP_CORRUPT)
    return MRLOG_EINVAL;
  if (p->file_mode == 0)
    p->file_mode = 0644;
  if ((p->file_mode & ~(mode_t)0666) != 0)
    return MRLOG_EINVAL; /* execute, setuid, setgid, sticky or type bits */
  return 0;
}

int
mrlog_get_policy_size(mrlog *log, mrlog_policy *out, size_t size)
{
  mrlog_policy p;

  if (!mrlog__log_live(log) || out == NULL || size < LEGACY_POLICY_SIZE ||
      size > UINT32_MAX)
    return MRLOG_EINVAL;
  p = log->policy; /* set by mrlog_open, never written again */
  p.size = (uint32_t)size;
  if (size == LEGACY_POLICY_SIZE) {
    /* The struct of a header older than 0.6.0: its last word, reserved
     * there, must stay zero (as mrlog_policy_init leaves it). */
    memset((char *)&p + offsetof(mrlog_policy, size), 0,
           LEGACY_POLICY_SIZE - offsetof(mrlog_policy, size));
  }
  if (size > sizeof(p)) {
    memset((char *)out + sizeof(p), 0, size - sizeof(p));
    size = sizeof(p);
  }
  memcpy(out, &p, size);
  return 0;
}

int (mrlog_get_policy)(mrlog *log, mrlog_policy *out)
{
  return mrlog_get_policy_size(log, out, sizeof(*out));
}
