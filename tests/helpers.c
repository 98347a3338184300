/*
 * helpers.c -- temporary directories, byte surgery, synchronous wrappers
 * and callback counters shared by the suites of tests/check_mrlog.
 */
#define _GNU_SOURCE
#include "check_mrlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *th_dir;

static _Thread_local bool app_thread;

long th_scaled(long n) {
  const char *env = getenv("MRLOG_TEST_SCALE");
  long pct = 100;
  long r;

  if (env != NULL && *env != '\0') {
    pct = strtol(env, NULL, 10);
    if (pct < 1) pct = 1;
    if (pct > 100) pct = 100;
  }
  r = n * pct / 100;
  return r < 1 ? 1 : r;
}

/* ---- Temporary directories ------------------------------------------- */

static void cleanup_at_exit(void) {
  /* Runs when a forked test exits early on a failed assertion, so the
   * teardown did not run. */
  if (th_dir != NULL) {
    th_rmrf(th_dir);
    free(th_dir);
    th_dir = NULL;
  }
}

void th_setup(void) {
  static bool registered;

  if (!registered) {
    atexit(cleanup_at_exit);
    registered = true;
  }
  th_dir = th_mkdtemp();
  th_mark_app_thread();
}

void th_teardown(void) {
  cleanup_at_exit();
}

char *th_mkdtemp(void) {
  const char *base = getenv("TMPDIR");
  char *path;
  size_t n;

  if (base == NULL || *base == '\0') base = "/tmp";
  n = strlen(base) + sizeof("/check_mrlog.XXXXXX");
  path = malloc(n);
  ck_assert_ptr_nonnull(path);
  snprintf(path, n, "%s/check_mrlog.XXXXXX", base);
  ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp(%s): %s", path,
                strerror(errno));
  return path;
}

int th_rmrf(const char *path) {
  struct stat st;
  DIR *d;
  struct dirent *e;
  int rc = 0;

  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlink(path);
  d = opendir(path);
  if (d == NULL) return -1;
  while ((e = readdir(d)) != NULL) {
    char *child;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    child = th_path(path, e->d_name);
    if (th_rmrf(child) != 0) rc = -1;
    free(child);
  }
  closedir(d);
  if (rmdir(path) != 0) rc = -1;
  return rc;
}

char *th_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);

  ck_assert_ptr_nonnull(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

char *th_sub(const char *name) {
  ck_assert_ptr_nonnull(th_dir);
  return th_path(th_dir, name);
}

/* ---- Directory listings ----------------------------------------------- */

bool th_is_segment_name(const char *name) {
  int i;

  if (strlen(name) != 16 + strlen(".mrlog")) return false;
  for (i = 0; i < 16; i++) {
    char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return strcmp(name + 16, ".mrlog") == 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list(const char *dir, char ***out, bool segments_only) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char **v = NULL;
  size_t n = 0, cap = 0;

  ck_assert_msg(d != NULL, "opendir(%s): %s", dir, strerror(errno));
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (segments_only && !th_is_segment_name(e->d_name)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      v = realloc(v, cap * sizeof(*v));
      ck_assert_ptr_nonnull(v);
    }
    v[n] = strdup(e->d_name);
    ck_assert_ptr_nonnull(v[n]);
    n++;
  }
  closedir(d);
  if (n > 1) qsort(v, n, sizeof(*v), cmp_names);
  *out = v;
  return n;
}

size_t th_list_dir(const char *dir, char ***out) {
  return list(dir, out, false);
}

size_t th_list_segments(const char *dir, char ***out) {
  return list(dir, out, true);
}

void th_free_names(char **names, size_t n) {
  size_t i;

  for (i = 0; i < n; i++) free(names[i]);
  free(names);
}

size_t th_count_segments(const char *dir) {
  char **names;
  size_t n = th_list_segments(dir, &names);

  th_free_names(names, n);
  return n;
}

uint64_t th_segment_bytes(const char *dir) {
  char **names;
  size_t n = th_list_segments(dir, &names), i;
  uint64_t total = 0;

  for (i = 0; i < n; i++) {
    char *p = th_path(dir, names[i]);
    off_t sz = th_file_size(p);
    if (sz > 0) total += (uint64_t)sz;
    free(p);
  }
  th_free_names(names, n);
  return total;
}

static char *nth_segment(const char *dir, bool last) {
  char **names;
  size_t n = th_list_segments(dir, &names);
  char *p;

  ck_assert_msg(n > 0, "no segment file in %s", dir);
  p = th_path(dir, names[last ? n - 1 : 0]);
  th_free_names(names, n);
  return p;
}

char *th_last_segment(const char *dir) { return nth_segment(dir, true); }
char *th_first_segment(const char *dir) { return nth_segment(dir, false); }

/* ---- Byte surgery ------------------------------------------------------ */

off_t th_file_size(const char *path) {
  struct stat st;

  if (stat(path, &st) != 0) return -1;
  return st.st_size;
}

unsigned char *th_read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  unsigned char *buf;
  size_t got = 0;

  ck_assert_msg(fd >= 0, "open(%s): %s", path, strerror(errno));
  ck_assert_int_eq(fstat(fd, &st), 0);
  buf = malloc((size_t)st.st_size + 1);
  ck_assert_ptr_nonnull(buf);
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    ck_assert_msg(r > 0, "read(%s): %s", path, strerror(errno));
    got += (size_t)r;
  }
  close(fd);
  *len = got;
  return buf;
}

