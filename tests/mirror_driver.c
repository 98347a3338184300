/*
 * mirror_driver.c -- the processes of tests/mirror_scenarios.sh: a
 * shipping process and a replica process that the scenarios SIGKILL and
 * start again, the check of a replica against its source, and two cases
 * that run whole in one process.  Needs MRLOG_AMQP_URIS.
 *
 *   mirror_driver load SRC MANIFEST EXCHANGE QUEUES RECORDS
 *       RECORDS records (68 to 132 bytes) over QUEUES queues L0.. of a new
 *       log, mixed with truncations, deletions and re-creations, shipped
 *       by a mirror as they come; waits until the mirror drained and
 *       writes MANIFEST.
 *   mirror_driver ship SRC MANIFEST EXCHANGE QUEUES RECORDS PACE_MS PROGRESS
 *       appends to QUEUES queues S0.. (truncate_on_commit) until they hold
 *       RECORDS records in all, PACE_MS between rounds, with a mirror;
 *       resumes where a killed run stopped; writes PROGRESS as it goes and
 *       MANIFEST once the mirror drained.
 *   mirror_driver replica DST EXCHANGE MANIFEST PROGRESS TIMEOUT_S
 *       a replica into DST until it holds what MANIFEST says (exit 0) or
 *       TIMEOUT_S passed (exit 1).
 *   mirror_driver verify SRC DST MANIFEST
 *       exit 0 when DST holds exactly what it must (compare_logs).
 *   mirror_driver deletes | badinput
 *       the in-process cases of mirror_cases.c.
 *
 * Exit status: 0 pass, 1 fail, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirror_driver.h"

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

size_t record_fill(const char *name, unsigned inc, uint64_t pos,
                   unsigned char *buf) {
  uint64_t seed = 1469598103934665603ULL, v;
  size_t len;

  for (const char *p = name; *p; p++)
    seed = (seed ^ (unsigned char)*p) * 1099511628211ULL;
  seed = mix(seed ^ ((uint64_t)inc << 48) ^ (pos * 0x9e3779b97f4a7c15ULL));
  len = 68 + (size_t)(seed % 65);
  for (size_t i = 0; i < len; i += 8) {
    v = mix(seed + i);
    memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
  }
  return len;
}

void die(const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  printf("mirror_driver: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  exit(1);
}

void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

mrlog *open_log(const char *dir, int truncate_on_commit) {
  mrlog_policy policy;
  mrlog *log;
  int rc;

  mrlog_policy_init(&policy);
  policy.truncate_on_commit = truncate_on_commit;
  rc = mrlog_open(dir, &policy, &log);
  if (rc != 0) die("mrlog_open %s: %s", dir, mrlog_strerror(rc));
  return log;
}

static void quiet(void *arg, int level, const char *msg) {
  (void)arg;
  if (getenv("MIRROR_TEST_VERBOSE")) printf("  [log %d] %s\n", level, msg);
}

const char *env_uris(void) {
  const char *u = getenv("MRLOG_AMQP_URIS");
  if (u == NULL || *u == '\0') die("MRLOG_AMQP_URIS is not set");
  return u;
}

void config_for(struct mrlog_mirror_config *cfg, const char *uris,
                const char *exchange) {
  static char prefix[128];

  snprintf(prefix, sizeof(prefix), "%s.", exchange);
  mrlog_mirror_config_init(cfg);
  cfg->uris = uris;
  cfg->exchange = exchange;
  cfg->queue_prefix = prefix;
  cfg->refresh_ms = 200;
  cfg->backoff_max_ms = 2000;
  cfg->log_fn = quiet;
  /* Smaller messages make a replica's run long enough to be killed. */
  if (getenv("MIRROR_DRIVER_RECORDS_PER_MESSAGE"))
    cfg->records_per_message =
        (unsigned)atoi(getenv("MIRROR_DRIVER_RECORDS_PER_MESSAGE"));
}

struct entry *manifest_add(struct manifest *m, const char *name) {
  struct entry *e;

  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->e[i].name, name) == 0) return &m->e[i];
  e = realloc(m->e, (m->n + 1) * sizeof(*e));
  if (e == NULL) die("out of memory");
  m->e = e;
  e = &m->e[m->n++];
  memset(e, 0, sizeof(*e));
  snprintf(e->name, sizeof(e->name), "%s", name);
  e->live = 1;
  return e;
}

void manifest_write(const struct manifest *m, const char *path) {
  char tmp[4096];
  FILE *f;

  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  f = fopen(tmp, "w");
  if (f == NULL) die("%s: %s", tmp, strerror(errno));
  for (size_t i = 0; i < m->n; i++)
    fprintf(f, "%s %u %d %" PRIu64 " %d %" PRIu64 "\n", m->e[i].name,
            m->e[i].inc, m->e[i].live, m->e[i].next, m->e[i].complete,
            m->e[i].first);
  if (fclose(f) != 0 || rename(tmp, path) != 0)
    die("%s: %s", path, strerror(errno));
}

