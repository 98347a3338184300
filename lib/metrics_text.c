/*
 * metrics_text.c -- mrlog_metrics_text: the metrics in the Prometheus
 * text exposition format (version 0.0.4).  docs/API.md lists the series.
 *
 * Invariants:
 *  1. Every family has one HELP and one TYPE line before its samples;
 *     every sample line is `name value` or `name{labels} value`, names
 *     match [a-zA-Z_:][a-zA-Z0-9_:]* and start with mrlog_.
 *  2. Label values are escaped as the format requires: backslash as \\,
 *     double quote as \", line feed as \n; other bytes are copied.
 *  3. The histograms are summaries: quantile 0.5, 0.9, 0.99 and 0.999,
 *     _sum and _count, plus a gauge family <name>_max (Prometheus has no
 *     max in a summary).  Durations are in seconds, printed exactly from
 *     the nanoseconds (nine decimals).
 *  4. Per-queue series (and the consumer lags of those queues) cover at
 *     most MRLOG_METRICS_TEXT_QUEUES queues, those with the most records
 *     appended (ties by name, bytewise), in that order;
 *     mrlog_metrics_queues_omitted counts the others.  They
 *     are read under state_lock for reading, which is held only to copy
 *     them; the text is built with no lock held.
 *  5. The whole text is built in a private buffer first, so buf gets the
 *     complete text or, when it does not fit, "" (never part of it).
 */
#include "internal.h"
#include "consumer.h"
#include "metrics.h"
#include "queue.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text; `failed` once an allocation failed (then it stays). */
struct text {
  char *p;
  size_t len;
  size_t cap;
  bool failed;
};

