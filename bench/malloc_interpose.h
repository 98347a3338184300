/*
 * malloc_interpose.h -- the counters of bench/malloc_interpose.c, which
 * replaces the process's allocation functions (see there).
 */
#ifndef MRLOG_BENCH_MALLOC_INTERPOSE_H
#define MRLOG_BENCH_MALLOC_INTERPOSE_H

#include <stdatomic.h>

/* Set to count allocation calls; cleared to stop. */
extern atomic_int malloc_counting;
/* Allocation calls made while malloc_counting was set. */
extern atomic_long malloc_calls;

#endif
