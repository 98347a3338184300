/*
 * mirror_driver.h -- what the parts of tests/mirror_driver share: the
 * records' contents, the manifest of what a source log should hold, the
 * logs, the mirrors' configuration and the replica check.
 *
 * A record's bytes are a function of its queue's name, the queue's
 * incarnation (0 at the first creation, + 1 at each re-creation) and its
 * position (record_fill), so a check knows every record byte for byte
 * without keeping them, also across processes and SIGKILLs.
 */
#ifndef MRLOG_MIRROR_DRIVER_H
#define MRLOG_MIRROR_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "mrlog.h"
#include "mrlog_mirror.h"

#define DRIVER_RECORD_MAX 160

/* One queue of a source log, as its writer left it. */
struct entry {
  char name[64];
  unsigned inc;     /* incarnation of the records it holds */
  int live;         /* 0: deleted for good, the replica must lack it */
  uint64_t next;    /* next_position at the end */
  int complete;     /* 1: no explicit truncation, the replica must hold
                       every position below next */
  uint64_t first;   /* the records below it were truncated explicitly:
                       the replica must not hold them */
};

struct manifest {
  struct entry *e;
  size_t n;
};

/* Fills buf (DRIVER_RECORD_MAX bytes) with record (name, inc, pos);
 * returns its length (68 to 132 bytes, 100 on average). */
size_t record_fill(const char *name, unsigned inc, uint64_t pos,
                   unsigned char *buf);

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                              noreturn));
void sleep_ms(unsigned ms);
uint64_t now_ms(void);
/* Opens (creating) the log at dir; exits on failure. */
mrlog *open_log(const char *dir, int truncate_on_commit);
/* A mirror's or replica's configuration for MRLOG_AMQP_URIS (or uris),
 * the exchange given and queue prefix exchange + ".". */
void config_for(struct mrlog_mirror_config *cfg, const char *uris,
                const char *exchange);
const char *env_uris(void);

struct entry *manifest_add(struct manifest *m, const char *name);
void manifest_write(const struct manifest *m, const char *path);
void manifest_read(struct manifest *m, const char *path);

/* 1 when dst holds what the manifest says src holds (docs/REPLICATION.md,
 * "Failure handling"); 0 with the reason printed.  src may be NULL: the
 * manifest alone is checked. */
int compare_logs(mrlog *src, mrlog *dst, const struct manifest *m);
/* 1 when dst's queues have reached the manifest's next positions and the
 * deleted ones are gone (a cheap test before compare_logs). */
int replica_reached(mrlog *dst, const struct manifest *m);
/* Runs until rep's log reached m and no delivery came for 1 s, or for
 * timeout_s; prints the replica's stats.  1 when reached. */
int await_replica(mrlog_mirror *rep, mrlog *dst, const struct manifest *m,
                  unsigned timeout_s, const char *progress);

/* mirror_cases.c */
int case_deletes(void);
int case_badinput(void);
/* mirror_workload.c */
int run_load(const char *src, const char *manifest, const char *exchange,
             unsigned queues, uint64_t records);
int run_ship(const char *src, const char *manifest, const char *exchange,
             unsigned queues, uint64_t records, unsigned pace_ms,
             const char *progress);

#endif
