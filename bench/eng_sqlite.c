/*
 * eng_sqlite.c -- SQLite as a benchmark peer.
 *
 * Layout: one database file (log.db) in WAL mode with synchronous=FULL and
 * one table per queue: q<N>(pos INTEGER PRIMARY KEY, data BLOB).  Every
 * statement is prepared once.  Other settings are SQLite's defaults (4 KiB
 * pages, 2 MB page cache, automatic checkpoints every 1000 WAL pages).
 *
 * Invariants:
 *   1. Writes go through the application-level group commit (one writer
 *      thread, groupcommit.c): each drained batch is one BEGIN..COMMIT.
 *      synchronous=FULL syncs the WAL at every commit, so:
 *   2. ENG_INTERVAL: the writer commits at most every sync_interval_ms
 *      (min_commit_gap_ms), which is SQLite's "sync every 10 ms".
 *      ENG_DURABLE: the writer commits as soon as a batch is waiting.
 *   3. The connection is opened SQLITE_OPEN_NOMUTEX and used by one thread
 *      at a time: the writer while appends run, the workload's main thread
 *      (reads, truncate, close) only after gc_drain, whose mutex hand-off
 *      orders the two.
 *   4. next[q] is touched only by the writer thread after open.
 *   5. truncate runs DELETE ... WHERE pos < mid for every table in one
 *      transaction; there is no VACUUM, so the file does not shrink.
 */
#include "engine.h"
#include "groupcommit.h"
#include "peer.h"

#include <sqlite3.h>

#include <limits.h>
#include <stdlib.h>

struct eng {
  sqlite3 *db;                  /* the connection (see invariant 3) */
  sqlite3_stmt *begin;          /* "BEGIN" */
  sqlite3_stmt *commit;         /* "COMMIT" */
  sqlite3_stmt **insert;        /* per queue: INSERT INTO q<N> VALUES(?,?) */
  unsigned queues;              /* number of queues */
  uint64_t *next;               /* [writer] next position per queue */
  struct gc *gc;                /* the group commit */
  struct peer_error err;        /* first failure */
  char errbuf[200];             /* strerror's result (main thread) */
};

static int
fail(struct eng *e, const char *what)
{
  peer_error_set(&e->err, "sqlite %s: %s", what, sqlite3_errmsg(e->db));
  return -EIO;
}

/* Runs a prepared statement that returns no rows, then resets it. */
static int
step_done(sqlite3_stmt *st)
{
  int rc = sqlite3_step(st);

  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : rc;
}

static int
apply(void *ctx, struct gc_batch *b)
{
  struct eng *e = ctx;
  sqlite3_stmt *st;
  size_t i, j;

  if (step_done(e->begin) != 0)
    return fail(e, "BEGIN");
  for (i = 0; i < b->n_entries; i++) {
    struct gc_entry *en = &b->entries[i];
    st = e->insert[en->queue];
    for (j = 0; j < en->count; j++) {
      struct gc_rec *r = &b->recs[en->first + j];
      sqlite3_bind_int64(st, 1, (sqlite3_int64)e->next[en->queue]++);
      /* STATIC: the batch outlives the step. */
      sqlite3_bind_blob(st, 2, b->arena + r->off, (int)r->len, SQLITE_STATIC);
      if (step_done(st) != 0) {
        fail(e, "INSERT");
        sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
        return -EIO;
      }
    }
    en->position = e->next[en->queue] - 1;
  }
  if (step_done(e->commit) != 0) {
    fail(e, "COMMIT");
    sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    return -EIO;
  }
  return 0;
}

static const struct gc_ops ops = { apply, NULL };

static int
exec(struct eng *e, const char *sql, char *err)
{
  char *msg = NULL;

  if (sqlite3_exec(e->db, sql, NULL, NULL, &msg) == SQLITE_OK)
    return 0;
  snprintf(err, 200, "sqlite %s: %s", sql, msg ? msg : "?");
  sqlite3_free(msg);
  return -EIO;
}

static int
prepare(struct eng *e, const char *sql, sqlite3_stmt **st, char *err)
{
  if (sqlite3_prepare_v2(e->db, sql, -1, st, NULL) == SQLITE_OK)
    return 0;
  snprintf(err, 200, "sqlite prepare %s: %s", sql, sqlite3_errmsg(e->db));
  return -EIO;
}

/* Creates the tables if missing, prepares the inserts, reads max(pos). */
static int
setup_tables(struct eng *e, char *err)
{
  sqlite3_stmt *st;
  char sql[128];
  unsigned q;

  for (q = 0; q < e->queues; q++) {
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS q%u"
             " (pos INTEGER PRIMARY KEY, data BLOB)", q);
    if (exec(e, sql, err) != 0)
      return -EIO;
    snprintf(sql, sizeof(sql), "INSERT INTO q%u (pos, data) VALUES (?, ?)",
             q);
    if (prepare(e, sql, &e->insert[q], err) != 0)
      return -EIO;
    snprintf(sql, sizeof(sql), "SELECT max(pos) FROM q%u", q);
    if (prepare(e, sql, &st, err) != 0)
      return -EIO;
    e->next[q] = 0;
    if (sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
      e->next[q] = (uint64_t)sqlite3_column_int64(st, 0) + 1;
    sqlite3_finalize(st);
  }
  return 0;
}