static void write_all(int fd, const void *data, size_t len, const char *path) {
  const unsigned char *p = data;

  while (len > 0) {
    ssize_t w = write(fd, p, len);
    ck_assert_msg(w > 0, "write(%s): %s", path, strerror(errno));
    p += w;
    len -= (size_t)w;
  }
}

void th_write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  ck_assert_msg(fd >= 0, "open(%s): %s", path, strerror(errno));
  write_all(fd, data, len, path);
  close(fd);
}

void th_append_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_APPEND);

  ck_assert_msg(fd >= 0, "open(%s): %s", path, strerror(errno));
  write_all(fd, data, len, path);
  close(fd);
}

void th_truncate_file(const char *path, off_t len) {
  ck_assert_msg(truncate(path, len) == 0, "truncate(%s, %lld): %s", path,
                (long long)len, strerror(errno));
}

void th_xor_byte(const char *path, off_t offset, unsigned char mask) {
  int fd = open(path, O_RDWR);
  unsigned char b;

  ck_assert_msg(fd >= 0, "open(%s): %s", path, strerror(errno));
  ck_assert_int_eq(pread(fd, &b, 1, offset), 1);
  b ^= mask;
  ck_assert_int_eq(pwrite(fd, &b, 1, offset), 1);
  close(fd);
}

void th_flip_bit(const char *path, off_t offset, int bit) {
  th_xor_byte(path, offset, (unsigned char)(1u << (bit & 7)));
}

void th_copy_dir(const char *src, const char *dst) {
  char **names;
  size_t n, i;

  ck_assert_int_eq(th_rmrf(dst), 0);
  ck_assert_msg(mkdir(dst, 0755) == 0, "mkdir(%s): %s", dst, strerror(errno));
  n = th_list_dir(src, &names);
  for (i = 0; i < n; i++) {
    char *from, *to;
    struct stat st;
    if (strcmp(names[i], "LOCK") == 0) continue;
    from = th_path(src, names[i]);
    to = th_path(dst, names[i]);
    if (stat(from, &st) == 0 && S_ISREG(st.st_mode)) {
      size_t len;
      unsigned char *buf = th_read_file(from, &len);
      th_write_file(to, buf, len);
      free(buf);
    }
    free(from);
    free(to);
  }
  th_free_names(names, n);
}

