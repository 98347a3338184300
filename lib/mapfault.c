/*
 * mapfault.c -- a read through a segment file's mapping never kills the
 * process.
 *
 * Reading a page of a shared or private file mapping whose bytes the
 * kernel cannot supply raises SIGBUS: the page lies past the file's end
 * (another process truncated the file) or its read failed (a media
 * error).  Records are served from such mappings (filemap.c), so this file
 * installs, at the first mapping, one process-wide SIGBUS handler that
 * recognises faults in the mappings registered here and recovers from
 * them; every other SIGBUS goes on to the handler that was installed
 * before it, or kills the process as it would have.
 *
 * Invariants:
 *  1. The registry is MRLOG__MAPFAULT_MAX slots in blocks of BLOCK_SLOTS,
 *     allocated on demand and never freed, so the handler may read any of
 *     them at any moment without a lock.  Slots are taken and given back
 *     under registry_mutex (never by the handler).
 *  2. A slot's range is published base first, then len (release); it is
 *     withdrawn len first (0), then base, before the mapping is unmapped.
 *     The handler reads len (acquire), then base, then len again, and
 *     claims a fault only if the address lies in a range it read whole.
 *     A fault in a mapping can only come from a thread that holds a
 *     reference on it, so its slot is not withdrawn while it is handled.
 *  3. The handler claims a fault at address a of a registered mapping by
 *     mapping a private anonymous zero page over a's page (MAP_FIXED,
 *     async-signal-safe as every syscall), widening the slot's [lo, hi)
 *     to cover that page and then incrementing `faults` (release), and
 *     returns: the faulting load runs again and reads zeros.  Readers
 *     check `faults`, then [lo, hi), after touching the bytes they hand
 *     out (mapfault.h), so a record with a lost page is reported
 *     MRLOG_EIO, never delivered as zeros silently.  A replaced page stays
 *     zeros until the mapping is unmapped; lo only falls and hi only
 *     rises.
 *  4. A fault the handler does not claim (an address outside every
 *     registered range, a SIGBUS sent by kill, or a zero page that could
 *     not be mapped) goes to the previous disposition: its SA_SIGINFO or
 *     plain handler is called; SIG_DFL (and SIG_IGN, which cannot ignore
 *     a fault) is restored and the signal takes its default action: the
 *     faulting load runs again and kills the process with SIGBUS, or a
 *     sent signal is raised again.
 *  5. The handler runs with SA_ONSTACK (a thread's alternate stack, if it
 *     has one) and SA_NODEFER, so that a raise from it is delivered at
 *     once; it saves and restores errno.
 */
#include "mapfault.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BLOCK_SLOTS 1024u
#define BLOCKS (MRLOG__MAPFAULT_MAX / BLOCK_SLOTS)

_Static_assert(MRLOG__MAPFAULT_MAX % BLOCK_SLOTS == 0, "whole blocks");

static _Atomic(struct mrlog__mapslot *) blocks[BLOCKS];
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static bool installed;            /* written once, under install_once */
static struct sigaction previous; /* the disposition before ours */
static size_t page_size;          /* read by the handler */
static atomic_ulong total_faults;

/* Claims a fault at addr if it lies in a registered mapping (invariant
 * 3): returns true once the page reads as zeros. */