static void
destroy(struct eng *e)
{
  unsigned q;

  for (q = 0; e->insert && q < e->queues; q++)
    sqlite3_finalize(e->insert[q]);
  sqlite3_finalize(e->begin);
  sqlite3_finalize(e->commit);
  if (e->db)
    sqlite3_close(e->db);
  peer_error_destroy(&e->err);
  free(e->insert);
  free(e->next);
  free(e);
}

static int
eng_open(const char *dir, const struct eng_config *config, struct eng **out,
         char *err)
{
  struct eng *e = calloc(1, sizeof(*e));
  struct gc_config gcc = { 0, 0, PEER_MAX_BATCH_BYTES };
  char path[PATH_MAX];
  int rc;

  *out = NULL;
  if (e == NULL)
    return -ENOMEM;
  peer_error_init(&e->err);
  e->queues = config->queues;
  e->insert = calloc(config->queues, sizeof(*e->insert));
  e->next = calloc(config->queues, sizeof(*e->next));
  if (!e->insert || !e->next) {
    snprintf(err, 200, "out of memory");
    destroy(e);
    return -ENOMEM;
  }
  snprintf(path, sizeof(path), "%s/log.db", dir);
  if (sqlite3_open_v2(path, &e->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    snprintf(err, 200, "sqlite open: %s",
             e->db ? sqlite3_errmsg(e->db) : "out of memory");
    destroy(e);
    return -EIO;
  }
  rc = exec(e, "PRAGMA journal_mode=WAL", err);
  if (rc == 0)
    rc = exec(e, "PRAGMA synchronous=FULL", err);
  if (rc == 0)
    rc = setup_tables(e, err);
  if (rc == 0)
    rc = prepare(e, "BEGIN", &e->begin, err);
  if (rc == 0)
    rc = prepare(e, "COMMIT", &e->commit, err);
  if (rc == 0) {
    if (config->durability == ENG_INTERVAL)
      gcc.min_commit_gap_ms = config->sync_interval_ms;
    rc = gc_start(&e->gc, &ops, e, &gcc);
    if (rc != 0)
      snprintf(err, 200, "group commit start failed");
  }
  if (rc != 0) {
    destroy(e);
    return rc;
  }
  *out = e;
  return 0;
}

static int
eng_append(struct eng *e, unsigned q, const struct iovec *records,
           size_t count, eng_done_fn done, void *arg)
{
  return gc_submit(e->gc, q, records, count, done, arg);
}

static int
eng_append_wait(struct eng *e, unsigned q, const void *data, size_t len)
{
  return gc_submit_wait(e->gc, q, data, len);
}

static int
eng_read_queue(struct eng *e, unsigned q, eng_visit_fn visit, void *arg)
{
  sqlite3_stmt *st;
  char sql[64];
  int rc, stop = 0;

  snprintf(sql, sizeof(sql), "SELECT pos, data FROM q%u ORDER BY pos", q);
  if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
    return fail(e, "prepare SELECT");
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const void *data = sqlite3_column_blob(st, 1);
    int len = sqlite3_column_bytes(st, 1);
    stop = visit(arg, (uint64_t)sqlite3_column_int64(st, 0), data,
                 (size_t)len);
    if (stop != 0)
      break;
  }
  sqlite3_finalize(st);
  if (stop != 0)
    return stop;
  return rc == SQLITE_DONE ? 0 : fail(e, "SELECT");
}

static int
eng_truncate(struct eng *e, const uint64_t *below)
{
  sqlite3_stmt *st;
  char sql[64];
  unsigned q;
  int rc = gc_drain(e->gc);

  if (rc != 0)
    return rc;
  if (step_done(e->begin) != 0)
    return fail(e, "BEGIN");
  for (q = 0; q < e->queues; q++) {
    snprintf(sql, sizeof(sql), "DELETE FROM q%u WHERE pos < ?", q);
    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
      rc = fail(e, "prepare DELETE");
    if (rc == 0) {
      sqlite3_bind_int64(st, 1, (sqlite3_int64)below[q]);
      if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(e, "DELETE");
      sqlite3_finalize(st);
    }
    if (rc != 0) {
      sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
      return rc;
    }
  }
  /* synchronous=FULL: the commit is durable when it returns. */
  return step_done(e->commit) == 0 ? 0 : fail(e, "COMMIT");
}

static int
eng_stats(struct eng *e, struct eng_stats *st)
{
  (void)e;
  st->memory_bytes = st->retained_records = st->retained_bytes = -1;
  st->fsyncs = -1;
  return 0;
}

static int
eng_close(struct eng *e)
{
  int rc = gc_stop(e->gc);

  destroy(e);
  return rc;
}

static const char *
eng_strerror(struct eng *e, int status)
{
  if (e == NULL)
    return strerror(status < 0 ? -status : status);
  return peer_error_get(&e->err, status, e->errbuf, sizeof(e->errbuf));
}

const struct engine bench_engine_sqlite = {
  .name = "sqlite",
  .open = eng_open,
  .append = eng_append,
  .append_wait = eng_append_wait,
  .read_queue = eng_read_queue,
  .truncate = eng_truncate,
  .stats = eng_stats,
  .close = eng_close,
  .strerror = eng_strerror,
};
