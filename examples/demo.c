/*
 * demo.c -- the main job of mrlog in one run: append across many queues
 * with completion callbacks, truncate, close, reopen, and print what was
 * recovered and the figures.
 *
 *   usage: demo DIR [QUEUES [RECORDS_PER_QUEUE]]
 */
#include <mrlog.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_ulong acked, failed;

static void
on_done(void *arg, int status, uint64_t position)
{
  (void)arg;
  (void)position;
  if (status == 0)
    atomic_fetch_add(&acked, 1);
  else
    atomic_fetch_add(&failed, 1);
}

static double
now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
check(int rc, const char *what)
{
  if (rc < 0) {
    fprintf(stderr, "demo: %s: %s\n", what, mrlog_strerror(rc));
    exit(1);
  }
  return rc;
}

static void
print_stats(mrlog *log, const char *when)
{
  struct mrlog_stats st;

  check(mrlog_stats(log, &st), "stats");
  printf("%-14s queues=%" PRIu64 " records=%" PRIu64 " segments=%" PRIu64
         " disk=%" PRIu64 "B memory=%" PRIu64 "B appends=%" PRIu64
         " fsyncs=%" PRIu64 " discarded=%" PRIu64 "B\n",
         when, st.queues, st.records, st.segment_files, st.disk_bytes,
         st.memory_bytes, st.appends, st.fsyncs, st.discarded_tail_bytes);
}

int
main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : NULL;
  unsigned queues = argc > 2 ? (unsigned)atoi(argv[2]) : 64;
  unsigned per = argc > 3 ? (unsigned)atoi(argv[3]) : 2000;
  mrlog_policy policy;
  mrlog *log;
  char name[32], payload[100];
  unsigned q, i;
  double t0, t1;
  uint64_t total = (uint64_t)queues * per;

  if (dir == NULL || queues == 0 || per == 0) {
    fprintf(stderr, "usage: demo DIR [QUEUES [RECORDS_PER_QUEUE]]\n");
    return 2;
  }
  mrlog_policy_init(&policy);
  policy.segment_bytes = 1 << 20;
  policy.cleaner_interval_ms = 20;

  check(mrlog_open(dir, &policy, &log), "open");
  print_stats(log, "opened:");
  for (q = 0; q < queues; q++) {
    snprintf(name, sizeof(name), "stream-%u", q);
    if (!mrlog_queue_exists(log, name))
      check(mrlog_wait(mrlog_create_queue(log, name, NULL, NULL), NULL),
            "create queue");
  }

  /* Durable group commit: every callback means the record is on disk. */
  t0 = now_s();
  for (i = 0; i < per; i++) {
    for (q = 0; q < queues; q++) {
      snprintf(name, sizeof(name), "stream-%u", q);
      memset(payload, 'a' + (int)(q % 26), sizeof(payload));
      mrlog_forget(
          mrlog_append(log, name, NULL, payload, sizeof(payload), on_done, NULL));
    }
  }
  check(mrlog_wait(mrlog_sync(log, NULL, NULL), NULL), "sync");
  t1 = now_s();
  printf("appended %" PRIu64 " records of 100 B to %u queues in %.3f s "
         "(%.0f records/s, durable acknowledgements: %lu, failures: %lu)\n",
         total, queues, t1 - t0, (double)total / (t1 - t0),
         atomic_load(&acked), atomic_load(&failed));
  print_stats(log, "after appends:");

  /* Processed: drop the first half of every queue. */
  for (q = 0; q < queues; q++) {
    struct mrlog_queue_info info;
    snprintf(name, sizeof(name), "stream-%u", q);
    check(mrlog_queue_info(log, name, &info), "queue info");
    check(mrlog_wait(mrlog_truncate(log, name,
                                    info.first_position + per / 2 - 1, NULL,
                                    NULL),
                     NULL),
          "truncate");
  }
  print_stats(log, "after truncate:");
  check(mrlog_close(log), "close");

  t0 = now_s();
  check(mrlog_open(dir, &policy, &log), "reopen");
  t1 = now_s();
  printf("reopened in %.3f s\n", t1 - t0);
  print_stats(log, "recovered:");
  for (q = 0; q < queues && q < 3; q++) {
    struct mrlog_queue_info info;
    snprintf(name, sizeof(name), "stream-%u", q);
    check(mrlog_queue_info(log, name, &info), "queue info");
    printf("  %s: first=%" PRIu64 " next=%" PRIu64 " records=%" PRIu64
           " bytes=%" PRIu64 "\n",
           name, info.first_position, info.next_position, info.records,
           info.bytes);
  }
  if (queues > 3)
    printf("  ... and %u more queues\n", queues - 3);
  check(mrlog_close(log), "close");
  return atomic_load(&failed) == 0 ? 0 : 1;
}