void manifest_read(struct manifest *m, const char *path) {
  FILE *f = fopen(path, "r");
  char name[64];
  struct entry e;

  if (f == NULL) die("%s: %s", path, strerror(errno));
  while (fscanf(f, "%63s %u %d %" SCNu64 " %d %" SCNu64, name, &e.inc,
                &e.live, &e.next, &e.complete, &e.first) == 6) {
    struct entry *x = manifest_add(m, name);
    x->inc = e.inc;
    x->live = e.live;
    x->next = e.next;
    x->complete = e.complete;
    x->first = e.first;
  }
  fclose(f);
}

static const struct entry *find(const struct manifest *m, const char *name) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->e[i].name, name) == 0) return &m->e[i];
  return NULL;
}

static int extra_queue(void *arg, const char *queue) {
  const struct entry *e = find(arg, queue);
  if (e != NULL && e->live) return 0;
  printf("  replica holds queue %s, which the source %s\n", queue,
         e ? "deleted" : "never had");
  return 1;
}

/* The check of one live queue: every record of dst is the source's
 * record (bytes of the right incarnation at its position); at and above
 * the source's first retained position dst holds exactly the source's
 * records, and below the source's explicit truncations (e->first) none
 * (the truncate markers dropped them); dst's next position is the
 * source's. */
static int compare_queue(mrlog *src, mrlog *dst, const struct entry *e) {
  unsigned char want[DRIVER_RECORD_MAX];
  struct mrlog_queue_info si, di;
  mrlog_cursor *sc = NULL, *dc = NULL;
  struct mrlog_record s, d;
  uint64_t expect = 0, held = 0;
  int src_rc = MRLOG_ENODATA, ok = 0;

  memset(&si, 0, sizeof(si));
  if (src != NULL && mrlog_queue_info(src, e->name, &si) != 0) {
    printf("  source lacks %s\n", e->name);
    return 0;
  }
  if (mrlog_queue_info(dst, e->name, &di) != 0) {
    if (e->next == 0) return 1; /* nothing was ever shipped */
    printf("  replica lacks %s\n", e->name);
    return 0;
  }
  if (di.next_position != e->next) {
    printf("  %s: replica next %" PRIu64 ", source %" PRIu64 "\n", e->name,
           di.next_position, e->next);
    return 0;
  }
  if (src != NULL) {
    if (mrlog_cursor_open(src, e->name, 0, &sc) != 0) return 0;
    src_rc = mrlog_cursor_next(sc, &s);
  }
  if (mrlog_cursor_open(dst, e->name, 0, &dc) != 0) goto out;
  while (mrlog_cursor_next(dc, &d) == 0) {
    size_t len = record_fill(e->name, e->inc, d.position, want);
    held++;
    if (d.len != len || memcmp(d.data, want, len) != 0) {
      printf("  %s@%" PRIu64 ": replica bytes are not the source's\n",
             e->name, d.position);
      goto out;
    }
    if (e->complete && d.position != expect) {
      printf("  %s: replica lacks position %" PRIu64 "\n", e->name, expect);
      goto out;
    }
    expect = d.position + 1;
    if (d.position < e->first) {
      printf("  %s@%" PRIu64 ": the replica holds a record the source "
             "truncated below %" PRIu64 "\n",
             e->name, d.position, e->first);
      goto out;
    }
    if (src_rc == 0 && s.position < d.position) {
      printf("  %s: replica lacks %" PRIu64 ", which the source holds\n",
             e->name, s.position);
      goto out;
    }
    if (src_rc == 0 && s.position == d.position) {
      if (s.len != d.len || memcmp(s.data, d.data, d.len) != 0) {
        printf("  %s@%" PRIu64 ": bytes differ\n", e->name, d.position);
        goto out;
      }
      src_rc = mrlog_cursor_next(sc, &s);
    } else if (src != NULL && d.position >= si.first_position) {
      printf("  %s@%" PRIu64 ": extra record in the replica\n", e->name,
             d.position);
      goto out;
    }
  }
  if (src_rc == 0) {
    printf("  %s: replica lacks %" PRIu64 ", which the source holds\n",
           e->name, s.position);
    goto out;
  }
  if (e->complete && held != e->next) {
    printf("  %s: replica holds %" PRIu64 " of %" PRIu64 "\n", e->name, held,
           e->next);
    goto out;
  }
  ok = 1;
out:
  mrlog_cursor_close(sc);
  mrlog_cursor_close(dc);
  return ok;
}

int compare_logs(mrlog *src, mrlog *dst, const struct manifest *m) {
  for (size_t i = 0; i < m->n; i++) {
    const struct entry *e = &m->e[i];
    if (!e->live) {
      if (src != NULL && mrlog_queue_exists(src, e->name))
        die("the source still holds deleted %s", e->name);
      continue; /* extra_queue reports it */
    }
    if (!compare_queue(src, dst, e)) return 0;
  }
  return mrlog_list_queues(dst, extra_queue, (void *)m) == 0;
}

