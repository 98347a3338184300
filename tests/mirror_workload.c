/*
 * mirror_workload.c -- the shipping processes of tests/mirror_driver:
 * `load` (many queues, truncations, deletions, re-creations, one run) and
 * `ship` (a paced run that resumes after a SIGKILL).  Both append while
 * their mirror runs, stop it with a drain and write the manifest only
 * once everything durable is confirmed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "mirror_driver.h"

#define LOAD_BATCH 50
#define SHIP_BATCH 20
#define LOAD_PACE_MS 30

static void append_batch(mrlog *log, const char *name, unsigned inc,
                         uint64_t first, unsigned count,
                         mrlog_future **out) {
  static unsigned char buf[LOAD_BATCH][DRIVER_RECORD_MAX];
  struct iovec iov[LOAD_BATCH];

  for (unsigned i = 0; i < count; i++) {
    iov[i].iov_base = buf[i];
    iov[i].iov_len = record_fill(name, inc, first + i, buf[i]);
  }
  *out = mrlog_append_batch(log, name, &first, iov, count, NULL, NULL);
  /* The batch is copied when the call returns. */
}

static void must(mrlog_future *f, const char *what, const char *name) {
  int rc = mrlog_wait(f, NULL);
  if (rc != 0) die("%s %s: %s", what, name, mrlog_strerror(rc));
}

/* Makes everything durable, waits (300 s at most) until the mirror has
 * confirmed all of it, takes its stats into *st (OUT) and stops it with a
 * drain. */
static void drain(mrlog *log, mrlog_mirror *mir, const struct manifest *m,
                  const char *what, struct mrlog_mirror_stats *st) {
  uint64_t t0 = now_ms();
  int rc;

  must(mrlog_sync(log, NULL, NULL), "sync", "");
  for (;;) {
    size_t done = 0;
    for (size_t i = 0; i < m->n; i++) {
      uint64_t confirmed = 0;
      if (!m->e[i].live ||
          (mrlog_mirror_queue(mir, m->e[i].name, &confirmed, NULL) == 0 &&
           confirmed == m->e[i].next))
        done++;
    }
    mrlog_mirror_stats(mir, st);
    if (done == m->n || now_ms() - t0 > 300000) break;
    sleep_ms(50);
  }
  rc = mrlog_mirror_stop(mir, 300000);
  printf("  %s: drained in %.1f s; %" PRIu64 " records in %" PRIu64
         " messages published, %" PRIu64 " confirmed, %" PRIu64
         " delete markers, %" PRIu64 " reconnects\n",
         what, (double)(now_ms() - t0) / 1000, st->records_published,
         st->messages_published, st->records_confirmed, st->deletes,
         st->reconnects);
  if (rc != 0) die("mirror_stop did not drain: %s", mrlog_strerror(rc));
}

int run_load(const char *src, const char *manifest, const char *exchange,
             unsigned queues, uint64_t records) {
  struct mrlog_mirror_config cfg;
  struct mrlog_mirror_stats st;
  struct manifest m = {NULL, 0};
  mrlog_future **futs = calloc(queues, sizeof(*futs));
  uint64_t per = records / queues, *done = calloc(queues, sizeof(*done));
  uint64_t t0 = now_ms(), appended = 0, truncs = 0, deletes = 0;
  unsigned rounds = (unsigned)((per + LOAD_BATCH - 1) / LOAD_BATCH);
  mrlog_mirror *mir;
  mrlog *log = open_log(src, 0);
  char name[32];

  if (futs == NULL || done == NULL || queues == 0 || per == 0)
    die("bad load arguments");
  for (unsigned q = 0; q < queues; q++) {
    snprintf(name, sizeof(name), "L%u", q);
    must(mrlog_create_queue(log, name, NULL, NULL), "create", name);
    manifest_add(&m, name);
  }
  config_for(&cfg, env_uris(), exchange);
  if (mrlog_mirror_start(log, &cfg, &mir) != 0) die("mirror_start");
  for (unsigned r = 0; r < rounds; r++) {
    for (unsigned q = 0; q < queues; q++) {
      struct entry *e = &m.e[q];
      unsigned n = per - done[q] < LOAD_BATCH ? (unsigned)(per - done[q])
                                              : LOAD_BATCH;
      futs[q] = NULL;
      if (!e->live || n == 0) continue;
      append_batch(log, e->name, e->inc, e->next, n, &futs[q]);
      e->next += n;
      done[q] += n;
      appended += n;
    }
    for (unsigned q = 0; q < queues; q++)
      if (futs[q] != NULL) must(futs[q], "append", m.e[q].name);
    /* A truncation every 2 rounds, a deletion and re-creation every 3,
     * each on another queue; the last queue deleted for good at 3/4.  The
     * rounds are paced so that the mirror ships while they come. */
    sleep_ms(LOAD_PACE_MS);
    if (r % 2 == 1) {
      struct entry *e = &m.e[(r / 2) % queues];
      if (e->live && e->next > LOAD_BATCH) {
        must(mrlog_truncate(log, e->name, e->next - LOAD_BATCH / 2 - 1, NULL,
                            NULL),
             "truncate", e->name);
        e->complete = 0;
        e->first = e->next - LOAD_BATCH / 2;
        truncs++;
      }
    }
    if (r % 3 == 2) {
      struct entry *e = &m.e[(r / 3 + 3) % queues];
      if (e->live) {
        must(mrlog_delete_queue(log, e->name, NULL, NULL), "delete",
             e->name);
        must(mrlog_create_queue(log, e->name, NULL, NULL), "create",
             e->name);
        e->inc++;
        e->next = 0;
        e->complete = 1;
        e->first = 0;
        deletes++;
      }
    }
    if (queues > 1 && r == rounds * 3 / 4 && m.e[queues - 1].live) {
      struct entry *e = &m.e[queues - 1];
      must(mrlog_delete_queue(log, e->name, NULL, NULL), "delete", e->name);
      e->live = 0;
      deletes++;
    }
  }
  printf("  load: %" PRIu64 " records appended to %u queues in %.1f s, "
         "%" PRIu64 " truncations, %" PRIu64 " deletions\n",
         appended, queues, (double)(now_ms() - t0) / 1000, truncs, deletes);
  drain(log, mir, &m, "load", &st);
  printf("  load: %.1f s from the first append to the drain's end\n",
         (double)(now_ms() - t0) / 1000);
  manifest_write(&m, manifest);
  if (mrlog_close(log) != 0) die("close");
  free(futs);
  free(done);
  free(m.e);
  return 0;
}

