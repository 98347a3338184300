/*
 * error.c -- status names and messages, generated from the one table in
 * mrlog.h (MRLOG_STATUS_MAP) so the enum, the names and the messages can
 * never disagree.
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
