/*
 * json.c -- escaping of queue names and payloads for the text and JSON
 * outputs, and two small writers of JSON members.
 *
 * Invariants:
 *  1. Both escapings are lossless and stateless per byte, so a payload can
 *     be escaped in pieces as it is read from its file.
 *  2. JSON strings carry bytes, not text: each byte becomes the character
 *     with the same code point (printable ASCII as is, the others as
 *     \u00XX), so the bytes come back as each character's code point
 *     (Python: s.encode("latin-1"); jq: explode).  The output is ASCII.
 */
#include "tool.h"

#include <inttypes.h>
#include <string.h>

void
tool_json_bytes(FILE *out, const void *data, size_t len)
{
  const uint8_t *p = data;
  size_t i;

  for (i = 0; i < len; i++) {
    uint8_t c = p[i];

    switch (c) {
    case '"': fputs("\\\"", out); break;
    case '\\': fputs("\\\\", out); break;
    case '\n': fputs("\\n", out); break;
    case '\r': fputs("\\r", out); break;
    case '\t': fputs("\\t", out); break;
    default:
      if (c >= 0x20 && c < 0x7f)
        fputc(c, out);
      else
        fprintf(out, "\\u%04x", c);
    }
  }
}

void
tool_json_string(FILE *out, const void *data, size_t len)
{
  fputc('"', out);
  tool_json_bytes(out, data, len);
  fputc('"', out);
}

void
tool_text_bytes(FILE *out, const void *data, size_t len, bool escape_space)
{
  const uint8_t *p = data;
  size_t i;

  for (i = 0; i < len; i++) {
    uint8_t c = p[i];

    switch (c) {
    case '\\': fputs("\\\\", out); break;
    case '\n': fputs("\\n", out); break;
    case '\r': fputs("\\r", out); break;
    case '\t': fputs("\\t", out); break;
    default:
      if (c > 0x20 && c < 0x7f)
        fputc(c, out);
      else if (c == ' ' && !escape_space)
        fputc(c, out);
      else
        fprintf(out, "\\x%02x", c);
    }
  }
}

void
tool_json_u64(FILE *out, const char *key, uint64_t v, bool comma)
{
  fprintf(out, "\"%s\": %" PRIu64 "%s", key, v, comma ? ", " : "");
}

void
tool_json_str(FILE *out, const char *key, const char *s, bool comma)
{
  fprintf(out, "\"%s\": ", key);
  if (s == NULL)
    fputs("null", out);
  else
    tool_json_string(out, s, strlen(s));
  fputs(comma ? ", " : "", out);
}
