/*
 * mirror_none.c -- tool_mirror_run in a build without librabbitmq
 * (configure found none, or --without-amqp): `mrlog mirror` and `mrlog
 * replica` parse their options as in any build (a usage error is still
 * 64), then say why they cannot run and exit 69 (EX_UNAVAILABLE), as
 * mrlog(1) documents.  tools/tools.mk builds this file or mirror_run.c.
 */
#include "tool.h"

int
tool_mirror_run(const struct tool_mirror_opts *o)
{
  (void)o;
  tool_warn("this mrlog was built without librabbitmq (libmrlog_mirror): "
            "rebuild with configure --with-amqp");
  return TOOL_EXIT_UNAVAILABLE;
}
