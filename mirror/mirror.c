/*
 * mirror.c -- libmrlog_mirror's public calls and the mirror thread's loop.
 *
 * DESIGN.  One thread per mirror ("mrlog-mirror") owns the AMQP link, the
 * per-queue state (cursors, watches, in-flight messages) and the message
 * buffer.  It accepts two wake-ups on one eventfd: a watch that fired
 * (records became visible in a queue it waits on) and mrlog_mirror_stop.
 * It also wakes on the broker's socket (confirms, returns, closes) and on
 * timers (reconnect backoff, the queue list refresh, a queue whose
 * visible records are not yet durable).  Its loop, each pass:
 *   1. without a link: waits out the backoff, then connects to the next
 *      URI; a failure is recorded in stats and log_fn, and the backoff
 *      doubles up to backoff_max_ms;
 *   2. refreshes the queue list when due, declares the RabbitMQ queues not
 *      yet declared on this link;
 *   3. applies every event the broker has sent (ship.c);
 *   4. publishes while fewer than messages_in_flight are unconfirmed;
 *   5. when stopping: leaves once every queue is confirmed up to its
 *      durable_position at the stop and no delete marker is pending, or
 *      at the stop's deadline;
 *   6. with nothing done, arms watches and sleeps in poll(2) on the
 *      socket and the eventfd (at most 1 s, for heartbeats and timers):
 *      never a busy loop.
 * A link failure in any step closes the link and rewinds every queue to
 * its confirmed position (ship.c, invariant 4).
 *
 * Lock: stats_lock guards only what other threads read (stats, the queue
 * array and each queue's confirmed and durable); the thread takes it for
 * those writes and never calls into the log or the broker holding it.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "mirror.h"

#define CONNECT_TIMEOUT_MS 5000
#define DURABLE_POLL_MS 10

uint64_t mrlog__mirror_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void mrlog__mirror_say(struct mrlog_mirror *m, int level, const char *fmt,
                       ...) {
  char msg[512];
  va_list ap;

  if (m->log_fn == NULL) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  m->log_fn(m->log_arg, level, msg);
}

void mrlog_mirror_config_init(struct mrlog_mirror_config *config) {
  if (config == NULL) return;
  memset(config, 0, sizeof(*config));
  config->records_per_message = 256;
  config->message_bytes = 1u << 20;
  config->messages_in_flight = 64;
  config->backoff_min_ms = 100;
  config->backoff_max_ms = 5000;
  config->refresh_ms = 500;
  config->heartbeat_s = 10;
}

void mrlog__mirror_error(struct mrlog_mirror *m, int code, const char *text) {
  pthread_mutex_lock(&m->stats_lock);
  m->stats.last_error = code;
  snprintf(m->stats.last_error_text, sizeof(m->stats.last_error_text), "%s",
           text);
  pthread_mutex_unlock(&m->stats_lock);
}

/* Drops the link after a failure: every queue resends from its confirmed
 * position on the next one. */
void mrlog__mirror_link_lost(struct mrlog_mirror *m) {
  const char *node = m->uris[m->cur_uri].display;

  mrlog__mirror_error(m, m->link.error, m->link.error_text);
  mrlog__mirror_say(m, MRLOG_LOG_ERROR, "mirror: %s: %s (%s)", node,
                    m->link.error_text, mrlog_err_name(m->link.error));
  mrlog__link_close(&m->link, 0);
  for (size_t i = 0; i < m->nmqs; i++) {
    mrlog__mirror_rewind(m, m->mqs[i]);
    m->mqs[i]->declared = 0;
  }
  pthread_mutex_lock(&m->stats_lock);
  m->stats.connected = 0;
  m->stats.reconnects++;
  pthread_mutex_unlock(&m->stats_lock);
  m->cur_uri = (m->cur_uri + 1) % m->nuris;
}

int mrlog__mirror_connect(struct mrlog_mirror *m) {
  const struct mrlog__uri *u = &m->uris[m->cur_uri];

  pthread_mutex_lock(&m->stats_lock);
  snprintf(m->stats.node, sizeof(m->stats.node), "%s", u->display);
  pthread_mutex_unlock(&m->stats_lock);
  if (mrlog__link_open(&m->link, u, m->heartbeat_s, CONNECT_TIMEOUT_MS) !=
      0) {
    mrlog__mirror_link_lost(m);
    return -1;
  }
  pthread_mutex_lock(&m->stats_lock);
  m->stats.connected = 1;
  m->stats.connects++;
  pthread_mutex_unlock(&m->stats_lock);
  mrlog__mirror_say(m, MRLOG_LOG_INFO, "mirror: connected to %s",
                    u->display);
  return 0;
}

