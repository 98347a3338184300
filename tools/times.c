/*
 * times.c -- record times as the tool reads and writes them: the values of
 * --since and --until (unix milliseconds or ISO 8601) and the ISO 8601 UTC
 * form, with milliseconds, of the outputs.
 *
 * Invariants:
 *  1. Calendar arithmetic is done here, on the proleptic Gregorian
 *     calendar in 64-bit integers (days_from_civil, civil_from_days), not
 *     through time_t, struct tm or TZ: results depend on neither the
 *     platform, the locale nor the local zone, and every u64 number of
 *     milliseconds can be printed (years past 9999 get more digits).
 *  2. Parsing is strict: a value is all digits (unix ms) or one of the ISO
 *     forms of mrlog(1), checked field by field (month 1-12, a day that
 *     exists in its month and year, hour 0-23, minute and second 0-59, a
 *     zone of at most 23:59); anything else is refused with the reason,
 *     never guessed.  A time without a zone is UTC.
 *  3. Record times are whole milliseconds >= 0, so a bound T given more
 *     finely is rounded up and one before the epoch becomes 0: for such a
 *     time t, t >= T iff t >= ceil(max(T, 0)), and t < T iff
 *     t < ceil(max(T, 0)).  --since (inclusive) and --until (exclusive)
 *     therefore keep their exact meaning.
 */
#include "tool.h"

#include <inttypes.h>
#include <string.h>

#define MS_PER_DAY INT64_C(86400000)

/* Days from 1970-01-01 to y-m-d (negative before it).  H. Hinnant's
 * algorithm: years are shifted to start in March, so the leap day is the
 * last day of a year, and counted in eras of 400 years (146097 days). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
  int64_t era;
  unsigned yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);                       /* 0 .. 399 */
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0 .. 365 */
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0 .. 146096 */
  return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil, for days >= 0. */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
  int64_t era;
  unsigned doe, yoe, doy, mp;

  z += 719468;
  era = z / 146097;
  doe = (unsigned)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned
days_in_month(int64_t y, unsigned m)
{
  static const unsigned days[12] = { 31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31 };
  bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);

  return m == 2 && leap ? 29 : days[m - 1];
}

void
tool_format_time(char *buf, size_t n, uint64_t ms)
{
  int64_t y;
  unsigned m, d;
  uint64_t in_day = ms % (uint64_t)MS_PER_DAY;

  civil_from_days((int64_t)(ms / (uint64_t)MS_PER_DAY), &y, &m, &d);
  snprintf(buf, n, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", y, m, d,
           (unsigned)(in_day / 3600000), (unsigned)(in_day / 60000 % 60),
           (unsigned)(in_day / 1000 % 60), (unsigned)(in_day % 1000));
}

/* Exactly n decimal digits at *p: their value, and *p moves past them. */
static bool
digits(const char **p, int n, unsigned *out)
{
  unsigned v = 0;
  int i;

  for (i = 0; i < n; i++) {
    if ((*p)[i] < '0' || (*p)[i] > '9')
      return false;
    v = v * 10 + (unsigned)((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return true;
}

/* The character c at *p, which moves past it. */
static bool
expect(const char **p, char c)
{
  if (**p != c)
    return false;
  (*p)++;
  return true;
}

/* Fractional seconds after the separator: 1 to 9 digits, as
 * nanoseconds. */
static bool
fraction(const char **p, uint64_t *ns)
{
  uint64_t v = 0;
  int i;

  for (i = 0; (*p)[i] >= '0' && (*p)[i] <= '9'; i++) {
    if (i == 9)
      return false;
    v = v * 10 + (uint64_t)((*p)[i] - '0');
  }
  if (i == 0)
    return false;
  *p += i;
  for (; i < 9; i++)
    v *= 10;
  *ns = v;
  return true;
}

/* ISO 8601 (invariant 2).  OUT: *ms; *why on failure. */
static bool
parse_iso(const char *s, uint64_t *ms, const char **why)
{
  const char *p = s;
  unsigned year, month, day, hour = 0, min = 0, sec = 0, zh = 0, zm = 0;
  uint64_t ns = 0;
  int64_t t;
  int sign = 0;

  *why = "expected unix milliseconds, YYYY-MM-DD or "
         "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]";
  if (!digits(&p, 4, &year) || !expect(&p, '-') || !digits(&p, 2, &month) ||
      !expect(&p, '-') || !digits(&p, 2, &day))
    return false;
  if (*p != '\0') {
    if (!expect(&p, 'T') || !digits(&p, 2, &hour) || !expect(&p, ':') ||
        !digits(&p, 2, &min) || !expect(&p, ':') || !digits(&p, 2, &sec))
      return false;
    if (*p == '.' || *p == ',') {
      p++;
      if (!fraction(&p, &ns))
        return false;
    }
    if (*p == 'Z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      sign = *p++ == '+' ? 1 : -1;
      if (!digits(&p, 2, &zh) || !expect(&p, ':') || !digits(&p, 2, &zm))
        return false;
    }
    if (*p != '\0')
      return false;
  }
  if (month < 1 || month > 12)
    *why = "month out of range (01 to 12)";
  else if (day < 1 || day > days_in_month(year, month))
    *why = "no such day in that month";
  else if (hour > 23 || min > 59 || sec > 59)
    *why = "time of day out of range (00:00:00 to 23:59:59)";
  else if (zh > 23 || zm > 59)
    *why = "zone offset out of range (at most 23:59)";
  else
    *why = NULL;
  if (*why != NULL)
    return false;
  t = days_from_civil(year, month, day) * MS_PER_DAY +
      (int64_t)(hour * 3600 + min * 60 + sec) * 1000 +
      (int64_t)((ns + 999999) / 1000000) - /* rounded up: invariant 3 */
      sign * (int64_t)(zh * 3600 + zm * 60) * 1000;
  *ms = t > 0 ? (uint64_t)t : 0; /* before the epoch: invariant 3 */
  return true;
}

bool
tool_parse_time(const char *opt, const char *s, uint64_t *ms)
{
  const char *why;
  size_t i;

  for (i = 0; s[i] >= '0' && s[i] <= '9'; i++)
    ;
  if (i > 0 && s[i] == '\0') { /* unix milliseconds */
    if (tool_parse_u64(s, ms))
      return true;
    why = "too large for unix milliseconds";
  } else if (parse_iso(s, ms, &why)) {
    return true;
  }
  tool_warn("%s: not a time: '%s': %s", opt, s, why);
  return false;
}
