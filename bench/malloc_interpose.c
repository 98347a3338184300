/*
 * malloc_interpose.c -- replaces the process's malloc, calloc, realloc,
 * aligned_alloc and posix_memalign with versions that count their calls
 * (while malloc_counting is set) and forward to glibc's __libc_* entry
 * points.  Test and benchmark code only: it is linked into
 * bench/alloc_check (with -export-dynamic, so libmrlog, shared or static,
 * binds to these definitions) and never into the library.
 *
 * Invariant: the counters are relaxed atomics; read malloc_calls only
 * after the threads whose allocations count are joined.
 */
#include "malloc_interpose.h"

#include <stddef.h>

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);

atomic_int malloc_counting;
atomic_long malloc_calls;

static void
count(void)
{
  if (atomic_load_explicit(&malloc_counting, memory_order_relaxed))
    atomic_fetch_add_explicit(&malloc_calls, 1, memory_order_relaxed);
}

void *
malloc(size_t size)
{
  count();
  return __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
  count();
  return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t size)
{
  count();
  return __libc_realloc(p, size);
}

void *
aligned_alloc(size_t align, size_t size)
{
  count();
  return __libc_memalign(align, size);
}

int
posix_memalign(void **out, size_t align, size_t size)
{
  void *p;

  count();
  p = __libc_memalign(align, size);
  if (p == NULL)
    return 12; /* ENOMEM */
  *out = p;
  return 0;
}
