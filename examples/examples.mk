# examples/examples.mk -- examples built and tested by `make check`;
# included from Makefile.am.
#
#   examples/ingest_server   a TCP ingest server (C, threads); driven by
#                            tests/ingest_test, which checks every reply
#                            against the log afterwards.
#   examples/cpp_example     typical use of the C++ wrapper; run as a test
#                            by tests/cpp_example.sh.
#   examples/uv_poll         poll-mode completions on a libuv loop; built
#                            when configure finds libuv, run as a test by
#                            tests/uv_poll.sh.
#   include/mrlog.hpp        the header-only C++17 wrapper (installed);
#                            tests/cxx_wrapper_test exercises all of it.
# The examples are noinst programs, so a plain `make` builds them too and
# they cannot rot.  See examples/README.md.

include_HEADERS += include/mrlog.hpp

noinst_PROGRAMS += examples/ingest_server examples/cpp_example
check_PROGRAMS += tests/ingest_test tests/cxx_wrapper_test
TESTS += tests/ingest_test tests/cxx_wrapper_test tests/cpp_example.sh
EXTRA_DIST += examples/README.md tests/cpp_example.sh

# -no-install: no libtool wrapper script, so the test starts (and signals)
# the server process itself.
examples_ingest_server_SOURCES = \
	examples/ingest_server.c \
	examples/ingest_conn.h \
	examples/ingest_conn.c \
	examples/ingest_sessions.h \
	examples/ingest_sessions.c \
	examples/ingest_consumer.h \
	examples/ingest_consumer.c \
	examples/ingest_protocol.h \
	examples/ingest_protocol.c
examples_ingest_server_CPPFLAGS = -I$(top_srcdir)/include -D_GNU_SOURCE
examples_ingest_server_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
examples_ingest_server_LDADD = libmrlog.la $(PTHREAD_LIBS)
examples_ingest_server_LDFLAGS = -no-install

# The test starts $(top_builddir)/examples/ingest_server (top_builddir is
# exported by AM_TESTS_ENVIRONMENT); `make check` builds noinst programs
# before it runs TESTS.
tests_ingest_test_SOURCES = \
	tests/ingest_test.h \
	tests/ingest_test.c \
	tests/ingest_clients.c \
	tests/ingest_consume.c \
	tests/ingest_wire.c
tests_ingest_test_CPPFLAGS = -I$(top_srcdir)/include -D_GNU_SOURCE
tests_ingest_test_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
tests_ingest_test_LDADD = libmrlog.la $(PTHREAD_LIBS)
tests_ingest_test_LDFLAGS = -no-install

tests_cxx_wrapper_test_SOURCES = tests/cxx_wrapper_test.cc
tests_cxx_wrapper_test_CPPFLAGS = -I$(top_srcdir)/include
tests_cxx_wrapper_test_CXXFLAGS = -std=c++17 $(AM_CXXFLAGS) $(PTHREAD_CFLAGS)
tests_cxx_wrapper_test_LDADD = libmrlog.la $(PTHREAD_LIBS)

examples_cpp_example_SOURCES = examples/cpp_example.cc
examples_cpp_example_CPPFLAGS = -I$(top_srcdir)/include
examples_cpp_example_CXXFLAGS = -std=c++17 $(AM_CXXFLAGS) $(PTHREAD_CFLAGS)
examples_cpp_example_LDADD = libmrlog.la $(PTHREAD_LIBS)

EXTRA_DIST += tests/uv_poll.sh
if HAVE_LIBUV
noinst_PROGRAMS += examples/uv_poll
TESTS += tests/uv_poll.sh
examples_uv_poll_SOURCES = examples/uv_poll.c
examples_uv_poll_CPPFLAGS = -I$(top_srcdir)/include
examples_uv_poll_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(PTHREAD_CFLAGS)
examples_uv_poll_LDADD = libmrlog.la $(LIBUV_LIBS) $(PTHREAD_LIBS)
endif
