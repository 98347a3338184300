/*
 * dlopen_test.c -- a program that was not linked with libmrlog can
 * dlopen() it and use it, from the main thread (which existed before the
 * library was loaded) and from a thread started after.  The library's
 * thread-locals use the initial-exec TLS model (lib/base.h,
 * MRLOG_TLS), which takes static TLS space that dlopen must find for
 * threads already running.  This checks the ordinary case (a process
 * with glibc's surplus free); it cannot exhaust the surplus on purpose,
 * and it still passes with glibc.rtld.optional_static_tls=0, so it guards
 * against a library that cannot be dlopen()ed or used after it, not the
 * limit itself.  Run by
 * `make check` from the top build directory; exits 77 (skip) when no
 * shared library was built.
 */
#include <mrlog.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct api {
  void (*policy_init)(mrlog_policy *);
  int (*open)(const char *, const mrlog_policy *, mrlog **);
  int (*close)(mrlog *);
  mrlog_future *(*create_queue)(mrlog *, const char *, mrlog_done_fn, void *);
  mrlog_future *(*append)(mrlog *, const char *, const uint64_t *,
                          const void *, size_t, mrlog_done_fn, void *);
  int (*wait)(mrlog_future *, uint64_t *);
  void (*forget)(mrlog_future *);
};

static struct api api;
static mrlog *log_;

/* 100 appends (half forgotten, half waited); 0 if every waited one got
 * the position after the one before. */
static int
append_some(const char *who)
{
  uint64_t pos, last = 0;
  int i, rc;

  for (i = 0; i < 100; i++) {
    mrlog_future *f = api.append(log_, "q", NULL, who, strlen(who), NULL,
                                 NULL);
    if (f == NULL)
      return 1;
    if (i % 2 == 0) {
      api.forget(f);
      continue;
    }
    rc = api.wait(f, &pos);
    if (rc != 0 || (i > 1 && pos <= last)) {
      fprintf(stderr, "FAIL: %s: append %d: status %d, position %llu\n", who,
              i, rc, (unsigned long long)pos);
      return 1;
    }
    last = pos;
  }
  return 0;
}

static void *
thread_main(void *arg)
{
  (void)arg;
  return (void *)(intptr_t)append_some("thread");
}

#define LOAD(field, name)                                                  \
  do {                                                                     \
    *(void **)&api.field = dlsym(h, name);                                 \
    if (api.field == NULL) {                                               \
      fprintf(stderr, "FAIL: dlsym(%s): %s\n", name, dlerror());           \
      return 1;                                                            \
    }                                                                      \
  } while (0)

int
main(void)
{
  const char *top = getenv("top_builddir");
  char lib[4096], dir[] = "/tmp/mrlog-dlopen.XXXXXX", cmd[4200];
  mrlog_policy policy;
  pthread_t t;
  void *h, *ret;
  int rc, failed = 0;

  snprintf(lib, sizeof(lib), "%s/.libs/libmrlog.so", top ? top : ".");
  if (access(lib, R_OK) != 0) {
    printf("SKIP: %s not found (shared library not built)\n", lib);
    return 77;
  }
  h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    fprintf(stderr, "FAIL: dlopen(%s): %s\n", lib, dlerror());
    return 1;
  }
  LOAD(policy_init, "mrlog_policy_init");
  LOAD(open, "mrlog_open");
  LOAD(close, "mrlog_close");
  LOAD(create_queue, "mrlog_create_queue");
  LOAD(append, "mrlog_append");
  LOAD(wait, "mrlog_wait");
  LOAD(forget, "mrlog_forget");
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  api.policy_init(&policy);
  rc = api.open(dir, &policy, &log_);
  if (rc != 0) {
    fprintf(stderr, "FAIL: mrlog_open: %d\n", rc);
    return 1;
  }
  rc = api.wait(api.create_queue(log_, "q", NULL, NULL), NULL);
  if (rc != 0) {
    fprintf(stderr, "FAIL: mrlog_create_queue: %d\n", rc);
    failed = 1;
  }
  failed |= append_some("main");
  if (pthread_create(&t, NULL, thread_main, NULL) != 0) {
    perror("pthread_create");
    failed = 1;
  } else {
    pthread_join(t, &ret);
    failed |= ret != NULL;
  }
  rc = api.close(log_);
  if (rc != 0) {
    fprintf(stderr, "FAIL: mrlog_close: %d\n", rc);
    failed = 1;
  }
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "warning: could not remove %s\n", dir);
  if (!failed)
    printf("PASS: dlopen'ed library used from the main thread and a new one\n");
  return failed;
}