uint64_t th_hash(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i;

  for (i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* A growable string. */
struct sbuf {
  char *s;
  size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...) {
  va_list ap;
  int n;

  for (;;) {
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    if ((size_t)n < room) break;
    b->cap = b->cap * 2 + (size_t)n + 64;
    b->s = realloc(b->s, b->cap);
    ck_assert_ptr_nonnull(b->s);
  }
  b->len += (size_t)n;
}

char *th_dir_fingerprint(const char *dir) {
  struct sbuf b = {NULL, 0, 0};
  char **names;
  size_t n = th_list_dir(dir, &names), i;

  sb_printf(&b, "%s", "");
  for (i = 0; i < n; i++) {
    char *p;
    struct stat st;
    if (strcmp(names[i], "LOCK") == 0) continue;
    p = th_path(dir, names[i]);
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
      size_t len;
      unsigned char *buf = th_read_file(p, &len);
      sb_printf(&b, "%s:%zu:%016llx\n", names[i], len,
                (unsigned long long)th_hash(buf, len));
      free(buf);
    }
    free(p);
  }
  th_free_names(names, n);
  return b.s;
}

/* ---- Synchronous wrappers ---------------------------------------------- */

mrlog_policy th_policy(void) {
  mrlog_policy p;
  const char *store = getenv("MRLOG_TEST_RECORD_STORE");

  mrlog_policy_init(&p);
  if (store != NULL && strcmp(store, "mapped") == 0)
    p.record_store = MRLOG_STORE_MAPPED;
  else if (store != NULL && strcmp(store, "copy") == 0)
    p.record_store = MRLOG_STORE_COPY;
  return p;
}

mrlog *th_open(const char *dir, const mrlog_policy *policy) {
  mrlog *log = NULL;
  mrlog_policy defaults = th_policy();
  int rc = mrlog_open(dir, policy != NULL ? policy : &defaults, &log);

  ck_assert_msg(rc == 0, "mrlog_open(%s) = %d (%s)", dir, rc,
                mrlog_strerror(rc));
  ck_assert_ptr_nonnull(log);
  return log;
}

void th_close(mrlog *log) {
  int rc = mrlog_close(log);

  ck_assert_msg(rc == 0, "mrlog_close = %d (%s)", rc, mrlog_strerror(rc));
}

int th_wait(mrlog_future *future, uint64_t *position) {
  ck_assert_ptr_nonnull(future);
  return mrlog_wait(future, position);
}

int th_create(mrlog *log, const char *queue) {
  return th_wait(mrlog_create_queue(log, queue, NULL, NULL), NULL);
}

int th_delete(mrlog *log, const char *queue) {
  return th_wait(mrlog_delete_queue(log, queue, NULL, NULL), NULL);
}

int th_append(mrlog *log, const char *queue, const uint64_t *position,
              const void *data, size_t len, uint64_t *out_position) {
  return th_wait(mrlog_append(log, queue, position, data, len, NULL, NULL),
                 out_position);
}

int th_append_at(mrlog *log, const char *queue, uint64_t position,
                 const void *data, size_t len, uint64_t *out_position) {
  return th_append(log, queue, &position, data, len, out_position);
}

int th_append_str(mrlog *log, const char *queue, const char *text,
                  uint64_t *out_position) {
  return th_append(log, queue, NULL, text, strlen(text), out_position);
}

int th_truncate(mrlog *log, const char *queue, uint64_t position) {
  return th_wait(mrlog_truncate(log, queue, position, NULL, NULL), NULL);
}

int th_sync(mrlog *log) {
  return th_wait(mrlog_sync(log, NULL, NULL), NULL);
}

struct mrlog_queue_info th_info(mrlog *log, const char *queue) {
  struct mrlog_queue_info info;
  int rc;

  memset(&info, 0xa5, sizeof(info));
  rc = mrlog_queue_info(log, queue, &info);
  ck_assert_msg(rc == 0, "mrlog_queue_info = %d (%s)", rc,
                mrlog_strerror(rc));
  return info;
}

struct mrlog_stats th_stats(mrlog *log) {
  struct mrlog_stats st;
  int rc;

  memset(&st, 0xa5, sizeof(st));
  rc = mrlog_stats(log, &st);
  ck_assert_msg(rc == 0, "mrlog_stats = %d (%s)", rc, mrlog_strerror(rc));
  return st;
}

static int count_visit(void *arg, const char *queue) {
  (void)queue;
  (*(uint64_t *)arg)++;
  return 0;
}

uint64_t th_count_queues(mrlog *log) {
  uint64_t n = 0;
  int rc = mrlog_list_queues(log, count_visit, &n);

  ck_assert_int_eq(rc, 0);
  return n;
}

/* ---- Record collection ------------------------------------------------- */

static int collect_visit(void *arg, uint64_t position, const void *data,
                         size_t len) {
  struct th_recs *r = arg;
  struct th_rec *rec;

  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 64;
    r->v = realloc(r->v, r->cap * sizeof(*r->v));
    if (r->v == NULL) abort();
  }
  rec = &r->v[r->n++];
  rec->pos = position;
  rec->len = len;
  rec->data = NULL;
  if (len > 0) {
    rec->data = malloc(len);
    if (rec->data == NULL) abort();
    memcpy(rec->data, data, len);
  }
  return 0;
}

int th_collect(mrlog *log, const char *queue, uint64_t from, uint64_t to,
               struct th_recs *out) {
  memset(out, 0, sizeof(*out));
  return mrlog_range(log, queue, from, to, collect_visit, out);
}

void th_recs_free(struct th_recs *recs) {
  size_t i;

  for (i = 0; i < recs->n; i++) free(recs->v[i].data);
  free(recs->v);
  memset(recs, 0, sizeof(*recs));
}

struct names {
  char **v;
  size_t n, cap;
};

