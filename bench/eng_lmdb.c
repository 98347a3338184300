/*
 * eng_lmdb.c -- LMDB as a benchmark peer.
 *
 * Layout: one named database per queue ("q<N>"), key = big-endian u64
 * position (LMDB's default memcmp order), value = the record, written with
 * MDB_APPEND (keys only grow, so LMDB fills pages sequentially).  Map size
 * 64 GiB (address space only: the file grows as pages are used).
 *
 * Invariants:
 *   1. Writes go through the application-level group commit (one writer
 *      thread, groupcommit.c): each drained batch is one write transaction.
 *   2. ENG_INTERVAL: the environment is opened with MDB_NOSYNC and the
 *      ticker calls mdb_env_sync(env, 1) every sync_interval_ms.
 *      ENG_DURABLE: normal durable commits (LMDB syncs the data, then the
 *      meta page, at every commit).
 *   3. next[q] is touched only by the writer thread after open.
 *   4. truncate deletes with a cursor in one write transaction, committed
 *      durably (mdb_env_sync after the commit when opened with MDB_NOSYNC).
 *      Freed pages go to LMDB's free list; the file never shrinks.
 *   5. Reads use a read-only transaction on the calling thread (MDB_NOTLS:
 *      read slots are tied to transactions, not threads).
 */
#include "engine.h"
#include "groupcommit.h"
#include "peer.h"

#include <lmdb.h>

#include <stdlib.h>

#define MAP_SIZE (64ull << 30)

struct eng {
  MDB_env *env;           /* the environment (one data file) */
  MDB_dbi *dbis;          /* one per queue; read-only after open */
  unsigned queues;        /* number of queues */
  uint64_t *next;         /* [writer] next position per queue */
  int nosync;             /* opened with MDB_NOSYNC (interval mode) */
  struct gc *gc;          /* the group commit */
  struct peer_error err;  /* first failure */
  char errbuf[200];       /* strerror's result (main thread) */
};

static int
fail(struct eng *e, const char *what, int rc)
{
  peer_error_set(&e->err, "lmdb %s: %s", what, mdb_strerror(rc));
  return -EIO;
}

static int
apply(void *ctx, struct gc_batch *b)
{
  struct eng *e = ctx;
  unsigned char key[8];
  MDB_txn *txn;
  MDB_val k = { 8, key }, v;
  size_t i, j;
  int rc = mdb_txn_begin(e->env, NULL, 0, &txn);

  if (rc != 0)
    return fail(e, "txn_begin", rc);
  for (i = 0; i < b->n_entries; i++) {
    struct gc_entry *en = &b->entries[i];
    for (j = 0; j < en->count; j++) {
      struct gc_rec *r = &b->recs[en->first + j];
      peer_key(key, e->next[en->queue]++);
      v.mv_size = r->len;
      v.mv_data = b->arena + r->off;
      rc = mdb_put(txn, e->dbis[en->queue], &k, &v, MDB_APPEND);
      if (rc != 0) {
        mdb_txn_abort(txn);
        return fail(e, "put", rc);
      }
    }
    en->position = e->next[en->queue] - 1;
  }
  rc = mdb_txn_commit(txn);
  return rc ? fail(e, "commit", rc) : 0;
}

static int
sync_env(void *ctx)
{
  struct eng *e = ctx;
  int rc = mdb_env_sync(e->env, 1);

  return rc ? fail(e, "env_sync", rc) : 0;
}

static const struct gc_ops ops = { apply, sync_env };

/* Opens (creating) every queue's database and reads its last key. */
static int
open_dbs(struct eng *e, char *err)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  char name[16];
  unsigned q;
  int rc = mdb_txn_begin(e->env, NULL, 0, &txn);

  if (rc != 0)
    goto fail;
  for (q = 0; q < e->queues; q++) {
    snprintf(name, sizeof(name), "q%u", q);
    rc = mdb_dbi_open(txn, name, MDB_CREATE, &e->dbis[q]);
    if (rc == 0)
      rc = mdb_cursor_open(txn, e->dbis[q], &cur);
    if (rc != 0) {
      mdb_txn_abort(txn);
      goto fail;
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    e->next[q] = rc == 0 ? peer_key_decode(k.mv_data, k.mv_size) + 1 : 0;
    mdb_cursor_close(cur);
  }
  rc = mdb_txn_commit(txn);
  if (rc == 0)
    return 0;
fail:
  snprintf(err, 200, "lmdb open databases: %s", mdb_strerror(rc));
  return -EIO;
}

