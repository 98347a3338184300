/*
 * futex.h -- the two futex operations mrlog sleeps and wakes with (Linux).
 *
 * A waiter sleeps only while *word still equals the value it last read,
 * so a wake that lands between its check and its sleep is never lost as
 * long as the waker changes the word (or the waiter announced itself in
 * the word) before waking.  Private futexes: the words are never shared
 * between processes.
 */
#ifndef MRLOG_FUTEX_H
#define MRLOG_FUTEX_H

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *word == val, until woken, or until the CLOCK_MONOTONIC
 * deadline (NULL: none).  Returns 0, or -1 with errno (EAGAIN: the word
 * had changed; ETIMEDOUT; EINTR). */
static inline long
mrlog__futex_wait(atomic_uint *word, unsigned val,
                  const struct timespec *deadline)
{
  return syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, val, deadline,
                 NULL, FUTEX_BITSET_MATCH_ANY);
}

/* Wakes up to n waiters of word (INT_MAX: all). */
static inline void
mrlog__futex_wake(atomic_uint *word, int n)
{
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#endif /* MRLOG_FUTEX_H */
