/*
 * mirror_admin.h -- the benchmark's own AMQP connection to the cluster
 * (bench/mirror_admin.c): declares, purges, counts and deletes the quorum
 * queues that bench/mirror-bench's mirrors ship to.  One thread uses it
 * (the benchmark's main thread).
 */
#ifndef MRLOG_BENCH_MIRROR_ADMIN_H
#define MRLOG_BENCH_MIRROR_ADMIN_H

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
/* Deletes the n queues, the catalog and the exchange.  0 or -1. */
int admin_delete(struct admin *a, const char *exchange, const char *prefix,
                 const char *catalog, char *const *names, unsigned n);

#endif
