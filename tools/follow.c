/*
 * follow.c -- `mrlog tail --follow`: after the first scan, keeps replaying
 * the log as a writer extends it, and prints each record appended to the
 * followed queue as soon as the frame holding it is valid.
 *
 * The wait: one inotify watch on the directory, which reports the
 * creation, deletion and modification of every segment file in it (a
 * watch on each file would add nothing).  poll() also wakes every
 * FOLLOW_RECHECK_MS, so a lost event (a full inotify queue) costs a second
 * at most; without inotify the tool polls every FOLLOW_POLL_MS.
 *
 * Invariants:
 *  1. Only valid frames are replayed, in order, and a frame is never read
 *     twice: the scan stops at the first frame that is not valid yet --
 *     the zero-filled room the durable writer leaves ahead of its frames,
 *     or a frame whose bytes are still being written -- and tries that
 *     offset again after the next event.  The file's window is forgotten
 *     each time (file.c invariant 4), since those bytes change.
 *  2. Segment n is final once a later segment exists: the writer cuts its
 *     zero-filled room and syncs n before it creates n+1, and recovery
 *     cuts a torn tail before open creates its new segment.  So the tool
 *     moves on only after seeing a later segment, and scans n once more
 *     first.  Every later segment is opened as soon as it is listed, so
 *     one the cleaner deletes afterwards is still read through its
 *     descriptor; only a segment created and deleted between two looks at
 *     the directory is missed (its records were all truncated by then),
 *     and the gap in the numbers is reported.  A segment that never got a
 *     valid header (a creation cut short, removed by the next recovery) is
 *     passed over the same way.  Its CHECKPOINT makes the next segment
 *     self-describing, so the queues' state stays right across a gap.
 *  3. The followed queue is known by name.  When it is deleted and a queue
 *     of that name created again, its new records are printed from its
 *     first one: --from applies only to the first incarnation.  --since
 *     and --until apply to every record: times belong to the log.
 *  4. The replay's time never decreases (replay.c invariant 5), so once it
 *     has reached --until no record replayed later can pass the filter,
 *     in any incarnation: tail then stops (tool_follow_done), after the
 *     frames replayed so far have been printed.  The times are those of
 *     this replay, which began at the oldest segment present at start; a
 *     reader started later, after segments holding the newest times were
 *     deleted, replays fewer TIME operations and may see lower times for
 *     records framed after a clock step back (FORMAT.md 7.8).
 */
#include "tool.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define FOLLOW_RECHECK_MS 1000
#define FOLLOW_POLL_MS 200

struct follower {
  struct tool_log *log;
  struct tool_follow *opt;
  bool first_incarnation; /* invariant 3 */
  size_t cur;             /* log->segs index of the segment being read */
  uint64_t listed;        /* highest segment number listed so far */
};

static bool
is_followed(const struct follower *fw, const struct tool_queue *q)
{
  return q->name_len == fw->opt->queue_len &&
         memcmp(q->name, fw->opt->queue, q->name_len) == 0;
}

static void
appended(void *arg, struct tool_queue *q, const struct tool_run *run)
{
  struct follower *fw = arg;
  struct tool_follow *o = fw->opt;
  struct tool_filter w = o->filter;

  if (!is_followed(fw, q) || o->budget == 0)
    return;
  if (!fw->first_incarnation)
    w.from = 0; /* invariant 3 */
  tool_print_run(stdout, o->format, q->name, q->name_len, run, &w,
                 &o->budget);
}

static void
created(void *arg, struct tool_queue *q)
{
  struct follower *fw = arg;

  if (is_followed(fw, q)) {
    fflush(stdout);
    tool_warn("queue %s created", q->name);
  }
}

static void
deleted(void *arg, struct tool_queue *q)
{
  struct follower *fw = arg;

  if (is_followed(fw, q)) {
    fflush(stdout);
    tool_warn("queue %s deleted", q->name);
    fw->first_incarnation = false;
  }
}

/* Replays what has become valid in seg since *off (invariant 1).  Returns
 * 0 or an exit code. */
static int
advance(struct follower *fw, struct tool_seg *seg, uint64_t *off)
{
  enum tool_header_result hr;
  uint32_t version;
  bool inconsistent;

  tool_file_refresh(&seg->file);
  if (*off == 0) { /* the header is not valid yet */
    hr = tool_header_check(&seg->file, seg->segno, &version);
    if (hr == TOOL_HEADER_BAD_VERSION) {
      tool_warn("%s/%s: format version %" PRIu32 " is not supported (this "
                "tool reads versions %u to %u)", fw->log->path, seg->name,
                version, TOOL_FORMAT_VERSION_MIN,
                TOOL_FORMAT_VERSION_MAX);
      return TOOL_EXIT_VERSION;
    }
    if (hr != TOOL_HEADER_OK)
      return 0;
    seg->version = version;
    tool_replay_segment(&fw->log->replay, seg);
    *off = seg->end = MRLOG_FILE_HEADER_SIZE;
  }
  tool_scan_frames(fw->log, seg, off, &inconsistent);
  if (fflush(stdout) != 0)
    tool_die(TOOL_EXIT_IOERR, "write error on standard output");
  if (inconsistent) {
    tool_warn("%s offset %" PRIu64 ": inconsistent operation in the frame "
              "at offset %" PRIu64 ": %s", seg->name,
              fw->log->replay.problem_off, seg->last_frame,
              fw->log->replay.problem);
    return TOOL_EXIT_CORRUPT;
  }
  return 0;
}

