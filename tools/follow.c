/*
 * follow.c -- `mrlog tail --follow`: looks at the log again each time it
 * may have changed, through the library's read-only open, and prints the
 * followed queue's new records (one look: follow_look.c).
 *
 * Invariants:
 *  1. What is printed is what the library recovers: each look is a fresh
 *     read-only mrlog_open (policy.read_only: no lock taken, nothing
 *     changed), whose view is a consistent prefix of what a running
 *     writer has written (mrlog_open(3), READ-ONLY OPEN).  It is closed
 *     before the next look, so one view at most is in memory, and the
 *     tool itself keeps no record (follow_look.c invariant 1).
 *  2. Waking.  One inotify watch on the directory reports the creation,
 *     deletion and every write of its files (the library writes segments
 *     with pwrite only: lib/segment.c), and a look follows each batch of
 *     events.  With no event for FOLLOW_RECHECK_MS, and every
 *     FOLLOW_POLL_MS when inotify is unavailable, the directory's listing
 *     (names, inodes, sizes and modification times of its segment files)
 *     is compared with the one taken before the last look: a change
 *     brings a look, and one more look follows at the next comparison,
 *     since a write within the same timestamp tick as a look leaves the
 *     listing as it was.  Every wait blocks in ppoll: no busy loop.
 *  3. Looks are spaced: one starts no sooner than max(FOLLOW_SPACING_MS,
 *     twice the length of the last look) after the last one ended, so
 *     reopening even a large log takes at most a third of the time however
 *     fast a writer appends; the events that come meanwhile make one look.
 *  4. A directory that does not exist or holds no segment file, at start
 *     or after it disappears while followed (the queue is then noted as
 *     deleted), is looked for every WAIT_POLL_MS: inotify cannot watch
 *     what is not there.  Both waits are said on stderr.
 *  5. A running writer's changes can make a read-only open fail, after
 *     its own retries (lib/readonly.c invariant 4), with MRLOG_ECORRUPT or
 *     MRLOG_EIO.  Such a look is made again after FOLLOW_RETRY_MS, up to
 *     FOLLOW_TRIES times in all; then the log is opened as dump opens it
 *     (view.c): if it is damaged, each range the library drops is named
 *     on stderr (the library's own reports), the records past those
 *     printed that MRLOG_RECOVER_SKIP_CORRUPT recovers are printed, and
 *     tail exits 2; a segment that cannot be read is 74, another format
 *     version 65, as everywhere.
 *  6. Signals.  SIGINT, SIGTERM and SIGHUP (unless ignored at start) are
 *     blocked on the main thread, so the threads of each view, created
 *     from it, never take them; they are let in only while tail waits
 *     (ppoll, which lets them in and blocks them again atomically, so one
 *     that comes just before a wait is not lost) and while a look prints
 *     (follow_look.c checks tool_follow_signal between records).  After
 *     one, tail stops, flushes the whole records printed, closes the view
 *     and ends by that same signal, with its default action.
 */
#include "follow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_POLL_MS 100       /* invariant 4 */
#define FOLLOW_POLL_MS 200     /* invariant 2, without inotify */
#define FOLLOW_RECHECK_MS 1000 /* invariant 2, with inotify */
#define FOLLOW_SPACING_MS 20   /* invariant 3 */
#define FOLLOW_RETRY_MS 100    /* invariant 5 */
#define FOLLOW_TRIES 3

volatile sig_atomic_t tool_follow_signal;

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define NSTOP (sizeof(stop_signals) / sizeof(stop_signals[0]))

/* The waiting side of a follow. */
struct waker {
  const struct tool_follow *opt;
  int ino;                 /* inotify descriptor, or -1: polling */
  int wd;                  /* the directory's watch, or -1 */
  uint64_t listing;        /* hash of the listing (invariant 2) */
  bool settle;             /* one more look is due at the next check */
  bool due;                /* a look is due at once */
  int tries;               /* failed looks in a row (invariant 5) */
  double last_end;         /* when the last look ended (s, monotonic) */
  double last_len;         /* how long it took (s) */
  sigset_t stops;          /* stop_signals that tail handles */
  sigset_t open_mask;      /* the mask with them let in */
  struct sigaction old[NSTOP]; /* their actions before */
};

