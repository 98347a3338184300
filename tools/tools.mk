# tools/tools.mk -- the mrlog command-line tool; included from Makefile.am.
#
# tools/mrlog is installed with the library (bin_PROGRAMS), with its man
# page, mrlog(1), and its bash completion.  verify and stat read the log
# directory with the tool's own reader of docs/FORMAT.md (borrowing the
# CRC-32C routine and the format constants from the convenience library),
# which cross-checks the library's; dump, tail (with and without
# --follow), salvage, stat and verify open it through the public API,
# read-only (view.c), to show what the library recovers.
# mirror and replica (tools/cmd_mirror.c) run libmrlog_mirror in this
# process: when configure finds librabbitmq (HAVE_AMQP), the mirror's
# sources are compiled into the tool (tools/mirror_run.c drives them), as
# the tool links the library's core statically and linking
# libmrlog_mirror.la would load a second copy of libmrlog, the shared one;
# without it, tools/mirror_none.c makes both commands exit 69.
# `mrlog bench` execs mrlog-bench (bench/bench.mk installs it in
# $(pkglibexecdir)); the build tree's copy is the fallback, so the path of
# this build directory is compiled in.
#
# Tests: tests/tool_test.sh (make check), with tests/tool_fixture, which
# builds logs through the public API (with a fake clock for record times,
# and byte by byte for what the library never writes) and prints the
# library's own view.

bin_PROGRAMS = tools/mrlog
tools_mrlog_SOURCES = \
	tools/tool.h \
	tools/main.c \
	tools/util.c \
	tools/file.c \
	tools/frame.c \
	tools/witness.c \
	tools/segment.c \
	tools/holder.c \
	tools/queues.c \
	tools/consumers.c \
	tools/replay.c \
	tools/scan.c \
	tools/problems.c \
	tools/follow.h \
	tools/follow.c \
	tools/follow_look.c \
	tools/print.c \
	tools/times.c \
	tools/json.c \
	tools/progress.c \
	tools/view.c \
	tools/opts.c \
	tools/cmd_stat.c \
	tools/cmd_dump.c \
	tools/cmd_verify.c \
	tools/cmd_tail.c \
	tools/cmd_salvage.c \
	tools/cmd_bench.c \
	tools/cmd_mirror.c
tools_mrlog_CPPFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/lib \
	-D_GNU_SOURCE \
	-DMRLOG_BENCH_INSTALLED='"$(pkglibexecdir)/mrlog-bench$(EXEEXT)"' \
	-DMRLOG_BENCH_BUILD='"$(abs_top_builddir)/bench/mrlog-bench$(EXEEXT)"'
tools_mrlog_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
tools_mrlog_LDADD = libmrlog_core.la $(CK_LIBS) $(ISAL_LIBS) $(PTHREAD_LIBS)
if HAVE_AMQP
tools_mrlog_SOURCES += \
	tools/mirror_run.c \
	mirror/body.h \
	mirror/body.c \
	mirror/link.h \
	mirror/link.c \
	mirror/mirror.h \
	mirror/mirror.c \
	mirror/ship.c \
	mirror/truncation.c \
	mirror/replica.c
tools_mrlog_CFLAGS += $(AMQP_CFLAGS)
tools_mrlog_LDADD += $(AMQP_LIBS)
else
tools_mrlog_SOURCES += tools/mirror_none.c
endif

man1_MANS = docs/man/mrlog.1

# The test: a shell script driving the tool, and a fixture program that
# uses only include/mrlog.h.
check_PROGRAMS += tests/tool_fixture
tests_tool_fixture_SOURCES = tests/tool_fixture.h tests/tool_fixture.c \
	tests/tool_fixture_times.c tests/tool_fixture_follow.c
tests_tool_fixture_CPPFLAGS = -I$(top_srcdir)/include
tests_tool_fixture_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
tests_tool_fixture_LDADD = libmrlog.la $(PTHREAD_LIBS)

TESTS += tests/tool_test.sh
EXTRA_DIST += tests/tool_test.sh

# Bash completion for the tool (subcommands, options, directories),
# installed where bash-completion loads it on demand, and its test.
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = tools/completion/mrlog
TESTS += tests/completion_test.sh
EXTRA_DIST += tests/completion_test.sh