static int names_visit(void *arg, const char *queue) {
  struct names *ns = arg;

  if (ns->n == ns->cap) {
    ns->cap = ns->cap ? ns->cap * 2 : 64;
    ns->v = realloc(ns->v, ns->cap * sizeof(*ns->v));
    if (ns->v == NULL) abort();
  }
  ns->v[ns->n] = strdup(queue);
  if (ns->v[ns->n] == NULL) abort();
  ns->n++;
  return 0;
}

char *th_snapshot(mrlog *log) {
  struct names ns = {NULL, 0, 0};
  struct sbuf b = {NULL, 0, 0};
  size_t i, j;

  ck_assert_int_eq(mrlog_list_queues(log, names_visit, &ns), 0);
  if (ns.n > 1) qsort(ns.v, ns.n, sizeof(*ns.v), cmp_names);
  sb_printf(&b, "queues=%zu\n", ns.n);
  for (i = 0; i < ns.n; i++) {
    struct mrlog_queue_info info = th_info(log, ns.v[i]);
    struct th_recs recs;
    const unsigned char *q = (const unsigned char *)ns.v[i];

    sb_printf(&b, "q=");
    for (j = 0; q[j] != 0; j++) sb_printf(&b, "%02x", q[j]);
    sb_printf(&b, " first=%llu next=%llu records=%llu bytes=%llu\n",
              (unsigned long long)info.first_position,
              (unsigned long long)info.next_position,
              (unsigned long long)info.records,
              (unsigned long long)info.bytes);
    ck_assert_int_eq(th_collect(log, ns.v[i], 0, UINT64_MAX, &recs), 0);
    for (j = 0; j < recs.n; j++)
      sb_printf(&b, "  %llu %zu %016llx\n",
                (unsigned long long)recs.v[j].pos, recs.v[j].len,
                (unsigned long long)th_hash(recs.v[j].data, recs.v[j].len));
    th_recs_free(&recs);
    free(ns.v[i]);
  }
  free(ns.v);
  return b.s;
}

/* ---- Callback counters ------------------------------------------------- */

void th_mark_app_thread(void) { app_thread = true; }
bool th_on_app_thread(void) { return app_thread; }

void th_counter_init(struct th_counter *c) {
  atomic_init(&c->calls, 0);
  atomic_init(&c->ok, 0);
  atomic_init(&c->dup, 0);
  atomic_init(&c->efull, 0);
  atomic_init(&c->einval, 0);
  atomic_init(&c->other, 0);
  atomic_init(&c->on_app_thread, 0);
  atomic_init(&c->last_status, 12345);
  atomic_init(&c->last_position, UINT64_MAX);
}

void th_counter_cb(void *arg, int status, uint64_t position) {
  struct th_counter *c = arg;

  if (app_thread) atomic_fetch_add(&c->on_app_thread, 1);
  switch (status) {
  case MRLOG_OK: atomic_fetch_add(&c->ok, 1); break;
  case MRLOG_DUPLICATE: atomic_fetch_add(&c->dup, 1); break;
  case MRLOG_EFULL: atomic_fetch_add(&c->efull, 1); break;
  case MRLOG_EINVAL: atomic_fetch_add(&c->einval, 1); break;
  default: atomic_fetch_add(&c->other, 1); break;
  }
  atomic_store(&c->last_status, status);
  atomic_store(&c->last_position, position);
  /* Published last, so a waiter that sees calls also sees the rest. */
  atomic_fetch_add(&c->calls, 1);
}

struct counter_goal {
  struct th_counter *c;
  long calls;
};

static bool counter_reached(void *arg) {
  struct counter_goal *g = arg;

  return atomic_load(&g->c->calls) >= g->calls;
}

bool th_counter_wait(struct th_counter *c, long calls, unsigned timeout_ms) {
  struct counter_goal g = {c, calls};

  return th_poll(counter_reached, &g, timeout_ms);
}

void th_sleep_ms(unsigned ms) {
  struct timespec ts;

  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static uint64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool th_poll(bool (*pred)(void *arg), void *arg, unsigned timeout_ms) {
  uint64_t deadline = now_ms() + timeout_ms;

  for (;;) {
    if (pred(arg)) return true;
    if (now_ms() >= deadline) return pred(arg);
    th_sleep_ms(2);
  }
}

void th_fill(void *buf, size_t len, uint64_t seed) {
  unsigned char *p = buf;
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
  size_t i;

  for (i = 0; i < len; i++) {
    /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p[i] = (unsigned char)((x * 0x2545f4914f6cdd1dull) >> 56);
  }
}