static struct waker *the_waker; /* for tool_follow_signals */

static void
on_signal(int sig)
{
  tool_follow_signal = sig;
}

void
tool_follow_signals(bool deliver)
{
  pthread_sigmask(deliver ? SIG_UNBLOCK : SIG_BLOCK, &the_waker->stops,
                  NULL);
}

/* Invariant 6: handlers in, signals blocked. */
static void
signals_take(struct waker *w)
{
  struct sigaction sa;
  size_t i;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; /* stdout's writes go on */
  sigemptyset(&w->stops);
  for (i = 0; i < NSTOP; i++) {
    sigaction(stop_signals[i], NULL, &w->old[i]);
    if (w->old[i].sa_handler == SIG_IGN)
      continue; /* nohup(1): left ignored */
    sigaction(stop_signals[i], &sa, NULL);
    sigaddset(&w->stops, stop_signals[i]);
  }
  pthread_sigmask(SIG_BLOCK, &w->stops, &w->open_mask);
  for (i = 0; i < NSTOP; i++)
    sigdelset(&w->open_mask, stop_signals[i]);
}

/* The actions and mask as they were; if a signal stopped tail, ends the
 * process by it. */
static void
signals_give_back(struct waker *w)
{
  int sig = tool_follow_signal;
  size_t i;

  for (i = 0; i < NSTOP; i++)
    if (sigismember(&w->stops, stop_signals[i]))
      sigaction(stop_signals[i], &w->old[i], NULL);
  if (sig != 0) {
    signal(sig, SIG_DFL);
    raise(sig); /* pending while blocked */
  }
  pthread_sigmask(SIG_UNBLOCK, &w->stops, NULL);
}

static double
now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for fd (if >= 0) to be readable, at most ms (< 0: forever), with
 * the signals let in.  True if fd is readable. */
static bool
wait_for(struct waker *w, int fd, int ms)
{
  struct pollfd pfd = { fd, POLLIN, 0 };
  struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

  if (tool_follow_signal != 0)
    return false;
  return ppoll(fd >= 0 ? &pfd : NULL, fd >= 0 ? 1 : 0, ms < 0 ? NULL : &ts,
               &w->open_mask) > 0;
}

/* FNV-1a over the bytes of v. */
static uint64_t
mix(uint64_t h, const void *v, size_t n)
{
  const unsigned char *p = v;

  while (n-- > 0)
    h = (h ^ *p++) * UINT64_C(0x100000001b3);
  return h;
}

/* The hash of the directory's segment files (invariant 2); 1 if it cannot
 * be listed.  Also says whether it holds one (present). */