/* True once every queue is confirmed up to its stop target. */
static int drained(struct mrlog_mirror *m) {
  /* Targets to come (truncation.c), unless only a poller could run the
   * sync: the one that stops the mirror waits in pthread_join meanwhile. */
  if (m->trunc_sync != NULL && !m->poll_mode) return 0;
  for (size_t i = 0; i < m->nmqs; i++)
    if (m->mqs[i]->confirmed < m->mqs[i]->stop_target ||
        m->mqs[i]->marker ||
        m->mqs[i]->trunc_confirmed < m->mqs[i]->trunc_target)
      return 0;
  return 1;
}

static void set_stop_targets(struct mrlog_mirror *m) {
  struct mrlog_queue_info info;

  for (size_t i = 0; i < m->nmqs; i++) {
    struct mrlog__mq *mq = m->mqs[i];
    mq->stop_target = 0;
    if (mq->cursor != NULL && mrlog_queue_info(m->log, mq->name, &info) == 0)
      mq->stop_target = info.durable_position;
  }
}

/* Steps 2 to 4 of a pass with a link.  Returns the work done (> 0), 0,
 * or -1 when the link failed. */
static int pass(struct mrlog_mirror *m) {
  struct mrlog__link_event ev;
  int done = 0, rc;

  for (size_t i = 0; i < m->nmqs; i++) {
    struct mrlog__mq *mq = m->mqs[i];
    if (mq->declared) continue;
    if (mrlog__link_declare(&m->link, m->exchange, mq->rq_name, mq->name) !=
        0)
      return -1;
    mq->declared = 1;
    if (!mq->cataloged) {
      if (mrlog__link_catalog(&m->link, m->catalog, mq->name) != 0)
        return -1;
      mq->cataloged = 1;
    }
  }
  while ((rc = mrlog__link_next(&m->link, &ev)) == 1) {
    mrlog__mirror_event(m, &ev);
    done++;
  }
  if (rc < 0) return -1;
  amqp_maybe_release_buffers(m->link.conn);
  for (size_t i = 0; i < m->nmqs && m->inflight < m->messages_in_flight;
       i++) {
    struct mrlog__mq *mq = m->mqs[i];
    if (!mq->declared) continue;
    while (m->inflight < m->messages_in_flight) {
      rc = mrlog__mirror_ship(m, mq);
      if (rc < 0) {
        if (rc == MRLOG_ENOMEM) {
          mrlog__mirror_error(m, rc, "out of memory building a message");
          break;
        }
        return -1;
      }
      if (rc == 0) break;
      done++;
    }
  }
  return done;
}

static void update_lag(struct mrlog_mirror *m) {
  uint64_t lag = 0;

  pthread_mutex_lock(&m->stats_lock);
  for (size_t i = 0; i < m->nmqs; i++)
    if (m->mqs[i]->durable > m->mqs[i]->confirmed)
      lag += m->mqs[i]->durable - m->mqs[i]->confirmed;
  m->stats.lag = lag;
  pthread_mutex_unlock(&m->stats_lock);
}

