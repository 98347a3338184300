/*
 * base.h -- what every private header of the library starts from: the
 * feature macro that must precede any system header, the public types,
 * the cache-line size, the thread-local storage model and LSNs.  No
 * state, no functions.
 */
#ifndef MRLOG_BASE_H
#define MRLOG_BASE_H

/* Must come before any system header: pthread_setname_np, syncfs, etc. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "mrlog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MRLOG_CACHELINE 64
/* The library's thread-locals (96 bytes in all) use the initial-exec
 * model: the default one for a shared library calls __tls_get_addr on
 * every access, and mrlog_append reads several.  callgrind, W1 at 5%
 * scale: mrlog_append 495 -> 457 instructions per call, the whole run
 * 2.3% fewer.  The cost: the library is marked STATIC_TLS, so a program
 * that dlopen()s it needs 96 bytes of glibc's static TLS surplus, and
 * gets a dlopen error where other libraries have used that up
 * (tests/dlopen_test loads it; here it loaded even with the tunable
 * glibc.rtld.optional_static_tls=0). */
#define MRLOG_TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* An LSN orders every byte ever written: segment number in the high 32
 * bits, offset in the segment in the low 32 (segments stay < 4 GiB). */
#define MRLOG_LSN(segno, off) (((uint64_t)(segno) << 32) | (uint64_t)(off))
#define MRLOG_LSN_SEGNO(lsn) ((lsn) >> 32)
#define MRLOG_LSN_OFF(lsn) ((uint32_t)(lsn))

#endif /* MRLOG_BASE_H */
