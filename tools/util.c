/*
 * util.c -- the small helpers every command uses: allocation that ends
 * the program on failure, messages prefixed with the command's name, and
 * strict parsing of numeric and format arguments.
 *
 * Invariant: the tool never continues after an allocation fails; it says
 * so and exits with TOOL_EXIT_OSERR (the log is never touched, so there is
 * nothing to undo).
 */
#include "tool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *tool_prog = "mrlog";

static void
out_of_memory(void)
{
  fprintf(stderr, "%s: out of memory\n", tool_prog);
  exit(TOOL_EXIT_OSERR);
}

void *
tool_xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);

  if (p == NULL)
    out_of_memory();
  return p;
}

void *
tool_xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size ? size : 1);

  if (p == NULL)
    out_of_memory();
  return p;
}

void *
tool_xrealloc(void *p, size_t n)
{
  p = realloc(p, n ? n : 1);
  if (p == NULL)
    out_of_memory();
  return p;
}

static void
vwarn(const char *fmt, va_list ap)
{
  fflush(stdout); /* keep the order of stdout and stderr on a terminal */
  fprintf(stderr, "%s: ", tool_prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void
tool_warn(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vwarn(fmt, ap);
  va_end(ap);
}

void
tool_die(int code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vwarn(fmt, ap);
  va_end(ap);
  exit(code);
}

bool
tool_parse_u64(const char *s, uint64_t *out)
{
  unsigned long long v;
  char *end;

  if (s == NULL || *s < '0' || *s > '9')
    return false; /* no sign, no blank, not empty */
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  *out = (uint64_t)v;
  return true;
}

bool
tool_parse_format(const char *s, enum tool_format *out)
{
  if (strcmp(s, "text") == 0)
    *out = TOOL_FORMAT_TEXT;
  else if (strcmp(s, "hex") == 0)
    *out = TOOL_FORMAT_HEX;
  else if (strcmp(s, "json") == 0)
    *out = TOOL_FORMAT_JSON;
  else
    return false;
  return true;
}