static void
destroy(struct eng *e)
{
  if (e->env != NULL)
    mdb_env_close(e->env);
  peer_error_destroy(&e->err);
  free(e->dbis);
  free(e->next);
  free(e);
}

static int
eng_open(const char *dir, const struct eng_config *config, struct eng **out,
         char *err)
{
  struct eng *e = calloc(1, sizeof(*e));
  struct gc_config gcc = { 0, 0, PEER_MAX_BATCH_BYTES };
  unsigned flags = MDB_NOTLS;
  int rc;

  *out = NULL;
  if (e == NULL)
    return -ENOMEM;
  peer_error_init(&e->err);
  e->queues = config->queues;
  e->dbis = calloc(config->queues, sizeof(*e->dbis));
  e->next = calloc(config->queues, sizeof(*e->next));
  if (!e->dbis || !e->next) {
    snprintf(err, 200, "out of memory");
    destroy(e);
    return -ENOMEM;
  }
  if (config->durability == ENG_INTERVAL) {
    flags |= MDB_NOSYNC;
    e->nosync = 1;
    gcc.sync_every_ms = config->sync_interval_ms;
  }
  rc = mdb_env_create(&e->env);
  if (rc == 0)
    rc = mdb_env_set_maxdbs(e->env, config->queues + 1);
  if (rc == 0)
    rc = mdb_env_set_mapsize(e->env, MAP_SIZE);
  if (rc == 0)
    rc = mdb_env_open(e->env, dir, flags, 0644);
  if (rc != 0) {
    snprintf(err, 200, "lmdb open: %s", mdb_strerror(rc));
    destroy(e);
    return -EIO;
  }
  rc = open_dbs(e, err);
  if (rc == 0) {
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
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  MDB_cursor_op op = MDB_FIRST;
  int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn), stop = 0;

  if (rc != 0)
    return fail(e, "read txn", rc);
  rc = mdb_cursor_open(txn, e->dbis[q], &cur);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return fail(e, "cursor", rc);
  }
  while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
    op = MDB_NEXT;
    stop = visit(arg, peer_key_decode(k.mv_data, k.mv_size), v.mv_data,
                 v.mv_size);
    if (stop != 0)
      break;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  if (stop != 0)
    return stop;
  return rc == MDB_NOTFOUND ? 0 : fail(e, "cursor_get", rc);
}

/* Deletes keys < below in one database; LMDB's cursor-delete idiom: after
 * mdb_cursor_del, MDB_NEXT returns the record that followed. */
static int
delete_below(struct eng *e, MDB_txn *txn, MDB_dbi dbi, uint64_t below)
{
  MDB_cursor *cur;
  MDB_val k, v;
  MDB_cursor_op op = MDB_FIRST;
  int rc = mdb_cursor_open(txn, dbi, &cur);

  if (rc != 0)
    return fail(e, "cursor", rc);
  while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
    op = MDB_NEXT;
    if (peer_key_decode(k.mv_data, k.mv_size) >= below)
      break;
    rc = mdb_cursor_del(cur, 0);
    if (rc != 0)
      break;
  }
  mdb_cursor_close(cur);
  return rc == 0 || rc == MDB_NOTFOUND ? 0 : fail(e, "delete", rc);
}

static int
eng_truncate(struct eng *e, const uint64_t *below)
{
  MDB_txn *txn;
  unsigned q;
  int rc = gc_drain(e->gc);

  if (rc != 0)
    return rc;
  rc = mdb_txn_begin(e->env, NULL, 0, &txn);
  if (rc != 0)
    return fail(e, "txn_begin", rc);
  for (q = 0; q < e->queues; q++) {
    rc = delete_below(e, txn, e->dbis[q], below[q]);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return rc;
    }
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0)
    return fail(e, "commit", rc);
  if (e->nosync && (rc = mdb_env_sync(e->env, 1)) != 0)
    return fail(e, "env_sync", rc);
  return 0;
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

  /* Interval mode: make the tail durable before closing, like the others. */
  if (rc == 0 && e->nosync && mdb_env_sync(e->env, 1) != 0)
    rc = -EIO;
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

const struct engine bench_engine_lmdb = {
  .name = "lmdb",
  .open = eng_open,
  .append = eng_append,
  .append_wait = eng_append_wait,
  .read_queue = eng_read_queue,
  .truncate = eng_truncate,
  .stats = eng_stats,
  .close = eng_close,
  .strerror = eng_strerror,
};
