/*
 * mirror_admin.h -- the benchmark's own AMQP connection to the cluster
 * (bench/mirror_admin.c): declares, purges, counts and deletes the quorum
 * queues that bench/mirror-bench's mirrors ship to.  One thread uses it
 * (the benchmark's main thread).
 */
#ifndef MRLOG_BENCH_MIRROR_ADMIN_H
#define MRLOG_BENCH_MIRROR_ADMIN_H

#include <stddef.h>
#include <stdint.h>

struct admin;

/* Connects to the first URI of the comma-separated list.  Returns the
 * connection (owned; free with admin_close) or NULL, having printed why. */
struct admin *admin_open(const char *uris);
void admin_close(struct admin *a);

/* Declares the durable direct exchange, and for each of the n log queue
 * names the durable quorum queue prefix + name bound with routing key
 * name, as the mirror declares them (mrlog_mirror.h), and the catalog
 * queue.  0 or -1. */
int admin_declare(struct admin *a, const char *exchange, const char *prefix,
                  const char *catalog, char *const *names, unsigned n);
/* Purges the n queues and the catalog.  0 or -1. */
int admin_purge(struct admin *a, const char *prefix, const char *catalog,
                char *const *names, unsigned n);
/* The messages ready in the n queues, summed, into *out (OUT).  0 or -1. */
int admin_count(struct admin *a, const char *prefix, char *const *names,
                unsigned n, uint64_t *out);
/* The broker's own confirm latency, for comparison with the mirror's:
 * on channel 2 in confirm mode, publishes n persistent messages of len
 * bytes to exchange, one every period_ns, with routing keys names[0],
 * names[1], ... in turn (nnames of them), without waiting for confirms
 * (as the mirror publishes a paced stream); *p50_ms, *p99_ms (OUT) are
 * the times from a publish to the read of its confirm.  0 or -1. */
int admin_confirm_latency(struct admin *a, const char *exchange,
                          char *const *names, unsigned nnames, size_t len,
                          unsigned n, int64_t period_ns, double *p50_ms,
                          double *p99_ms);
/* Deletes the n queues, the catalog and the exchange.  0 or -1. */
int admin_delete(struct admin *a, const char *exchange, const char *prefix,
                 const char *catalog, char *const *names, unsigned n);

#endif
