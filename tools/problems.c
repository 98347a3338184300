/*
 * problems.c -- what scan.c reports, kept for the JSON outputs and printed
 * one per line for the text ones.
 *
 * Invariant: at most PROBLEMS_MAX are kept (a badly damaged log can yield
 * one per frame); the rest are only counted, and the count is printed.
 */
#include "tool.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PROBLEMS_MAX 1000

const char *
tool_problem_kind_str(enum tool_problem_kind k)
{
  switch (k) {
  case TOOL_PROBLEM_CORRUPT: return "corrupt";
  case TOOL_PROBLEM_TAIL: return "tail";
  case TOOL_PROBLEM_NOTE: return "note";
  }
  return "?";
}

void
tool_problems_collect(void *arg, const struct tool_problem *p)
{
  struct tool_problems *ps = arg;

  if (ps->n == PROBLEMS_MAX) {
    ps->dropped++;
    return;
  }
  if (ps->n == ps->cap) {
    ps->cap = ps->cap ? 2 * ps->cap : 16;
    ps->v = tool_xrealloc(ps->v, ps->cap * sizeof(*ps->v));
  }
  ps->v[ps->n++] = *p;
}

void
tool_problems_free(struct tool_problems *ps)
{
  free(ps->v);
  memset(ps, 0, sizeof(*ps));
}

void
tool_problem_print(FILE *out, const struct tool_problem *p)
{
  fprintf(out, "%s offset %" PRIu64 ": %s%s\n", p->seg->name, p->offset,
          p->kind == TOOL_PROBLEM_NOTE ? "note: " : "", p->message);
}

void
tool_problems_json(FILE *out, const struct tool_problems *ps)
{
  size_t i;

  fputs("  \"problems\": [", out);
  for (i = 0; i < ps->n; i++) {
    const struct tool_problem *p = &ps->v[i];

    fputs(i ? ",\n    {" : "\n    {", out);
    tool_json_str(out, "segment", p->seg->name, true);
    tool_json_u64(out, "offset", p->offset, true);
    tool_json_str(out, "kind", tool_problem_kind_str(p->kind), true);
    tool_json_str(out, "message", p->message, false);
    fputc('}', out);
  }
  fputs(ps->n ? "\n  ],\n" : "],\n", out);
  fprintf(out, "  \"problems_not_listed\": %zu,\n", ps->dropped);
}