int replica_reached(mrlog *dst, const struct manifest *m) {
  struct mrlog_queue_info di;

  for (size_t i = 0; i < m->n; i++) {
    const struct entry *e = &m->e[i];
    int rc = mrlog_queue_info(dst, e->name, &di);
    if (!e->live || e->next == 0) {
      if (!e->live && rc == 0) return 0;
      continue;
    }
    if (rc != 0 || di.next_position != e->next) return 0;
    if (di.first_position < e->first) return 0; /* a truncation to come */
  }
  return 1;
}

static void write_progress(const char *path, const struct mrlog_mirror_stats *st) {
  char tmp[4096];
  FILE *f;

  if (path == NULL) return;
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  f = fopen(tmp, "w");
  if (f == NULL) return;
  fprintf(f, "applied %" PRIu64 " duplicate %" PRIu64 " deliveries %" PRIu64
          " deletes %" PRIu64 " rejected %" PRIu64 "\n",
          st->records_applied, st->records_duplicate, st->deliveries,
          st->deletes, st->rejected);
  fclose(f);
  rename(tmp, path);
}

int await_replica(mrlog_mirror *rep, mrlog *dst, const struct manifest *m,
                  unsigned timeout_s, const char *progress) {
  uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000, quiet_since = 0;
  uint64_t last_deliveries = UINT64_MAX;
  struct mrlog_mirror_stats st;
  int reached = 0;

  while (now_ms() < deadline) {
    mrlog_mirror_stats(rep, &st);
    write_progress(progress, &st);
    if (st.deliveries != last_deliveries) {
      last_deliveries = st.deliveries;
      quiet_since = now_ms();
    }
    reached = replica_reached(dst, m);
    if (reached && now_ms() - quiet_since >= 1000) break;
    sleep_ms(100);
  }
  mrlog_mirror_stats(rep, &st);
  write_progress(progress, &st);
  printf("  replica: %" PRIu64 " applied, %" PRIu64 " duplicates, %" PRIu64
         " deletes, %" PRIu64 " truncations, %" PRIu64 " rejected, %" PRIu64
         " out of order in %" PRIu64 " deliveries%s\n",
         st.records_applied, st.records_duplicate, st.deletes,
         st.truncations, st.rejected, st.out_of_order, st.deliveries,
         reached ? "" : " (did not reach the source)");
  if (!reached && st.last_error)
    printf("  replica's last error: %s %s\n", mrlog_err_name(st.last_error),
           st.last_error_text);
  return reached;
}

static int cmd_replica(char **argv) {
  struct mrlog_mirror_config cfg;
  struct manifest m = {NULL, 0};
  mrlog_mirror *rep;
  mrlog *dst = open_log(argv[0], 0);
  int reached;

  manifest_read(&m, argv[2]);
  config_for(&cfg, env_uris(), argv[1]);
  if (mrlog_replica_start(dst, &cfg, &rep) != 0) die("replica_start");
  reached = await_replica(rep, dst, &m, (unsigned)atoi(argv[4]), argv[3]);
  mrlog_mirror_stop(rep, 1000);
  if (mrlog_close(dst) != 0) die("close");
  free(m.e);
  return reached ? 0 : 1;
}

static int cmd_verify(char **argv) {
  struct manifest m = {NULL, 0};
  mrlog *src = open_log(argv[0], 0), *dst = open_log(argv[1], 0);
  int ok;

  manifest_read(&m, argv[2]);
  ok = compare_logs(src, dst, &m);
  printf("  verify: %zu queues, %s\n", m.n, ok ? "replica exact" : "FAILED");
  mrlog_close(src);
  mrlog_close(dst);
  free(m.e);
  return ok ? 0 : 1;
}

static int usage(void) {
  printf("usage: mirror_driver load|ship|replica|verify|deletes|badinput "
         "ARGS (see tests/mirror_driver.c)\n");
  return 2;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return usage();
  if (strcmp(argv[1], "load") == 0 && argc == 7)
    return run_load(argv[2], argv[3], argv[4], (unsigned)atoi(argv[5]),
                    strtoull(argv[6], NULL, 10));
  if (strcmp(argv[1], "ship") == 0 && argc == 9)
    return run_ship(argv[2], argv[3], argv[4], (unsigned)atoi(argv[5]),
                    strtoull(argv[6], NULL, 10), (unsigned)atoi(argv[7]),
                    argv[8]);
  if (strcmp(argv[1], "replica") == 0 && argc == 7)
    return cmd_replica(argv + 2);
  if (strcmp(argv[1], "verify") == 0 && argc == 5)
    return cmd_verify(argv + 2);
  if (strcmp(argv[1], "deletes") == 0 && argc == 2) return case_deletes();
  if (strcmp(argv[1], "badinput") == 0 && argc == 2) return case_badinput();
  return usage();
}
