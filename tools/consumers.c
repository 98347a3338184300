/*
 * consumers.c -- the named consumers of a queue in the tool's replay
 * (FORMAT.md 7.7, 7.10, 7.11): an array per queue, searched linearly.
 * replay.c checks the rules; this file only keeps the set.
 */
#include "tool.h"

#include <stdlib.h>
#include <string.h>

struct tool_consumer *
tool_consumer_find(const struct tool_queue *q, const char *name, size_t len)
{
  size_t i;

  for (i = 0; i < q->nconsumers; i++)
    if (q->consumers[i].len == len &&
        memcmp(q->consumers[i].name, name, len) == 0)
      return &q->consumers[i];
  return NULL;
}

struct tool_consumer *
tool_consumer_add(struct tool_queue *q, const char *name, size_t len,
                  uint64_t position)
{
  struct tool_consumer *c;

  if (q->nconsumers == q->capconsumers) {
    q->capconsumers = q->capconsumers ? 2 * q->capconsumers : 4;
    q->consumers = tool_xrealloc(q->consumers,
                                 q->capconsumers * sizeof(*q->consumers));
  }
  c = &q->consumers[q->nconsumers++];
  c->name = tool_xmalloc(len + 1);
  memcpy(c->name, name, len);
  c->name[len] = '\0';
  c->len = len;
  c->position = position;
  c->listed = false;
  return c;
}

void
tool_consumer_remove(struct tool_queue *q, struct tool_consumer *c)
{
  free(c->name);
  *c = q->consumers[--q->nconsumers];
}

void
tool_consumers_free(struct tool_queue *q)
{
  while (q->nconsumers > 0)
    tool_consumer_remove(q, &q->consumers[q->nconsumers - 1]);
  free(q->consumers);
  q->consumers = NULL;
  q->capconsumers = 0;
}