static void progress(const char *path, uint64_t appended, mrlog_mirror *mir) {
  struct mrlog_mirror_stats st;
  char tmp[4096];
  FILE *f;

  mrlog_mirror_stats(mir, &st);
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  f = fopen(tmp, "w");
  if (f == NULL) return;
  fprintf(f, "appended %" PRIu64 " confirmed %" PRIu64 " connected %d "
          "reconnects %" PRIu64 "\n",
          appended, st.records_confirmed, st.connected, st.reconnects);
  fclose(f);
  rename(tmp, path);
}

int run_ship(const char *src, const char *manifest, const char *exchange,
             unsigned queues, uint64_t records, unsigned pace_ms,
             const char *path) {
  struct mrlog_mirror_config cfg;
  struct mrlog_mirror_stats st;
  struct manifest m = {NULL, 0};
  struct mrlog_queue_info info;
  uint64_t per = records / queues, appended = 0, beyond = 0, *from;
  mrlog_mirror *mir;
  mrlog *log = open_log(src, 1);
  char name[32];
  int more = 1;

  from = calloc(queues, sizeof(*from));
  if (from == NULL || queues == 0 || per == 0) die("bad ship arguments");
  for (unsigned q = 0; q < queues; q++) {
    struct entry *e;
    snprintf(name, sizeof(name), "S%u", q);
    if (!mrlog_queue_exists(log, name))
      must(mrlog_create_queue(log, name, NULL, NULL), "create", name);
    e = manifest_add(&m, name);
    e->complete = 1;
    if (mrlog_queue_info(log, name, &info) != 0) die("queue_info");
    e->next = info.next_position;
    appended += e->next;
    /* Where the mirror must resume: its committed position. */
    if (mrlog_committed(log, name, "mirror", &from[q]) != 0) from[q] = 0;
  }
  printf("  ship: resuming with %" PRIu64 " records in the log\n", appended);
  config_for(&cfg, env_uris(), exchange);
  if (mrlog_mirror_start(log, &cfg, &mir) != 0) die("mirror_start");
  while (more) {
    mrlog_future *futs[64];
    more = 0;
    for (unsigned q = 0; q < queues && q < 64; q++) {
      struct entry *e = &m.e[q];
      unsigned n = per - e->next < SHIP_BATCH ? (unsigned)(per - e->next)
                                              : SHIP_BATCH;
      futs[q] = NULL;
      if (n == 0) continue;
      append_batch(log, e->name, 0, e->next, n, &futs[q]);
      e->next += n;
      appended += n;
      more = 1;
    }
    for (unsigned q = 0; q < queues && q < 64; q++)
      if (futs[q] != NULL) must(futs[q], "append", m.e[q].name);
    progress(path, appended, mir);
    if (more && pace_ms) sleep_ms(pace_ms);
  }
  drain(log, mir, &m, "ship", &st);
  /* Resumed from the committed positions: with no resend (no reconnect,
   * nack or return) exactly the records from there were published. */
  for (unsigned q = 0; q < queues; q++) {
    uint64_t committed = 0;
    beyond += m.e[q].next - from[q];
    if (mrlog_committed(log, m.e[q].name, "mirror", &committed) != 0 ||
        committed != m.e[q].next)
      die("%s committed %" PRIu64 ", next %" PRIu64, m.e[q].name, committed,
          m.e[q].next);
  }
  printf("  ship: %" PRIu64 " records beyond the committed positions at "
         "start, %" PRIu64 " published\n", beyond, st.records_published);
  if (st.reconnects == 0 && st.nacks == 0 && st.returns == 0 &&
      st.records_published != beyond)
    die("the mirror did not resume at the committed positions");
  manifest_write(&m, manifest);
  if (mrlog_close(log) != 0) die("close");
  free(from);
  free(m.e);
  return 0;
}