static void
put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct text *t, const char *fmt, ...)
{
  va_list ap;
  int n;

  for (;;) {
    if (t->failed)
      return;
    va_start(ap, fmt);
    n = vsnprintf(t->p ? t->p + t->len : NULL, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->failed = true;
      return;
    }
    if ((size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    {
      size_t cap = t->cap ? t->cap * 2 : 4096;
      char *p;

      while (cap - t->len <= (size_t)n)
        cap *= 2;
      p = realloc(t->p, cap);
      if (p == NULL) {
        t->failed = true;
        return;
      }
      t->p = p;
      t->cap = cap;
    }
  }
}

/* A label value, escaped (invariant 2). */
static void
put_escaped(struct text *t, const char *s)
{
  const char *run = s;

  for (; *s != '\0'; s++) {
    const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" :
                      *s == '\n' ? "\\n" : NULL;

    if (esc == NULL)
      continue;
    put(t, "%.*s%s", (int)(s - run), run, esc);
    run = s + 1;
  }
  put(t, "%s", run);
}

static void
family(struct text *t, const char *name, const char *type, const char *help)
{
  put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A value in the family's unit: nanoseconds as seconds, or as is. */
static void
put_value(struct text *t, uint64_t v, bool ns)
{
  if (ns)
    put(t, "%llu.%09llu\n", (unsigned long long)(v / 1000000000u),
        (unsigned long long)(v % 1000000000u));
  else
    put(t, "%llu\n", (unsigned long long)v);
}

static void
summary(struct text *t, const char *name, const char *help, bool ns,
        const struct mrlog_histogram_summary *s)
{
  static const char *const q[] = { "0.5", "0.9", "0.99", "0.999" };
  const uint64_t v[] = { s->p50, s->p90, s->p99, s->p999 };
  unsigned i;

  family(t, name, "summary", help);
  for (i = 0; i < 4; i++) {
    put(t, "%s{quantile=\"%s\"} ", name, q[i]);
    put_value(t, v[i], ns);
  }
  put(t, "%s_sum ", name);
  put_value(t, s->sum, ns);
  put(t, "%s_count %llu\n", name, (unsigned long long)s->count);
  put(t, "# HELP %s_max The largest sample since open.\n"
         "# TYPE %s_max gauge\n%s_max ", name, name, name);
  put_value(t, s->max, ns);
}

/* A consumer of a listed queue, copied under the read lock. */
struct lag {
  char *name;                   /* owned copy */
  uint64_t lag;                 /* the queue's next - committed position */
};

/* One queue's row, copied under the read lock. */
struct row {
  struct mrlog__queue_counts counts;
  const struct mrlog__queue *q; /* valid only under the lock */
  char *name;                   /* owned copy, for the listed rows */
  struct lag *lags;             /* owned, listed rows: nlags consumers */
  uint32_t nlags;
};

static void
free_rows(struct row *r, size_t n)
{
  size_t i;
  uint32_t k;

  for (i = 0; i < n; i++) {
    free(r[i].name);
    for (k = 0; k < r[i].nlags; k++)
      free(r[i].lags[k].name);
    free(r[i].lags);
  }
  free(r);
}

/* Copies a listed queue's name and consumer lags.  Under the read lock.
 * 0 or MRLOG_ENOMEM (what was copied is r's to free). */
static int
copy_listed(struct row *r)
{
  const struct mrlog__queue *q = r->q;
  uint32_t k;

  if ((r->name = strdup(q->name)) == NULL)
    return MRLOG_ENOMEM;
  if (q->n_consumers == 0)
    return 0;
  r->lags = calloc(q->n_consumers, sizeof(*r->lags));
  if (r->lags == NULL)
    return MRLOG_ENOMEM;
  for (k = 0; k < q->n_consumers; k++) {
    const struct mrlog__consumer *c = &q->consumers[k];

    if ((r->lags[k].name = strdup(c->name)) == NULL)
      return MRLOG_ENOMEM;
    r->lags[k].lag = q->next > c->position ? q->next - c->position : 0;
    r->nlags = k + 1;
  }
  return 0;
}

static int
busiest_first(const void *a, const void *b)
{
  const struct row *x = a, *y = b;

  if (x->counts.appended_records != y->counts.appended_records)
    return x->counts.appended_records > y->counts.appended_records ? -1 : 1;
  return strcmp(x->q->name, y->q->name);
}

/* OUT: *rows (the listed ones, busiest first), *nrows, *omitted.
 * 0 or MRLOG_ENOMEM. */
static int
collect(struct mrlog *log, struct row **rows, size_t *nrows,
        uint64_t *omitted)
{
  struct mrlog__queue *q;
  struct row *r;
  size_t n = 0, i, keep;
  int rc = 0;

  pthread_rwlock_rdlock(&log->state_lock);
  r = malloc((log->index.count ? log->index.count : 1) * sizeof(*r));
  if (r == NULL) {
    pthread_rwlock_unlock(&log->state_lock);
    return MRLOG_ENOMEM;
  }
  for (i = 0; i < log->index.nbuckets; i++)
    for (q = log->index.by_name[i]; q != NULL; q = q->by_name_next) {
      r[n].counts = q->counts;
      r[n].q = q;
      r[n].name = NULL;
      r[n].lags = NULL;
      r[n].nlags = 0;
      n++;
    }
  qsort(r, n, sizeof(*r), busiest_first);
  keep = n < MRLOG_METRICS_TEXT_QUEUES ? n : MRLOG_METRICS_TEXT_QUEUES;
  for (i = 0; i < keep && rc == 0; i++)
    rc = copy_listed(&r[i]);
  pthread_rwlock_unlock(&log->state_lock);
  for (i = 0; i < keep; i++)
    r[i].q = NULL;
  if (rc != 0) {
    free_rows(r, keep);
    return rc;
  }
  *rows = r;
  *nrows = keep;
  *omitted = n - keep;
  return 0;
}

static void
queue_family(struct text *t, const struct row *rows, size_t n,
             const char *name, const char *help, size_t field)
{
  size_t i;

  family(t, name, "counter", help);
  for (i = 0; i < n; i++) {
    const uint64_t *v = (const uint64_t *)((const char *)&rows[i].counts +
                                           field);

    put(t, "%s{queue=\"", name);
    put_escaped(t, rows[i].name);
    put(t, "\"} %llu\n", (unsigned long long)*v);
  }
}

/* The whole text into t (invariants 1-4). */
static int
build(struct mrlog *log, struct text *t)
{
  struct mrlog_metrics m;
  struct row *rows;
  size_t n, i;
  uint64_t omitted;
  int rc;

  rc = mrlog_metrics(log, &m);
  if (rc != 0)
    return rc;
  rc = collect(log, &rows, &n, &omitted);
  if (rc != 0)
    return rc;
  summary(t, "mrlog_append_latency_seconds",
          "Time from an append call to its acknowledgement.", true,
          &m.append_latency_ns);
  summary(t, "mrlog_fsync_seconds", "Duration of each fdatasync.", true,
          &m.fsync_ns);
  summary(t, "mrlog_group_commit_records",
          "Records made durable by each group commit.", false,
          &m.group_commit_records);
  summary(t, "mrlog_ring_wait_seconds",
          "Time a producer waited for room in a full request ring.", true,
          &m.ring_wait_ns);
  queue_family(t, rows, n, "mrlog_queue_appended_records_total",
               "Records appended to the queue since open.",
               offsetof(struct mrlog__queue_counts, appended_records));
  queue_family(t, rows, n, "mrlog_queue_appended_bytes_total",
               "Payload bytes appended to the queue since open.",
               offsetof(struct mrlog__queue_counts, appended_bytes));
  queue_family(t, rows, n, "mrlog_queue_truncated_records_total",
               "Records truncated from the queue since open.",
               offsetof(struct mrlog__queue_counts, truncated_records));
  queue_family(t, rows, n, "mrlog_queue_truncated_bytes_total",
               "Payload bytes truncated from the queue since open.",
               offsetof(struct mrlog__queue_counts, truncated_bytes));
  family(t, "mrlog_consumer_lag_records", "gauge",
         "Records of the queue past the consumer's committed position "
         "(next position minus committed position).");
  for (i = 0; i < n; i++) {
    uint32_t k;

    for (k = 0; k < rows[i].nlags; k++) {
      put(t, "mrlog_consumer_lag_records{queue=\"");
      put_escaped(t, rows[i].name);
      put(t, "\",consumer=\"");
      put_escaped(t, rows[i].lags[k].name);
      put(t, "\"} %llu\n", (unsigned long long)rows[i].lags[k].lag);
    }
  }
  _Static_assert(MRLOG_METRICS_TEXT_QUEUES == 100, "the help text");
  family(t, "mrlog_metrics_queues_omitted", "gauge",
         "Queues left out of the per-queue series (only the 100 with the "
         "most records appended are listed).");
  put(t, "mrlog_metrics_queues_omitted %llu\n", (unsigned long long)omitted);
  free_rows(rows, n);
  return t->failed ? MRLOG_ENOMEM : 0;
}

int
mrlog_metrics_text(mrlog *log, char *buf, size_t size, size_t *needed)
{
  struct text t = { NULL, 0, 0, false };
  int rc;

  if (needed != NULL)
    *needed = 0;
  if (!mrlog__log_live(log) || (buf == NULL && size > 0))
    return MRLOG_EINVAL;
  if (size > 0)
    buf[0] = '\0';
  rc = build(log, &t);
  if (rc == 0) {
    if (needed != NULL)
      *needed = t.len + 1;
    if (t.len + 1 > size)
      rc = MRLOG_ENOMEM;
    else
      memcpy(buf, t.p, t.len + 1);
  }
  free(t.p);
  return rc;
}
