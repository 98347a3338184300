/*
 * ingest_consumer.h -- the ingest server's optional consumer (--consume):
 * one thread that reads every client queue through a cursor, "processes"
 * each record (counts it), commits what it processed under the consumer
 * name INGEST_CONSUMER and waits for more with mrlog_cursor_wait.  The
 * log is opened with policy.truncate_on_commit, so each commit drops the
 * records it covers.
 */
#ifndef INGEST_CONSUMER_H
#define INGEST_CONSUMER_H

#include <mrlog.h>

#include <pthread.h>
#include <stdint.h>

/* The consumer name the commits are made under. */
#define INGEST_CONSUMER "ingest"

struct ingest_consumed_queue;

struct ingest_consumer {
  /* The open log; borrowed from main, which closes it after
   * ingest_consumer_stop. */
  mrlog *log;
  pthread_t thread;
  /* Guards wakeups and stopping; wake is broadcast when either changes. */
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  /* Counts the wake-ups: a wait completing, a queue created, a stop. */
  uint64_t wakeups;
  int stopping;
  /* The queues being read; touched by the consumer thread only. */
  struct ingest_consumed_queue *queues;
  /* Records processed so far; written by the consumer thread only. */
  uint64_t processed;
};

/* Starts the consumer thread on log.  Returns 0 or -1 (errno set). */
int ingest_consumer_start(struct ingest_consumer *consumer, mrlog *log);

/* Wakes the consumer so that it looks for new queues (after a hello
 * created one).  Any thread; a NULL consumer is ignored. */
void ingest_consumer_poke(struct ingest_consumer *consumer);

/* Cancels the pending waits, joins the thread and frees everything.
 * Call before mrlog_close.  Returns the number of records processed. */
uint64_t ingest_consumer_stop(struct ingest_consumer *consumer);

#endif /* INGEST_CONSUMER_H */