/* Opens every segment numbered above the highest seen so far, as soon as
 * it is listed (invariant 2): the descriptor keeps it readable if the
 * cleaner deletes it before its turn comes. */
static void
open_newer(struct follower *fw)
{
  struct tool_seg *seg;
  uint64_t *v;
  size_t n, i;
  int err;

  if (tool_segment_list(fw->log->dir_fd, &v, &n) != 0)
    return; /* looked at again after the next event */
  for (i = 0; i < n; i++) {
    if (v[i] <= fw->listed)
      continue;
    err = tool_seg_open(fw->log->dir_fd, v[i], &seg);
    if (err == ENOENT) { /* already deleted: a gap, noted when reached */
      tool_seg_free(seg);
      continue;
    }
    if (err != 0)
      tool_die(err == EMFILE || err == ENFILE ? TOOL_EXIT_OSERR
                                              : TOOL_EXIT_IOERR,
               "%s/%s: %s", fw->log->path, seg->name, strerror(err));
    seg->active = true; /* open until read, retained or not */
    tool_log_push(fw->log, seg);
    fw->listed = v[i];
  }
  free(v);
}

/* The index of the next readable segment after fw->cur, or 0 if none. */
static size_t
next_segment(const struct follower *fw)
{
  size_t i;

  for (i = fw->cur + 1; i < fw->log->nsegs; i++)
    if (fw->log->segs[i]->file.fd >= 0)
      return i;
  return 0;
}

/* Leaves the current segment, which is final, for segs[next]. */
static void
move_on(struct follower *fw, size_t next, uint64_t off)
{
  struct tool_seg *cur = fw->log->segs[fw->cur];
  struct tool_seg *seg = fw->log->segs[next];

  if (off > 0 && off < cur->file.size && !tool_zeros_to_end(&cur->file, off))
    tool_warn("%s: %" PRIu64 " bytes after offset %" PRIu64 " are not valid "
              "frames; skipped", cur->name, cur->file.size - off, off);
  if (seg->segno != cur->segno + 1)
    tool_warn("no segment %016" PRIx64 " to %016" PRIx64 " (deleted before "
              "they could be read, or never written): records only they "
              "held are not printed", cur->segno + 1, seg->segno - 1);
  cur->active = false;
  tool_seg_idle(cur);
  if (cur->retained == 0)
    tool_file_close(&cur->file);
  fw->cur = next;
}

/* Waits for an event or the recheck timeout.  Returns true if the
 * directory may have a new segment. */
static bool
wait_change(int ino)
{
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  struct pollfd pfd = { ino, POLLIN, 0 };
  bool dir_changed = false;
  ssize_t n, i;

  if (ino < 0) {
    poll(NULL, 0, FOLLOW_POLL_MS);
    return true;
  }
  if (poll(&pfd, 1, FOLLOW_RECHECK_MS) <= 0)
    return true; /* timeout (or EINTR): look again anyway */
  while ((n = read(ino, buf, sizeof(buf))) > 0) {
    for (i = 0; i < n;) {
      const struct inotify_event *e = (const struct inotify_event *)(buf + i);

      if (e->mask & (IN_CREATE | IN_MOVED_TO | IN_Q_OVERFLOW))
        dir_changed = true;
      i += (ssize_t)(sizeof(*e) + e->len);
    }
  }
  return dir_changed;
}

bool
tool_follow_done(const struct tool_log *log, const struct tool_follow *f)
{
  return f->filter.has_until && log->replay.time_ms >= f->filter.until;
}

int
tool_follow(struct tool_log *log, struct tool_follow *opt)
{
  struct follower fw = { log, opt, true, 0, 0 };
  struct tool_seg *cur;
  uint64_t off;
  bool look = true, found = false;
  size_t i, next;
  int ino, rc = 0;

  for (i = 0; i < log->nsegs; i++) {
    if (log->segs[i]->file.fd >= 0) {
      fw.cur = i;
      found = true;
    }
    fw.listed = log->segs[i]->segno;
  }
  if (!found)
    tool_die(TOOL_EXIT_NOINPUT, "%s: no segment left to follow", log->path);
  cur = log->segs[fw.cur];
  off = cur->end;
  cur->active = true;
  log->replay.hooks = (struct tool_replay_hooks){ appended, created, deleted,
                                                  &fw };
  ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ino >= 0 &&
      inotify_add_watch(ino, log->path, IN_CREATE | IN_MOVED_TO | IN_MODIFY |
                        IN_DELETE | IN_CLOSE_WRITE | IN_ONLYDIR) < 0) {
    close(ino);
    ino = -1;
  }
  if (ino < 0)
    tool_warn("inotify unavailable (%s): polling every %d ms",
              strerror(errno), FOLLOW_POLL_MS);
  while (rc == 0 && opt->budget > 0 && !tool_follow_done(log, opt)) {
    cur = log->segs[fw.cur];
    rc = advance(&fw, cur, &off);
    if (rc != 0 || opt->budget == 0 || tool_follow_done(log, opt))
      break;
    if (look) {
      open_newer(&fw);
      look = false;
    }
    next = next_segment(&fw);
    if (next != 0) {
      rc = advance(&fw, cur, &off); /* cur is final: its last frames */
      if (rc != 0 || opt->budget == 0 || tool_follow_done(log, opt))
        break;
      move_on(&fw, next, off);
      off = 0;
      continue;
    }
    look = wait_change(ino);
  }
  if (ino >= 0)
    close(ino);
  return rc;
}
