/*
 * ingest_protocol.c -- parsing the ingest server's request lines.
 *
 * Invariants:
 *  1. The first word of a line alone decides its kind, so a record's
 *     payload, which always follows "rec ", can never be taken for a
 *     command whatever bytes it holds.
 *  2. Unescaping never lengthens the payload: each escape is two bytes in
 *     and one byte out.  That is what lets it work in place.
 *  3. Nothing here allocates, blocks or keeps state between calls.
 */
#include "ingest_protocol.h"

#include <mrlog.h>

#include <string.h>

/* Does line start with word followed by one space?  Returns the bytes
 * after the space, or NULL. */
static char *
after_word(char *line, size_t len, const char *word)
{
  size_t n = strlen(word);

  if (len <= n || memcmp(line, word, n) != 0 || line[n] != ' ')
    return NULL;
  return line + n + 1;
}

static int
valid_id(const char *id, size_t len)
{
  size_t i;

  if (len == 0 || len > INGEST_ID_MAX)
    return 0;
  for (i = 0; i < len; i++) {
    char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

/* Decimal digits only, no sign, no spaces, at most MRLOG_POSITION_MAX. */
static int
parse_position(const char *s, size_t len, uint64_t *out)
{
  uint64_t value = 0;
  size_t i;

  if (len == 0)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned digit;
    if (s[i] < '0' || s[i] > '9')
      return 0;
    digit = (unsigned)(s[i] - '0');
    if (value > (MRLOG_POSITION_MAX - digit) / 10)
      return 0;
    value = value * 10 + digit;
  }
  *out = value;
  return 1;
}

/* "\n" stands for a newline byte and "\\" for a backslash; any other
 * backslash sequence is malformed.  Returns the unescaped length, or -1. */
static long
unescape_in_place(char *s, size_t len)
{
  size_t in = 0, out = 0;

  while (in < len) {
    char c = s[in++];
    if (c == '\\') {
      if (in == len)
        return -1;
      c = s[in++];
      if (c == 'n')
        c = '\n';
      else if (c != '\\')
        return -1;
    }
    s[out++] = c;
  }
  return (long)out;
}

enum ingest_line_kind
ingest_parse_line(char *line, size_t len, struct ingest_line *out)
{
  char *arg;
  size_t arg_len;
  long payload_len;

  memset(out, 0, sizeof(*out));
  out->kind = INGEST_LINE_BAD;

  if ((len == 7 && memcmp(line, "METRICS", 7) == 0) ||
      (len == 7 && memcmp(line, "metrics", 7) == 0)) {
    out->kind = INGEST_LINE_METRICS;
  } else if (len == 8 && memcmp(line, "consumed", 8) == 0) {
    out->kind = INGEST_LINE_CONSUMED;
  } else if ((arg = after_word(line, len, "rec")) != NULL) {
    arg_len = len - (size_t)(arg - line);
    payload_len = unescape_in_place(arg, arg_len);
    if (payload_len < 0)
      return out->kind;
    out->arg = arg;
    out->arg_len = (size_t)payload_len;
    out->kind = INGEST_LINE_REC;
  } else if ((arg = after_word(line, len, "ack")) != NULL) {
    arg_len = len - (size_t)(arg - line);
    if (parse_position(arg, arg_len, &out->position))
      out->kind = INGEST_LINE_ACK;
  } else if ((arg = after_word(line, len, "hello")) != NULL) {
    arg_len = len - (size_t)(arg - line);
    if (valid_id(arg, arg_len)) {
      arg[arg_len] = '\0';
      out->arg = arg;
      out->arg_len = arg_len;
      out->kind = INGEST_LINE_HELLO;
    }
  }
  return out->kind;
}

const char *
ingest_status_name(int status)
{
  return status == INGEST_EPROTOCOL ? "PROTOCOL" : mrlog_err_name(status);
}
