/*
 * mapfault.h -- the process-wide SIGBUS handler that turns a lost page of
 * a segment file's mapping into zeros and a fault record, so that a read
 * through the mapping returns MRLOG_EIO instead of killing the process
 * (lib/mapfault.c).
 */
#ifndef MRLOG_MAPFAULT_H
#define MRLOG_MAPFAULT_H

#include "base.h"

#include <stdatomic.h>
#include <stdint.h>

/* One registered mapping.  Slots are allocated by mrlog__mapfault_add and
 * never freed (the handler may read any slot at any time); a removed slot
 * is reused by a later add.  Offsets are bytes from `base`. */
struct mrlog__mapslot {
  _Atomic uintptr_t base;   /* first byte mapped; 0 while unused */
  _Atomic size_t len;       /* bytes mapped; 0 while unused */
  atomic_uint faults;       /* pages the handler replaced (never drops) */
  _Atomic size_t lo;        /* first byte of the lowest replaced page */
  _Atomic size_t hi;        /* one past the highest replaced page */
  atomic_bool reported;     /* the first reader to see a fault logs it */
  bool used;                /* taken (registry mutex) */
};

/* Registers [base, base + len) and installs the handler at the first
 * call.  Returns its slot, or NULL when the handler cannot be installed
 * or the registry holds MRLOG__MAPFAULT_MAX mappings already: the caller
 * must then not serve records from the mapping. */
#define MRLOG__MAPFAULT_MAX 65536u
struct mrlog__mapslot *mrlog__mapfault_add(const void *base, size_t len);
/* The mapping now covers only its first len bytes (len <= its length):
 * called before the rest is unmapped. */
void mrlog__mapfault_shrink(struct mrlog__mapslot *s, size_t len);
/* Unregisters the slot; called before the mapping is unmapped, by the
 * thread that drops its last reference (no reader uses it any more). */
void mrlog__mapfault_remove(struct mrlog__mapslot *s);

/* Reads one byte of every page of [p, p + len), so that a lost page is
 * replaced now, before the bytes are handed out. */
void mrlog__mapfault_probe_pages(const uint8_t *p, size_t len);
static inline void
mrlog__mapfault_probe(const uint8_t *p, size_t len)
{
  /* The common case inline: bytes within one 4 KiB page (or less than
   * a page of any larger size) take one load. */
  if (len > 0 && ((uintptr_t)p ^ ((uintptr_t)p + len - 1)) < 4096)
    (void)*(const volatile uint8_t *)p;
  else
    mrlog__mapfault_probe_pages(p, len);
}

/* True when a page of [off, off + len) of the mapping was replaced by
 * zeros: the bytes there are lost.  Call after reading (or probing) them:
 * a fault of the calling thread is visible to its next check. */
static inline bool
mrlog__mapfault_hit(const struct mrlog__mapslot *s, size_t off, size_t len)
{
  /* acquire: pairs with the handler's release increment, after it wrote
   * lo and hi. */
  if (__builtin_expect(atomic_load_explicit(&s->faults,
                                            memory_order_acquire) == 0, 1))
    return false;
  return off < atomic_load_explicit(&s->hi, memory_order_relaxed) &&
         off + (len > 0 ? len : 1) >
             atomic_load_explicit(&s->lo, memory_order_relaxed);
}

/* True once any page of the mapping was replaced. */
static inline bool
mrlog__mapfault_any(const struct mrlog__mapslot *s)
{
  return atomic_load_explicit(&s->faults, memory_order_relaxed) != 0;
}

/* Replaced pages in every mapping since the process started (tests). */
unsigned long mrlog__mapfault_total(void);

#endif /* MRLOG_MAPFAULT_H */