static uint64_t
listing(const char *dir, bool *present)
{
  uint64_t h = UINT64_C(0xcbf29ce484222325), segno;
  struct dirent *e;
  struct stat st;
  DIR *d = opendir(dir);

  *present = false;
  if (d == NULL)
    return 1;
  while ((e = readdir(d)) != NULL) {
    if (!tool_segment_parse_name(e->d_name, &segno) ||
        fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      continue; /* deleted meanwhile */
    *present = true;
    h = mix(h, e->d_name, strlen(e->d_name));
    h = mix(h, &st.st_ino, sizeof(st.st_ino));
    h = mix(h, &st.st_size, sizeof(st.st_size));
    h = mix(h, &st.st_mtim, sizeof(st.st_mtim));
  }
  closedir(d);
  return h;
}

/* Adds the directory's watch if there is none (it exists by now). */
static void
watch(struct waker *w)
{
  if (w->ino >= 0 && w->wd < 0)
    w->wd = inotify_add_watch(w->ino, w->opt->dir,
                              IN_CREATE | IN_DELETE | IN_MODIFY |
                                  IN_MOVED_TO | IN_MOVED_FROM |
                                  IN_CLOSE_WRITE | IN_DELETE_SELF |
                                  IN_MOVE_SELF | IN_ONLYDIR);
}

/* Reads every pending event; true if there was one.  A watch whose
 * directory went away (deleted or renamed) is dropped: watch() adds one
 * again on the path once it is there. */
static bool
drain(struct waker *w)
{
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  bool any = false;
  ssize_t n, i;

  while ((n = read(w->ino, buf, sizeof(buf))) > 0) {
    any = true;
    for (i = 0; i < n;) {
      const struct inotify_event *e = (const struct inotify_event *)(buf + i);

      if (e->wd == w->wd && (e->mask & IN_MOVE_SELF) != 0)
        inotify_rm_watch(w->ino, w->wd); /* IN_IGNORED follows */
      if (e->wd == w->wd && (e->mask & IN_IGNORED) != 0)
        w->wd = -1;
      i += (ssize_t)(sizeof(*e) + e->len);
    }
  }
  return any;
}

/* Waits until dir holds a segment file (invariant 4).  -1, or 0 after a
 * signal. */
static int
wait_for_log(struct waker *w, bool gone)
{
  const struct tool_follow *o = w->opt;
  bool said = false, present;

  for (listing(o->dir, &present); !present; listing(o->dir, &present)) {
    if (!said && !o->quiet)
      tool_warn(gone ? "%s: the log is gone: waiting for it to appear"
                     : "%s: no log yet: waiting for it to appear", o->dir);
    said = true;
    wait_for(w, -1, WAIT_POLL_MS);
    if (tool_follow_signal != 0)
      return 0;
  }
  if (said && !o->quiet)
    tool_warn("%s: the log appeared", o->dir);
  return -1;
}

/* Blocks until the next look is due (invariants 2 and 3), or a signal. */
static void
wait_change(struct waker *w)
{
  bool watching, present;
  double left;
  uint64_t h;

  while (!w->due && tool_follow_signal == 0) {
    watching = w->ino >= 0 && w->wd >= 0;
    if (w->tries > 0) {
      wait_for(w, -1, FOLLOW_RETRY_MS);
      break;
    }
    if (wait_for(w, watching ? w->ino : -1,
                 watching ? FOLLOW_RECHECK_MS : FOLLOW_POLL_MS) &&
        drain(w))
      break;
    h = listing(w->opt->dir, &present);
    if (h != w->listing || w->settle) {
      w->settle = h != w->listing;
      break;
    }
  }
  w->due = false;
  left = w->last_end - now_s() +
         (w->last_len * 2 > FOLLOW_SPACING_MS / 1e3 ? w->last_len * 2
                                                    : FOLLOW_SPACING_MS / 1e3);
  if (left > 0 && tool_follow_signal == 0) {
    wait_for(w, -1, (int)(left * 1e3) + 1);
    if (w->ino >= 0)
      drain(w); /* gathered into this look */
  }
}

/* Ends a look at v: flushes stdout, closes v. */
static int
end_look(struct tool_view *v, int rc)
{
  if (fflush(stdout) != 0) {
    tool_warn("write error on standard output");
    rc = TOOL_EXIT_IOERR;
  }
  tool_view_close(v);
  return rc;
}

/* True once the log's time has reached --until (follow_look.c invariant
 * 4): every record appended later is framed at or after it. */
static bool
until_reached(const struct tool_follow *o, struct tool_view *v)
{
  return o->filter.has_until && tool_view_time(v) >= o->filter.until;
}

/* True if the directory is not there (or not a directory) any more:
 * status is the look's read-only open's. */
static bool
gone(const char *dir, int status)
{
  struct stat st;

  return status == MRLOG_ENOENT || stat(dir, &st) != 0 ||
         !S_ISDIR(st.st_mode);
}

/* A look that could not open the log as the default policy does
 * (invariant 5): opened as dump opens it. */
static int
look_as_dump(struct tool_follower *fw, struct waker *w)
{
  struct tool_view v;
  int rc;

  rc = tool_view_open(&v, w->opt->dir, w->opt->quiet);
  if (rc != 0)
    return rc;
  if (v.damaged) {
    rc = tool_follow_look(fw, v.log, TOOL_LOOK_DAMAGED);
    return tool_view_finish(&v, rc < 0 ? 0 : rc);
  }
  w->tries = 0; /* the writer has moved on */
  rc = tool_follow_look(fw, v.log, TOOL_LOOK_NEXT);
  if (rc < 0 && until_reached(w->opt, &v))
    rc = 0;
  return end_look(&v, rc);
}

/* One look after the first.  -1 to go on, or an exit code. */
static int
look(struct tool_follower *fw, struct waker *w)
{
  const char *dir = w->opt->dir;
  double start = now_s();
  struct tool_view v;
  bool present;
  int status, rc = -1;

  if (w->ino >= 0)
    drain(w); /* notices a watch that is gone */
  watch(w);
  w->listing = listing(dir, &present);
  status = tool_view_try(&v, dir);
  if (status == 0) {
    w->tries = 0;
    rc = tool_follow_look(fw, v.log, TOOL_LOOK_NEXT);
    if (rc < 0 && until_reached(w->opt, &v))
      rc = 0;
    rc = end_look(&v, rc);
  } else if (gone(dir, status)) {
    tool_follow_gone(fw); /* invariant 4 */
    w->tries = 0;
    rc = wait_for_log(w, true);
    w->due = true;
  } else if ((status == MRLOG_ECORRUPT || status == MRLOG_EIO) &&
             ++w->tries < FOLLOW_TRIES) {
    rc = -1; /* invariant 5: again, later */
  } else {
    rc = look_as_dump(fw, w);
  }
  w->last_end = now_s();
  w->last_len = w->last_end - start;
  return rc;
}

/* The first look: as without --follow if the log is damaged or has
 * reached --until already. */
static int
first_look(struct tool_follower *fw, struct waker *w)
{
  double start = now_s();
  struct tool_view v;
  bool present;
  int rc;

  watch(w);
  w->listing = listing(w->opt->dir, &present);
  rc = tool_view_open(&v, w->opt->dir, w->opt->quiet);
  if (rc != 0)
    return rc;
  if (v.damaged || until_reached(w->opt, &v)) {
    rc = tool_follow_look(fw, v.log, TOOL_LOOK_ONCE);
    return tool_view_finish(&v, rc);
  }
  rc = end_look(&v, tool_follow_look(fw, v.log, TOOL_LOOK_FIRST));
  w->last_end = now_s();
  w->last_len = w->last_end - start;
  return rc;
}

int
tool_follow(const struct tool_follow *opt)
{
  struct tool_follower fw;
  struct waker w;
  int rc;

  memset(&w, 0, sizeof(w));
  w.opt = opt;
  w.wd = -1;
  the_waker = &w;
  tool_follower_init(&fw, opt);
  signals_take(&w);
  /* MRLOG_TOOL_FOLLOW_POLL, for tests/tool_test.sh: as without inotify. */
  w.ino = getenv("MRLOG_TOOL_FOLLOW_POLL") != NULL
              ? -1
              : inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w.ino < 0 && !opt->quiet)
    tool_warn("inotify unavailable (%s): looking every %d ms",
              getenv("MRLOG_TOOL_FOLLOW_POLL") != NULL
                  ? "MRLOG_TOOL_FOLLOW_POLL is set"
                  : strerror(errno), FOLLOW_POLL_MS);
  rc = wait_for_log(&w, false);
  if (rc < 0)
    rc = first_look(&fw, &w);
  while (rc < 0 && tool_follow_signal == 0) {
    wait_change(&w);
    if (tool_follow_signal == 0)
      rc = look(&fw, &w);
  }
  if (w.ino >= 0)
    close(w.ino);
  if (tool_follow_signal != 0 && fflush(stdout) != 0)
    tool_warn("write error on standard output");
  signals_give_back(&w);
  the_waker = NULL;
  return rc < 0 ? TOOL_EXIT_OK : rc;
}
