/*
 * error.c -- status names and messages, generated from the one table in
 * mrlog.h (MRLOG_STATUS_MAP) so the enum, the names and the messages can
 * never disagree; and the library's version.
 */
#include "mrlog.h"

const char *
mrlog_strerror(int status)
{
  switch (status) {
#define XX(name, value, msg) \
  case (value):              \
    return (msg);
    MRLOG_STATUS_MAP(XX)
#undef XX
  }
  return "unknown status";
}

const char *
mrlog_err_name(int status)
{
  switch (status) {
#define XX(name, value, msg) \
  case (value):              \
    return #name;
    MRLOG_STATUS_MAP(XX)
#undef XX
  }
  return "UNKNOWN";
}

#define MRLOG_STR_(x) #x
#define MRLOG_STR(x) MRLOG_STR_(x)

unsigned
mrlog_version(void)
{
  return MRLOG_VERSION_NUMBER;
}

const char *
mrlog_version_string(void)
{
  return MRLOG_STR(MRLOG_VERSION_MAJOR) "." MRLOG_STR(
      MRLOG_VERSION_MINOR) "." MRLOG_STR(MRLOG_VERSION_PATCH);
}