static bool
claim(uintptr_t addr)
{
  unsigned b, i;

  for (b = 0; b < BLOCKS; b++) {
    struct mrlog__mapslot *blk =
        atomic_load_explicit(&blocks[b], memory_order_acquire);
    if (blk == NULL)
      return false; /* blocks are allocated in order */
    for (i = 0; i < BLOCK_SLOTS; i++) {
      struct mrlog__mapslot *s = &blk[i];
      size_t len = atomic_load_explicit(&s->len, memory_order_acquire);
      uintptr_t base = atomic_load_explicit(&s->base, memory_order_relaxed);
      uintptr_t page = addr & ~(uintptr_t)(page_size - 1);
      size_t off, cur;

      if (len == 0 || addr < base || addr - base >= len ||
          atomic_load_explicit(&s->len, memory_order_relaxed) != len)
        continue;
      if (mmap((void *)page, page_size, PROT_READ,
               MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
        return false;
      off = page > base ? (size_t)(page - base) : 0;
      cur = atomic_load_explicit(&s->lo, memory_order_relaxed);
      while (off < cur && !atomic_compare_exchange_weak_explicit(
                              &s->lo, &cur, off, memory_order_relaxed,
                              memory_order_relaxed))
        ;
      cur = atomic_load_explicit(&s->hi, memory_order_relaxed);
      while (page + page_size - base > cur &&
             !atomic_compare_exchange_weak_explicit(
                 &s->hi, &cur, page + page_size - base, memory_order_relaxed,
                 memory_order_relaxed))
        ;
      /* release: lo and hi before the count readers check first. */
      atomic_fetch_add_explicit(&s->faults, 1, memory_order_release);
      atomic_fetch_add_explicit(&total_faults, 1, memory_order_relaxed);
      return true;
    }
  }
  return false;
}

static void
on_sigbus(int sig, siginfo_t *si, void *uc)
{
  int saved = errno;
  struct sigaction dfl;

  /* si_code > 0: raised by the kernel for a fault, at si_addr. */
  if (si != NULL && si->si_code > 0 && claim((uintptr_t)si->si_addr)) {
    errno = saved;
    return;
  }
  errno = saved;
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, si, uc);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  /* Invariant 4: the default action, from the fault itself if possible
   * (its core dump then shows the faulting load). */
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, NULL);
  if (si == NULL || si->si_code <= 0)
    raise(SIGBUS);
}

static void
install(void)
{
  struct sigaction sa;

  page_size = (size_t)sysconf(_SC_PAGESIZE);
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  installed = sigaction(SIGBUS, &sa, &previous) == 0;
}

struct mrlog__mapslot *
mrlog__mapfault_add(const void *base, size_t len)
{
  struct mrlog__mapslot *s = NULL;
  unsigned b, i;

  pthread_once(&install_once, install);
  if (!installed || len == 0)
    return NULL;
  pthread_mutex_lock(&registry_mutex);
  for (b = 0; b < BLOCKS && s == NULL; b++) {
    struct mrlog__mapslot *blk =
        atomic_load_explicit(&blocks[b], memory_order_relaxed);
    if (blk == NULL) {
      blk = calloc(BLOCK_SLOTS, sizeof(*blk));
      if (blk == NULL)
        break;
      /* release: the zeroed slots before the handler can see them. */
      atomic_store_explicit(&blocks[b], blk, memory_order_release);
    }
    for (i = 0; i < BLOCK_SLOTS; i++) {
      if (!blk[i].used) {
        s = &blk[i];
        break;
      }
    }
  }
  if (s != NULL) {
    s->used = true;
    atomic_store_explicit(&s->faults, 0, memory_order_relaxed);
    atomic_store_explicit(&s->lo, SIZE_MAX, memory_order_relaxed);
    atomic_store_explicit(&s->hi, 0, memory_order_relaxed);
    atomic_store_explicit(&s->reported, false, memory_order_relaxed);
    atomic_store_explicit(&s->base, (uintptr_t)base, memory_order_relaxed);
    /* release: base (and the counters) before len (invariant 2). */
    atomic_store_explicit(&s->len, len, memory_order_release);
  }
  pthread_mutex_unlock(&registry_mutex);
  return s;
}

void
mrlog__mapfault_shrink(struct mrlog__mapslot *s, size_t len)
{
  if (len < atomic_load_explicit(&s->len, memory_order_relaxed))
    atomic_store_explicit(&s->len, len, memory_order_release);
}

void
mrlog__mapfault_remove(struct mrlog__mapslot *s)
{
  pthread_mutex_lock(&registry_mutex);
  atomic_store_explicit(&s->len, 0, memory_order_release);
  atomic_store_explicit(&s->base, 0, memory_order_relaxed);
  s->used = false;
  pthread_mutex_unlock(&registry_mutex);
}

void
mrlog__mapfault_probe_pages(const uint8_t *p, size_t len)
{
  uintptr_t a = (uintptr_t)p, end = a + len;
  size_t page = page_size;

  if (len == 0 || page == 0)
    return;
  /* One byte per page: the first, then each later page's first byte. */
  for (;;) {
    (void)*(const volatile uint8_t *)a;
    a = (a & ~(uintptr_t)(page - 1)) + page;
    if (a >= end)
      break;
  }
}

unsigned long
mrlog__mapfault_total(void)
{
  return atomic_load_explicit(&total_faults, memory_order_relaxed);
}