static void *run(void *arg) {
  struct mrlog_mirror *m = arg;
  uint64_t next_connect = 0, next_refresh = 0, backoff = m->backoff_min_ms;
  int stopping_seen = 0;

  pthread_setname_np(pthread_self(), "mrlog-mirror");
  for (;;) {
    uint64_t now = mrlog__mirror_now_ms();
    int timeout = 1000, done = 0;
    struct pollfd pfd[2];
    nfds_t nfd = 1;

    if (!stopping_seen && atomic_load(&m->stopping)) {
      stopping_seen = 1;
      mrlog__mirror_refresh(m);
      set_stop_targets(m);
    }
    if (stopping_seen) {
      if (drained(m)) {
        m->drained = 1;
        break;
      }
      if (now >= m->stop_deadline_ms) break;
    }
    if (now >= next_refresh) {
      mrlog__mirror_refresh(m);
      next_refresh = now + m->refresh_ms;
    }
    mrlog__mirror_trunc_poll(m);
    mrlog__mirror_reap(m);
    if (m->link.conn == NULL && now >= next_connect) {
      if (mrlog__mirror_connect(m) != 0) {
        next_connect = now + backoff;
        backoff = backoff * 2 > m->backoff_max_ms ? m->backoff_max_ms
                                                  : backoff * 2;
      }
    }
    if (m->link.conn != NULL) {
      done = pass(m);
      if (done < 0) {
        mrlog__mirror_link_lost(m);
        next_connect = now + backoff;
        backoff = backoff * 2 > m->backoff_max_ms ? m->backoff_max_ms
                                                  : backoff * 2;
        done = 0;
      } else if (m->stats.messages_confirmed > 0) {
        backoff = m->backoff_min_ms; /* the link works: reset */
      }
    }
    update_lag(m);
    if (done > 0) continue;
    /* Step 6: nothing to do now. */
    if (m->link.conn == NULL) {
      uint64_t wait = next_connect > now ? next_connect - now : 0;
      if (wait < (uint64_t)timeout) timeout = (int)wait;
    } else {
      if (mrlog__link_buffered(&m->link)) continue;
      int marker = 0;
      for (size_t i = 0; i < m->nmqs; i++) {
        marker |= mrlog__mirror_arm(m, m->mqs[i]);
        if (m->mqs[i]->wait_durable && timeout > DURABLE_POLL_MS)
          timeout = DURABLE_POLL_MS;
        /* A queue held after a nack (ship.c invariant 4) is due again. */
        if (m->mqs[i]->hold_until_ms > now &&
            m->mqs[i]->hold_until_ms - now < (uint64_t)timeout)
          timeout = (int)(m->mqs[i]->hold_until_ms - now);
      }
      /* A delete marker to publish: no sleep unless the window is full
       * (a confirm then wakes the loop). */
      if (marker && m->inflight < m->messages_in_flight) continue;
      pfd[1].fd = mrlog__link_fd(&m->link);
      pfd[1].events = POLLIN;
      nfd = 2;
    }
    if (next_refresh > now && next_refresh - now < (uint64_t)timeout)
      timeout = (int)(next_refresh - now);
    if (stopping_seen && m->stop_deadline_ms > now &&
        m->stop_deadline_ms - now < (uint64_t)timeout)
      timeout = (int)(m->stop_deadline_ms - now);
    pfd[0].fd = m->wake_fd;
    pfd[0].events = POLLIN;
    if (poll(pfd, nfd, timeout) > 0 && (pfd[0].revents & POLLIN)) {
      uint64_t v;
      ssize_t n = read(m->wake_fd, &v, sizeof(v));
      (void)n;
    }
  }
  mrlog__link_close(&m->link, m->link.conn != NULL);
  return NULL;
}

/* On the thread that stops the mirror (a log's poller in poll mode runs
 * the completions these waits need itself). */
static void mirror_free(struct mrlog_mirror *m) {
  mrlog__mirror_trunc_end(m); /* its callback uses m */
  for (size_t i = 0; i < m->nretired; i++) /* so do theirs */
    mrlog_wait(m->retired[i], NULL);
  free(m->retired);
  for (size_t i = 0; i < m->nmqs; i++) mrlog__mirror_mq_free(m->mqs[i]);
  free(m->mqs);
  mrlog__uris_free(m->uris, m->nuris);
  free(m->glob);
  free(m->exchange);
  free(m->prefix);
  free(m->consumer);
  free(m->catalog);
  mrlog__body_free(&m->body);
  if (m->wake_fd >= 0) close(m->wake_fd);
  pthread_mutex_destroy(&m->stats_lock);
  free(m);
}

int mrlog_mirror_start(mrlog *log, const struct mrlog_mirror_config *config,
                       mrlog_mirror **out) {
  return mrlog__mirror_create(log, config, run, out);
}

