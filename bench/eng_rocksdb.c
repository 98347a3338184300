/*
 * eng_rocksdb.c -- RocksDB (C API, <rocksdb/c.h>) as a benchmark peer.
 *
 * Layout: one column family per queue ("q<N>"), key = big-endian u64
 * position, value = the record.  Options: create_if_missing,
 * create_missing_column_families, compression off (the payload is random,
 * compressing it only burns CPU); everything else is RocksDB's default
 * (64 MiB memtables per column family, WAL on, 2 background jobs).
 *
 * Invariants:
 *   1. Writes go through the application-level group commit (one writer
 *      thread, groupcommit.c): each drained batch is one WriteBatch.
 *   2. ENG_INTERVAL: WriteBatches are written with sync = false and the
 *      ticker calls rocksdb_flush_wal(db, 1) every sync_interval_ms.
 *      ENG_DURABLE: every WriteBatch is written with sync = true.
 *   3. next[q] (the next position of queue q) is touched only by the
 *      writer thread after open; open sets it from the last key.
 *   4. truncate writes one WriteBatch of DeleteRange (one per queue) with
 *      sync = true; nothing compacts afterwards.
 */
#include "engine.h"
#include "groupcommit.h"
#include "peer.h"

#include <rocksdb/c.h>

#include <stdlib.h>

struct eng {
  rocksdb_t *db;                      /* the open database */
  rocksdb_options_t *options;         /* DB and column-family options */
  rocksdb_writeoptions_t *wopts;      /* sync per durability */
  rocksdb_writeoptions_t *wopts_sync; /* always sync (truncate) */
  rocksdb_readoptions_t *ropts;       /* defaults; iterators and open */
  rocksdb_column_family_handle_t **cfs; /* [0] default, [1 + q] queue q */
  rocksdb_writebatch_t *wb;           /* [writer] reused per batch */
  unsigned queues;                    /* number of queues */
  uint64_t *next;                     /* [writer] next position per queue */
  struct gc *gc;                      /* the group commit */
  struct peer_error err;              /* first failure */
  char errbuf[200];                   /* strerror's result (main thread) */
};

/* Records a RocksDB error string (and frees it); returns -EIO. */
static int
fail(struct eng *e, const char *what, char *msg)
{
  peer_error_set(&e->err, "rocksdb %s: %s", what, msg ? msg : "?");
  rocksdb_free(msg);
  return -EIO;
}

static int
apply(void *ctx, struct gc_batch *b)
{
  struct eng *e = ctx;
  unsigned char key[8];
  char *msg = NULL;
  size_t i, j;

  rocksdb_writebatch_clear(e->wb);
  for (i = 0; i < b->n_entries; i++) {
    struct gc_entry *en = &b->entries[i];
    for (j = 0; j < en->count; j++) {
      struct gc_rec *r = &b->recs[en->first + j];
      peer_key(key, e->next[en->queue]++);
      rocksdb_writebatch_put_cf(e->wb, e->cfs[1 + en->queue], (char *)key, 8,
                                (char *)b->arena + r->off, r->len);
    }
    en->position = e->next[en->queue] - 1;
  }
  rocksdb_write(e->db, e->wopts, e->wb, &msg);
  return msg ? fail(e, "write", msg) : 0;
}

static int
sync_wal(void *ctx)
{
  struct eng *e = ctx;
  char *msg = NULL;

  rocksdb_flush_wal(e->db, 1, &msg);
  return msg ? fail(e, "flush_wal", msg) : 0;
}

static const struct gc_ops ops = { apply, sync_wal };

/* Sets next[q] from the last key of each column family. */
static void
load_next(struct eng *e)
{
  rocksdb_iterator_t *it;
  size_t len;
  const char *k;
  unsigned q;

  for (q = 0; q < e->queues; q++) {
    it = rocksdb_create_iterator_cf(e->db, e->ropts, e->cfs[1 + q]);
    rocksdb_iter_seek_to_last(it);
    e->next[q] = 0;
    if (rocksdb_iter_valid(it)) {
      k = rocksdb_iter_key(it, &len);
      e->next[q] = peer_key_decode(k, len) + 1;
    }
    rocksdb_iter_destroy(it);
  }
}

static void
destroy(struct eng *e)
{
  unsigned i;

  if (e->db != NULL) {
    for (i = 0; i <= e->queues; i++)
      if (e->cfs[i] != NULL)
        rocksdb_column_family_handle_destroy(e->cfs[i]);
    rocksdb_close(e->db);
  }
  if (e->wb)
    rocksdb_writebatch_destroy(e->wb);
  if (e->ropts)
    rocksdb_readoptions_destroy(e->ropts);
  if (e->wopts)
    rocksdb_writeoptions_destroy(e->wopts);
  if (e->wopts_sync)
    rocksdb_writeoptions_destroy(e->wopts_sync);
  if (e->options)
    rocksdb_options_destroy(e->options);
  peer_error_destroy(&e->err);
  free(e->cfs);
  free(e->next);
  free(e);
}

