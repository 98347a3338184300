/*
 * peer.h -- small helpers shared by the peer engines (eng_rocksdb.c,
 * eng_lmdb.c, eng_sqlite.c): keys and the first-error message.
 *
 * Keys are big-endian u64 positions, so byte order is position order for
 * every peer's default comparator.
 */
#ifndef BENCH_PEER_H
#define BENCH_PEER_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Batch bytes a peer's group commit may hold while filling (then the
 * producers wait); two batches exist, so at most twice this is buffered. */
#define PEER_MAX_BATCH_BYTES (16u << 20)

static inline void
peer_key(unsigned char out[8], uint64_t position)
{
  int i;

  for (i = 7; i >= 0; i--) {
    out[i] = (unsigned char)position;
    position >>= 8;
  }
}

static inline uint64_t
peer_key_decode(const void *key, size_t len)
{
  const unsigned char *k = key;
  uint64_t v = 0;
  size_t i;

  for (i = 0; i < len && i < 8; i++)
    v = (v << 8) | k[i];
  return v;
}

/* The first error message of an engine; any thread may record. */
struct peer_error {
  pthread_mutex_t mutex; /* guards msg */
  char msg[200];         /* "" until the first failure */
};

static inline void
peer_error_init(struct peer_error *pe)
{
  pthread_mutex_init(&pe->mutex, NULL);
  pe->msg[0] = '\0';
}

static inline void
peer_error_destroy(struct peer_error *pe)
{
  pthread_mutex_destroy(&pe->mutex);
}

__attribute__((format(printf, 2, 3))) static inline void
peer_error_set(struct peer_error *pe, const char *fmt, ...)
{
  va_list ap;

  pthread_mutex_lock(&pe->mutex);
  if (pe->msg[0] == '\0') {
    va_start(ap, fmt);
    vsnprintf(pe->msg, sizeof(pe->msg), fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&pe->mutex);
}

/* Copies the message for status (the first recorded one, else errno's). */
static inline const char *
peer_error_get(struct peer_error *pe, int status, char *buf, size_t size)
{
  pthread_mutex_lock(&pe->mutex);
  if (pe->msg[0] != '\0')
    snprintf(buf, size, "%s", pe->msg);
  else
    snprintf(buf, size, "%s", strerror(status < 0 ? -status : status));
  pthread_mutex_unlock(&pe->mutex);
  return buf;
}

#endif /* BENCH_PEER_H */