int mrlog__mirror_create(mrlog *log, const struct mrlog_mirror_config *config,
                         void *(*thread_fn)(void *), mrlog_mirror **out) {
  struct mrlog_mirror *m;
  const struct mrlog_mirror_config *c = config;

  if (out != NULL) *out = NULL;
  if (log == NULL || c == NULL || out == NULL || c->uris == NULL ||
      c->records_per_message == 0 || c->messages_in_flight == 0 ||
      c->message_bytes == 0 || c->backoff_min_ms == 0 ||
      c->backoff_max_ms < c->backoff_min_ms || c->refresh_ms == 0)
    return MRLOG_EINVAL;
  for (size_t i = 0; i < sizeof(c->reserved) / sizeof(c->reserved[0]); i++)
    if (c->reserved[i] != 0) return MRLOG_EINVAL;
  m = calloc(1, sizeof(*m));
  if (m == NULL) return MRLOG_ENOMEM;
  m->wake_fd = -1;
  pthread_mutex_init(&m->stats_lock, NULL);
  if (mrlog__uris_parse(c->uris, &m->uris, &m->nuris) != 0) {
    mirror_free(m);
    return MRLOG_EINVAL;
  }
  m->log = log;
  m->glob = strdup(c->queues ? c->queues : "*");
  m->exchange = strdup(c->exchange ? c->exchange : "mrlog");
  m->prefix = strdup(c->queue_prefix ? c->queue_prefix : "mrlog.");
  m->consumer = strdup(c->consumer ? c->consumer : "mirror");
  m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (m->exchange != NULL &&
      asprintf(&m->catalog, "%s-catalog", m->exchange) < 0)
    m->catalog = NULL;
  if (m->glob == NULL || m->exchange == NULL || m->prefix == NULL ||
      m->consumer == NULL || m->catalog == NULL || m->wake_fd < 0) {
    mirror_free(m);
    return MRLOG_ENOMEM;
  }
  m->records_per_message = c->records_per_message;
  m->message_bytes = c->message_bytes;
  m->messages_in_flight = c->messages_in_flight;
  m->backoff_min_ms = c->backoff_min_ms;
  m->backoff_max_ms = c->backoff_max_ms;
  m->refresh_ms = c->refresh_ms;
  m->heartbeat_s = c->heartbeat_s;
  m->log_fn = c->log_fn;
  m->log_arg = c->log_arg;
  {
    mrlog_policy policy;

    if (mrlog_get_policy(log, &policy) != 0) {
      mirror_free(m);
      return MRLOG_EINVAL; /* a closed log */
    }
    m->truncate_on_commit = policy.truncate_on_commit;
    m->read_only = policy.read_only;
    m->poll_mode = policy.completion_mode == MRLOG_COMPLETE_ON_POLL;
  }
  if (pthread_create(&m->thread, NULL, thread_fn, m) != 0) {
    mirror_free(m);
    return MRLOG_ENOMEM;
  }
  *out = m;
  return 0;
}

int mrlog_mirror_stats(mrlog_mirror *mirror, struct mrlog_mirror_stats *out) {
  if (mirror == NULL || out == NULL) return MRLOG_EINVAL;
  pthread_mutex_lock(&mirror->stats_lock);
  *out = mirror->stats;
  pthread_mutex_unlock(&mirror->stats_lock);
  return 0;
}

int mrlog_mirror_queue(mrlog_mirror *mirror, const char *queue,
                       uint64_t *next_confirmed, uint64_t *durable) {
  int rc = MRLOG_ENOQUEUE;

  if (mirror == NULL || queue == NULL) return MRLOG_EINVAL;
  pthread_mutex_lock(&mirror->stats_lock);
  for (size_t i = 0; i < mirror->nmqs; i++) {
    if (strcmp(mirror->mqs[i]->name, queue) != 0) continue;
    if (next_confirmed) *next_confirmed = mirror->mqs[i]->confirmed;
    if (durable) *durable = mirror->mqs[i]->durable;
    rc = 0;
    break;
  }
  pthread_mutex_unlock(&mirror->stats_lock);
  return rc;
}

int mrlog_mirror_stop(mrlog_mirror *mirror, unsigned timeout_ms) {
  uint64_t one = 1;
  mrlog_future *sync;
  ssize_t n;
  int rc;

  if (mirror == NULL) return MRLOG_EINVAL;
  mirror->stop_deadline_ms = mrlog__mirror_now_ms() + timeout_ms;
  atomic_store(&mirror->stopping, 1);
  n = write(mirror->wake_fd, &one, sizeof(one));
  (void)n;
  pthread_join(mirror->thread, NULL);
  rc = mirror->drained || mirror->is_replica ? 0 : MRLOG_ETIMEDOUT;
  /* The commits the thread submitted are durable once this barrier is. */
  sync = mrlog_sync(mirror->log, NULL, NULL);
  mrlog_wait(sync, NULL);
  mirror_free(mirror);
  return rc;
}