static int
eng_open(const char *dir, const struct eng_config *config, struct eng **out,
         char *err)
{
  struct eng *e = calloc(1, sizeof(*e));
  struct gc_config gcc = { 0, 0, PEER_MAX_BATCH_BYTES };
  const rocksdb_options_t **cf_opts = NULL;
  char **names = NULL, *msg = NULL;
  unsigned i, n = config->queues + 1;
  int rc = -ENOMEM;

  *out = NULL;
  if (e == NULL)
    return -ENOMEM;
  peer_error_init(&e->err);
  e->queues = config->queues;
  e->cfs = calloc(n, sizeof(*e->cfs));
  e->next = calloc(config->queues, sizeof(*e->next));
  names = calloc(n, sizeof(*names));
  cf_opts = calloc(n, sizeof(*cf_opts));
  if (!e->cfs || !e->next || !names || !cf_opts)
    goto out;
  e->options = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(e->options, 1);
  rocksdb_options_set_create_missing_column_families(e->options, 1);
  rocksdb_options_set_compression(e->options, rocksdb_no_compression);
  for (i = 0; i < n; i++) {
    names[i] = malloc(16);
    if (names[i] == NULL)
      goto out;
    if (i == 0)
      snprintf(names[i], 16, "default");
    else
      snprintf(names[i], 16, "q%u", i - 1);
    cf_opts[i] = e->options;
  }
  e->db = rocksdb_open_column_families(e->options, dir, (int)n,
                                       (const char *const *)names, cf_opts,
                                       e->cfs, &msg);
  if (msg != NULL) {
    snprintf(err, 200, "rocksdb open: %s", msg);
    rocksdb_free(msg);
    e->db = NULL;
    rc = -EIO;
    goto out;
  }
  e->wopts = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(e->wopts,
                                config->durability == ENG_DURABLE);
  e->wopts_sync = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(e->wopts_sync, 1);
  e->ropts = rocksdb_readoptions_create();
  e->wb = rocksdb_writebatch_create();
  load_next(e);
  if (config->durability == ENG_INTERVAL)
    gcc.sync_every_ms = config->sync_interval_ms;
  rc = gc_start(&e->gc, &ops, e, &gcc);
  if (rc != 0)
    snprintf(err, 200, "group commit start failed");
out:
  if (rc == -ENOMEM)
    snprintf(err, 200, "out of memory");
  for (i = 0; names && i < n; i++)
    free(names[i]);
  free(names);
  free(cf_opts);
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
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(e->db, e->ropts, e->cfs[1 + q]);
  const char *k, *v;
  size_t klen, vlen;
  char *msg = NULL;
  int rc = 0;

  for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    k = rocksdb_iter_key(it, &klen);
    v = rocksdb_iter_value(it, &vlen);
    rc = visit(arg, peer_key_decode(k, klen), v, vlen);
    if (rc != 0)
      break;
  }
  rocksdb_iter_get_error(it, &msg);
  rocksdb_iter_destroy(it);
  return msg ? fail(e, "iterate", msg) : rc;
}

static int
eng_truncate(struct eng *e, const uint64_t *below)
{
  rocksdb_writebatch_t *wb;
  unsigned char lo[8], hi[8];
  char *msg = NULL;
  unsigned q;
  int rc = gc_drain(e->gc);

  if (rc != 0)
    return rc;
  wb = rocksdb_writebatch_create();
  peer_key(lo, 0);
  for (q = 0; q < e->queues; q++) {
    if (below[q] == 0)
      continue;
    peer_key(hi, below[q]);
    rocksdb_writebatch_delete_range_cf(wb, e->cfs[1 + q], (char *)lo, 8,
                                       (char *)hi, 8);
  }
  rocksdb_write(e->db, e->wopts_sync, wb, &msg);
  rocksdb_writebatch_destroy(wb);
  return msg ? fail(e, "delete_range", msg) : 0;
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

  /* Make the tail durable before closing, as mrlog_close does. */
  if (rc == 0)
    rc = sync_wal(e);
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

const struct engine bench_engine_rocksdb = {
  .name = "rocksdb",
  .open = eng_open,
  .append = eng_append,
  .append_wait = eng_append_wait,
  .read_queue = eng_read_queue,
  .truncate = eng_truncate,
  .stats = eng_stats,
  .close = eng_close,
  .strerror = eng_strerror,
};
