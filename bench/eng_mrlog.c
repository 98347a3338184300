/*
 * eng_mrlog.c -- the benchmark's engine interface over mrlog's public API
 * (include/mrlog.h) and nothing else.
 *
 * Invariants:
 *   1. Each append is one mrlog_append_cb (count 1) or one
 *      mrlog_append_batch_cb call, with the workload's callback passed
 *      straight through (the signatures match): the calls without a
 *      future, as a server that acts on callbacks alone uses them.
 *   2. Policy: ENG_INTERVAL is fsync_interval_ms = sync_interval_ms (10);
 *      ENG_DURABLE is the default policy (0: group commit).  segment_bytes
 *      comes from the config (8 MiB by default, so W5 can free whole
 *      segments); every other field keeps its default, except that the
 *      engine "mrlog-copy" sets record_store = MRLOG_STORE_COPY ("mrlog"
 *      keeps the default store, MRLOG_STORE_DEFAULT: the mapped one on a
 *      64-bit address space).
 *   3. Queue names are "q<N>", created (and waited for) at open when
 *      missing, so the workload never times queue creation.
 */
#include "engine.h"

#include <mrlog.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_LEN 16

struct eng {
  mrlog *log;             /* the open log */
  unsigned queues;        /* number of queues */
  char (*names)[NAME_LEN]; /* "q0", "q1", ...; read-only after open */
};

static void
make_names(struct eng *e)
{
  unsigned q;

  for (q = 0; q < e->queues; q++)
    snprintf(e->names[q], NAME_LEN, "q%u", q);
}

static int
open_store(const char *dir, const struct eng_config *config, int store,
           struct eng **out, char *err)
{
  struct eng *e = calloc(1, sizeof(*e));
  mrlog_policy policy;
  unsigned q;
  int rc;

  *out = NULL;
  if (e == NULL)
    return MRLOG_ENOMEM;
  e->queues = config->queues;
  e->names = calloc(config->queues, NAME_LEN);
  if (e->names == NULL) {
    free(e);
    return MRLOG_ENOMEM;
  }
  make_names(e);
  mrlog_policy_init(&policy);
  if (config->durability == ENG_INTERVAL)
    policy.fsync_interval_ms = config->sync_interval_ms;
  if (config->segment_bytes != 0) /* else the default policy's */
    policy.segment_bytes = config->segment_bytes;
  policy.record_store = store;
  rc = mrlog_open(dir, &policy, &e->log);
  if (rc != 0) {
    snprintf(err, 200, "mrlog_open: %s", mrlog_strerror(rc));
    free(e->names);
    free(e);
    return rc;
  }
  for (q = 0; q < e->queues; q++) {
    if (mrlog_queue_exists(e->log, e->names[q]))
      continue;
    rc = mrlog_wait(mrlog_create_queue(e->log, e->names[q], NULL, NULL), NULL);
    if (rc != 0) {
      snprintf(err, 200, "mrlog_create_queue: %s", mrlog_strerror(rc));
      mrlog_close(e->log);
      free(e->names);
      free(e);
      return rc;
    }
  }
  *out = e;
  return 0;
}

static int
eng_append(struct eng *e, unsigned q, const struct iovec *records,
           size_t count, eng_done_fn done, void *arg)
{
  if (count == 1)
    mrlog_append_cb(e->log, e->names[q], NULL, records[0].iov_base,
                    records[0].iov_len, done, arg);
  else
    mrlog_append_batch_cb(e->log, e->names[q], NULL, records, count, done,
                          arg);
  return 0;
}

static int
eng_append_wait(struct eng *e, unsigned q, const void *data, size_t len)
{
  return mrlog_wait(
      mrlog_append(e->log, e->names[q], NULL, data, len, NULL, NULL), NULL);
}

static int
eng_read_queue(struct eng *e, unsigned q, eng_visit_fn visit, void *arg)
{
  return mrlog_range(e->log, e->names[q], 0, UINT64_MAX, visit, arg);
}

/* Shared by the truncate callbacks: the first failure, 0 if none.  A
 * callback runs before its future is ready, so once every future has been
 * waited for every callback has run. */
struct trunc_wait {
  atomic_int status;
};

static void
on_truncated(void *arg, int status, uint64_t position)
{
  struct trunc_wait *w = arg;
  int zero = 0;

  (void)position;
  if (status < 0)
    atomic_compare_exchange_strong(&w->status, &zero, status);
}

static int
eng_truncate(struct eng *e, const uint64_t *below)
{
  struct trunc_wait w;
  mrlog_future **futures;
  unsigned q;
  int rc = 0, s;

  futures = calloc(e->queues, sizeof(*futures));
  if (futures == NULL)
    return MRLOG_ENOMEM;
  atomic_init(&w.status, 0);
  /* All truncates are submitted before any is waited for, so one group
   * commit can cover them all. */
  for (q = 0; q < e->queues; q++) {
    if (below[q] == 0)
      continue;
    futures[q] = mrlog_truncate(e->log, e->names[q], below[q] - 1,
                                on_truncated, &w);
  }
  for (q = 0; q < e->queues; q++) {
    if (futures[q] == NULL)
      continue;
    s = mrlog_wait(futures[q], NULL);
    if (s < 0 && rc == 0)
      rc = s;
  }
  free(futures);
  s = atomic_load(&w.status);
  return rc != 0 ? rc : s;
}

static int
eng_stats(struct eng *e, struct eng_stats *st)
{
  struct mrlog_stats ms;
  struct mrlog_queue_info info;
  int64_t bytes = 0;
  unsigned q;
  int rc = mrlog_stats(e->log, &ms);

  if (rc != 0)
    return rc;
  for (q = 0; q < e->queues; q++)
    if (mrlog_queue_info(e->log, e->names[q], &info) == 0)
      bytes += (int64_t)info.bytes;
  st->memory_bytes = (int64_t)ms.memory_bytes;
  st->retained_records = (int64_t)ms.records;
  st->retained_bytes = bytes;
  st->fsyncs = (int64_t)ms.fsyncs;
  return 0;
}

static int
eng_close(struct eng *e)
{
  int rc = mrlog_close(e->log);

  free(e->names);
  free(e);
  return rc;
}

static int
eng_open(const char *dir, const struct eng_config *config, struct eng **out,
         char *err)
{
  return open_store(dir, config, MRLOG_STORE_DEFAULT, out, err);
}

static int
eng_open_copy(const char *dir, const struct eng_config *config,
              struct eng **out, char *err)
{
  return open_store(dir, config, MRLOG_STORE_COPY, out, err);
}

static const char *
eng_strerror(struct eng *e, int status)
{
  (void)e;
  return mrlog_strerror(status);
}

const struct engine bench_engine_mrlog = {
  .name = "mrlog",
  .open = eng_open,
  .append = eng_append,
  .append_wait = eng_append_wait,
  .read_queue = eng_read_queue,
  .truncate = eng_truncate,
  .stats = eng_stats,
  .close = eng_close,
  .strerror = eng_strerror,
};

const struct engine bench_engine_mrlog_copy = {
  .name = "mrlog-copy",
  .open = eng_open_copy,
  .append = eng_append,
  .append_wait = eng_append_wait,
  .read_queue = eng_read_queue,
  .truncate = eng_truncate,
  .stats = eng_stats,
  .close = eng_close,
  .strerror = eng_strerror,
};
