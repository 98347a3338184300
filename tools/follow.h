/*
 * follow.h -- what the two files of `mrlog tail --follow` share: follow.c
 * (the waiting: inotify or polling, signals, one read-only open per look)
 * and follow_look.c (one look: the library's view compared with what the
 * last look saw, the new records printed).
 *
 * Threads: the tool's main thread only.  The view's own flusher thread
 * never runs tool code and never takes the signals (follow.c invariant 6).
 */
#ifndef MRLOG_TOOL_FOLLOW_H
#define MRLOG_TOOL_FOLLOW_H

#include <signal.h>

#include "tool.h"

/* A retained record of the followed queue, remembered to tell its
 * incarnations apart (follow_look.c invariant 2). */
struct tool_anchor {
  uint64_t position;
  uint64_t time_ms;  /* when it was framed (unix ms) */
  uint64_t len;      /* payload bytes */
  uint32_t crc;      /* CRC-32C of the payload */
};

/* What tail knows of the followed queue between two looks.  Memory: this
 * struct only, whatever the size of the queue or of the log. */
struct tool_follower {
  const struct tool_follow *opt;
  uint64_t budget;          /* records left to print (--max) */
  bool present;             /* the queue existed at the last look */
  bool first_incarnation;   /* no deletion seen yet: --from applies */
  uint64_t next;            /* positions below it are done with */
  uint64_t first_seen;      /* its first_position at the last look */
  uint64_t next_seen;       /* its next_position at the last look */
  bool has_anchor;          /* anchor holds a record of this incarnation */
  struct tool_anchor anchor;
};

/* The kinds of look (follow_look.c). */
enum tool_look {
  TOOL_LOOK_ONCE,    /* the first, and the only one: as without --follow */
  TOOL_LOOK_FIRST,   /* the first of many: -n applies */
  TOOL_LOOK_NEXT,    /* a later one: notes on deletion and re-creation */
  TOOL_LOOK_DAMAGED  /* the last one, on a damaged log: new records only */
};

/* The signal (SIGINT, SIGTERM or SIGHUP) that asks tail to stop, or 0;
 * set by follow.c's handler. */
extern volatile sig_atomic_t tool_follow_signal;

/* Lets the signals in (deliver) while a look prints, or blocks them again
 * (follow.c invariant 6). */
void tool_follow_signals(bool deliver);

/* Starts following opt's queue from opt->filter.from. */
void tool_follower_init(struct tool_follower *fw,
                        const struct tool_follow *opt);
/* One look at log, a read-only open of the followed directory: prints the
 * queue's records that pass the filter past those printed, notes a
 * deletion or re-creation on stderr, and remembers what it saw.  Returns
 * -1 to go on following, else an exit code: 0 once --max records are
 * printed or a record of the queue is at or after --until, 1 for TOOL_
 * LOOK_ONCE on a missing queue (after a message), another after a
 * message.  Stops early, returning -1, when tool_follow_signal is set. */
int tool_follow_look(struct tool_follower *fw, mrlog *log,
                     enum tool_look kind);
/* The log directory is gone: the queue is noted as deleted if it was
 * there. */
void tool_follow_gone(struct tool_follower *fw);

#endif /* MRLOG_TOOL_FOLLOW_H */
